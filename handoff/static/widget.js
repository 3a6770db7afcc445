/*
 * Customer chat widget of the handoff hub (API: docs/hub-api.md, "Customer side").
 *
 * Embed:  <script src="https://hub.example.com/widget.js" data-language="auto" defer></script>
 *         data-language: "de" | "en" | "auto" (browser language, the default)
 * Theme:  support-widget { --support-widget-accent: #0b6e4f; }   (optional, on the host page)
 * API:    window.SupportWidget.open() / window.SupportWidget.close()
 *
 * The widget lives in an open shadow root, so the page's CSS and the widget's CSS cannot affect each other.
 * All data is rendered as text (textContent / text nodes), never as HTML.
 */
(() => {
  "use strict";

  const script = document.currentScript; // only available now, before any async code runs
  if (!script || window.SupportWidget) return;

  // The hub serves widget.js next to widget.css and /api/v1: its directory is the hub's base URL.
  const BASE = new URL(".", script.src).href.replace(/\/+$/, "");
  const API = `${BASE}/api/v1`;
  const STORAGE_KEY = `support-widget:${BASE}`;
  const CUSTOMER_KEY = `support-widget-customer:${BASE}`;
  const OPEN_KEY = `support-widget-open:${BASE}`;

  const MAX_LENGTH = 2000;
  const COUNTER_FROM = 1800;
  const MAX_INPUT_ROWS = 6;
  const POLL_MS = 3000;
  const RECONNECT_MAX_MS = 30000;
  const SOCKET_STABLE_MS = 10000; // a socket open this long resets the reconnect backoff
  const SAID_BY_THE_RATING_FORM = ["rating_request", "rating_saved"];
  const ANSWER_WINDOW_MS = 3000; // messages arriving this soon after the first one belong to the same answer
  const BACK_TO_BOT = "/back_to_bot"; // the hub's "back to the assistant" button (handoff/tickets.py)
  const TYPING_THROTTLE_MS = 2000;
  const TYPING_IDLE_MS = 3000;
  const REMOTE_TYPING_TIMEOUT_MS = 10000;
  const NEAR_BOTTOM_PX = 80;
  const SENDERS = ["customer", "bot", "agent", "system"];
  const SUBTITLES = { bot: "subtitleBot", queued: "subtitleQueued", agent: "subtitleAgent", closed: "subtitleClosed" };
  const STAR_KEYS = { ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1 };
  const FULL_SCREEN = window.matchMedia("(max-width: 480px)"); // same breakpoint as widget.css

  const STRINGS = {
    en: {
      panelLabel: "Support chat",
      conversationLabel: "Conversation",
      launcherOpen: "Open support chat",
      launcherClose: "Close support chat",
      launcherUnreadOne: "Open support chat, 1 new message",
      launcherUnreadMany: "Open support chat, {count} new messages",
      closeChat: "Close chat",
      title: "Customer support",
      subtitleBot: "Our assistant replies right away",
      subtitleQueued: "Connecting you with our team",
      subtitleAgent: "Support team",
      subtitleClosed: "Conversation ended",
      subtitleEscalated: "Passed on to our specialists",
      welcome: "Hi! Describe the problem with your camera, phone or notebook.",
      conversationLabel: "Conversation",
      assistant: "Assistant",
      agentFallback: "Support",
      youSaid: "You: ",
      sending: "Sending…",
      choicesLabel: "Suggested replies",
      typing: "{name} is typing…",
      inputLabel: "Your message",
      placeholder: "Write a message…",
      send: "Send message",
      charsLeft: "{count} characters left",
      queueWaiting: "You're in the queue — someone from our team will be with you as soon as possible.",
      queuePositionWait: "You're number {position} in the queue — estimated wait about {wait}",
      waitMinutes: "{minutes} min",
      waitHours: "{hours} h",
      waitHoursMinutes: "{hours} h {minutes} min",
      queuePositionSoon: "You're number {position} in the queue — estimated wait less than a minute",
      queuePosition: "You're number {position} in the queue",
      noAgents: "Right now no one from our team is available. Your request stays in the queue.",
      closedHours: "We're outside our service hours, so no one is available right now. Your request stays in the queue.",
      closedHoursUntil: "We're outside our service hours and back on {when}. Your request stays in the queue.",
      emailLabel: "Leave your e-mail and we'll reply",
      emailSubmit: "Send",
      emailInvalid: "Please enter a valid e-mail address.",
      emailSaved: "Replies by e-mail to {email}",
      emailSavedGeneric: "Replies by e-mail",
      ratingTitle: "How did we do?",
      ratingStars: "Your rating",
      starLabel: "{n} of 5 stars",
      ratingComment: "Comment (optional)",
      ratingSubmit: "Send rating",
      ratingMissing: "Please choose 1 to 5 stars.",
      ratingThanks: "Thank you for your feedback!",
      ended: "This conversation has ended.",
      endedEscalated: "This chat has ended; your case goes on by e-mail.",
      newConversation: "Start a new conversation",
      retry: "Retry",
      offline: "Connection lost. Reconnecting…",
      errorStart: "The chat could not be started.",
      errorLoad: "Your conversation could not be loaded.",
      errorSend: "Your message could not be sent.",
      errorEmail: "Your e-mail address could not be saved.",
      errorRating: "Your rating could not be sent.",
      errorExpired: "This conversation is no longer available. You can start a new one right here.",
      hintNetwork: "Please check your internet connection and try again.",
      hintServer: "Our service is temporarily unavailable. Please try again in a moment.",
      hintRetry: "Please try again.",
      tooLong: "Your message is too long (at most {max} characters).",
      tooMany: "You're sending messages too quickly. Please wait a moment.",
      tooManyWait: "You're sending messages too quickly. Please wait {seconds} s.",
    },
    de: {
      panelLabel: "Support-Chat",
      conversationLabel: "Unterhaltung",
      launcherOpen: "Support-Chat öffnen",
      launcherClose: "Support-Chat schließen",
      launcherUnreadOne: "Support-Chat öffnen, 1 neue Nachricht",
      launcherUnreadMany: "Support-Chat öffnen, {count} neue Nachrichten",
      closeChat: "Chat schließen",
      title: "Kundenservice",
      subtitleBot: "Unser Assistent antwortet sofort",
      subtitleQueued: "Wir verbinden Sie mit unserem Team",
      subtitleAgent: "Support-Team",
      subtitleClosed: "Gespräch beendet",
      subtitleEscalated: "An unsere Fachleute übergeben",
      welcome: "Hallo! Beschreiben Sie das Problem mit Ihrer Kamera, Ihrem Handy oder Notebook.",
      conversationLabel: "Gesprächsverlauf",
      assistant: "Assistent",
      agentFallback: "Support",
      youSaid: "Sie: ",
      sending: "Wird gesendet …",
      choicesLabel: "Antwortvorschläge",
      typing: "{name} schreibt …",
      inputLabel: "Ihre Nachricht",
      placeholder: "Nachricht schreiben …",
      send: "Nachricht senden",
      charsLeft: "Noch {count} Zeichen",
      queueWaiting: "Sie sind in der Warteschlange – jemand aus unserem Team meldet sich so bald wie möglich.",
      queuePositionWait: "Sie sind Nummer {position} in der Warteschlange – geschätzte Wartezeit etwa {wait}",
      waitMinutes: "{minutes} Min.",
      waitHours: "{hours} Std.",
      waitHoursMinutes: "{hours} Std. {minutes} Min.",
      queuePositionSoon: "Sie sind Nummer {position} in der Warteschlange – geschätzte Wartezeit unter einer Minute",
      queuePosition: "Sie sind Nummer {position} in der Warteschlange",
      noAgents: "Gerade ist leider niemand aus unserem Team erreichbar. Ihre Anfrage bleibt in der Warteschlange.",
      closedHours: "Wir sind gerade außerhalb unserer Servicezeiten, deshalb ist niemand erreichbar. Ihre Anfrage bleibt in der Warteschlange.",
      closedHoursUntil: "Wir sind gerade außerhalb unserer Servicezeiten und ab {when} Uhr wieder da. Ihre Anfrage bleibt in der Warteschlange.",
      emailLabel: "Hinterlassen Sie Ihre E-Mail-Adresse, dann antworten wir Ihnen",
      emailSubmit: "Senden",
      emailInvalid: "Bitte geben Sie eine gültige E-Mail-Adresse ein.",
      emailSaved: "Antwort per E-Mail an {email}",
      emailSavedGeneric: "Antwort per E-Mail",
      ratingTitle: "Wie zufrieden waren Sie mit unserer Hilfe?",
      ratingStars: "Ihre Bewertung",
      starLabel: "{n} von 5 Sternen",
      ratingComment: "Kommentar (optional)",
      ratingSubmit: "Bewertung senden",
      ratingMissing: "Bitte wählen Sie 1 bis 5 Sterne.",
      ratingThanks: "Vielen Dank für Ihre Bewertung!",
      ended: "Dieses Gespräch ist beendet.",
      endedEscalated: "Dieser Chat ist beendet; Ihr Fall geht per E-Mail weiter.",
      newConversation: "Neues Gespräch beginnen",
      retry: "Erneut versuchen",
      offline: "Verbindung unterbrochen. Neuer Versuch läuft …",
      errorStart: "Der Chat konnte nicht gestartet werden.",
      errorLoad: "Ihr Gespräch konnte nicht geladen werden.",
      errorSend: "Ihre Nachricht konnte nicht gesendet werden.",
      errorEmail: "Ihre E-Mail-Adresse konnte nicht gespeichert werden.",
      errorRating: "Ihre Bewertung konnte nicht gesendet werden.",
      errorExpired: "Dieses Gespräch ist nicht mehr verfügbar. Sie können hier direkt ein neues beginnen.",
      hintNetwork: "Bitte prüfen Sie Ihre Internetverbindung und versuchen Sie es erneut.",
      hintServer: "Unser Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.",
      hintRetry: "Bitte versuchen Sie es erneut.",
      tooLong: "Ihre Nachricht ist zu lang (höchstens {max} Zeichen).",
      tooMany: "Sie senden gerade sehr viele Nachrichten. Bitte warten Sie einen Moment.",
      tooManyWait: "Sie senden gerade sehr viele Nachrichten. Bitte warten Sie {seconds} s.",
    },
  };

  const ICONS = {
    chat: "M6 3h12a3 3 0 0 1 3 3v9a3 3 0 0 1-3 3h-6.5L6 22v-4a3 3 0 0 1-3-3V6a3 3 0 0 1 3-3z",
    close: "M6 6l12 12M18 6L6 18",
    send: "M3.4 20.4l17.45-7.48a1 1 0 0 0 0-1.84L3.4 3.6a1 1 0 0 0-1.39.91L2 9.12c0 .5.37.93.87.99L17 12 2.87 13.88c-.5.07-.87.5-.87 1l.01 4.61c0 .71.73 1.2 1.39.91z",
    star: "M12 2.8l2.84 5.75 6.35.92-4.6 4.48 1.09 6.32L12 17.28l-5.68 2.99 1.09-6.32-4.6-4.48 6.35-.92z",
  };

  function pickLanguage(wanted) {
    const value = (wanted || "auto").toLowerCase();
    if (STRINGS[value]) return value;
    return (navigator.language || "").toLowerCase().startsWith("de") ? "de" : "en";
  }

  const configuredLanguage = pickLanguage(script.dataset.language);

  // ------------------------------------------------------------------ state

  let linkFollowed = false; // the page was opened from an e-mail's link
  const state = {
    lang: configuredLanguage,
    conv: conversationFromLink() || loadStoredConversation(), // {id, token} of the current conversation, or null
    ready: false, // the conversation exists and its history is shown
    status: null, // "bot" | "queued" | "agent" | "closed"
    queue: null,
    agent: null,
    lastAgentName: "",
    rated: false,
    ratedHere: false, // rated in this page view: show the thanks
    ratingRequested: false,
    escalated: false, // handed to third level, who answer by e-mail: the e-mail form stays offered
    email: null,
    emailSaved: false,
    lastId: 0,
    open: false,
    unread: 0,
    waitingReplies: 0, // POSTs in flight that the bot answers
    remoteTyping: false,
    remoteTypingSender: "bot",
  };
  const rendered = new Map(); // message id -> element
  const pending = new Map(); // client_id -> {clientId, el, texts}: optimistic customer messages
  let ui = null;
  let openOnMount = linkFollowed;
  let setup = null; // the running restore/create, shared by everyone who needs the conversation
  let failedDraft = null; // {text, clientId} of the last text that could not be sent (same id on retry)
  let errorAction = null;
  let errorTimer = null;
  let ratingScore = 0;
  let firstArrival = null; // {el, at}: the first message of the bot's answer arriving (see afterMessagesChanged)
  let anchoredTop = null; // the scroll position afterMessagesChanged left at the start of an answer

  // ------------------------------------------------------------------ helpers

  function t(key, vars = {}) {
    const template = STRINGS[state.lang][key] ?? STRINGS.en[key] ?? key;
    return template.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  }

  /** Creates an element; `text` sets textContent, other keys are attributes, children are nodes or strings. */
  function h(tag, attrs = {}, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === "text") el.textContent = value;
      else el.setAttribute(name, value === true ? "" : String(value));
    }
    el.append(...children.filter((child) => child !== null && child !== undefined));
    return el;
  }

  function icon(name) {
    const svgNs = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(svgNs, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    svg.setAttribute("class", `icon icon--${name}`);
    const path = document.createElementNS(svgNs, "path");
    path.setAttribute("d", ICONS[name]);
    svg.append(path);
    return svg;
  }

  // Static texts are bound to i18n keys so they follow the conversation's language once it is known.
  const bindings = [];

  function tr(el, key, attr = null, vars = {}) {
    const binding = { el, key, attr, vars };
    bindings.push(binding);
    applyBinding(binding);
    return el;
  }

  function applyBinding({ el, key, attr, vars }) {
    if (attr) el.setAttribute(attr, t(key, vars));
    else el.textContent = t(key, vars);
  }

  function setLanguage(lang) {
    if (!STRINGS[lang] || lang === state.lang) return;
    state.lang = lang;
    ui.root.lang = lang;
    bindings.forEach(applyBinding);
  }

  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text; // unchanged text is not re-announced
  }

  function newClientId() {
    if (crypto.randomUUID) return crypto.randomUUID(); // secure contexts only
    return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  const timeFormats = {};

  function formatTime(iso) {
    const date = new Date(iso);
    if (!iso || Number.isNaN(date.getTime())) return null;
    timeFormats[state.lang] ||= new Intl.DateTimeFormat(state.lang, { hour: "numeric", minute: "2-digit" });
    return h("time", { class: "msg-time", datetime: date.toISOString(), text: timeFormats[state.lang].format(date) });
  }

  function agentDisplayName() {
    return (state.agent && state.agent.display_name) || state.lastAgentName || t("agentFallback");
  }

  // ------------------------------------------------------------------ storage

  /** The link in a reply e-mail (#support-chat=<id>~<key>) opens that conversation here, and the chat at once.
   * Only the hub's signed, expiring link keys (three dot-separated parts) count: a conversation's own token in
   * such a link would let anyone who made a conversation put a visitor into it and read what they write. */
  function conversationFromLink() {
    const match = /(?:^#|&)support-chat=([0-9a-f]{32})~(\.?[\w-]+\.[\w-]+\.[\w-]+)(?:&|$)/.exec(window.location.hash);
    if (!match) return null;
    const conv = { id: match[1], token: match[2] };
    storeConversation(conv);
    linkFollowed = true;
    try {
      window.history.replaceState(null, "", window.location.pathname + window.location.search); // the key stays private
    } catch {
      /* sandboxed page: the link stays in the address bar */
    }
    return conv;
  }

  function loadStoredConversation() {
    try {
      const saved = JSON.parse(localStorage.getItem(STORAGE_KEY) || "null");
      return saved && saved.id != null && typeof saved.token === "string" ? { id: saved.id, token: saved.token } : null;
    } catch {
      return null; // storage disabled or corrupt: start fresh
    }
  }

  function storeConversation(conv) {
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(conv));
    } catch {
      /* storage disabled: the conversation lasts as long as the page */
    }
  }

  /** A random key for this browser's customer, so that agents see their earlier conversations (none if no storage). */
  function customerKey() {
    try {
      let key = localStorage.getItem(CUSTOMER_KEY);
      if (!key || !/^[A-Za-z0-9_-]{16,64}$/.test(key)) {
        const bytes = crypto.getRandomValues(new Uint8Array(18));
        key = btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_");
        localStorage.setItem(CUSTOMER_KEY, key);
      }
      return key;
    } catch {
      return null;
    }
  }

  function forgetConversation() {
    state.conv = null;
    try {
      localStorage.removeItem(STORAGE_KEY);
    } catch {
      /* storage disabled */
    }
  }

  // ------------------------------------------------------------------ HTTP

  class ApiError extends Error {
    constructor(status, code = "", message = "", retryAfter = 0) {
      super(message || code || `HTTP ${status}`);
      this.status = status; // 0: no answer (network)
      this.retryAfter = retryAfter;
    }
  }

  async function api(method, path, { conv = null, body } = {}) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (conv) headers.Authorization = `Bearer ${conv.token}`;
    let response;
    try {
      response = await fetch(API + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
        credentials: "omit", // the customer is identified by the token only
      });
    } catch {
      throw new ApiError(0);
    }
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const error = (data && data.error) || {};
      const retryAfter = Number(response.headers.get("Retry-After")) || 0;
      throw new ApiError(response.status, error.code, error.message, retryAfter);
    }
    return data || {};
  }

  function conversationPath(conv, suffix = "") {
    return `/conversations/${encodeURIComponent(conv.id)}${suffix}`;
  }

  function isGone(err) {
    return err.status === 401 || err.status === 404;
  }

  function describeError(err, key) {
    // the customer's language, not the server's English message
    if (err.status === 413) return t("tooLong", { max: MAX_LENGTH });
    if (err.status === 429) return err.retryAfter > 0 ? t("tooManyWait", { seconds: err.retryAfter }) : t("tooMany");
    const hint = err.status === 0 ? "hintNetwork" : err.status >= 500 ? "hintServer" : "hintRetry";
    return `${t(key)} ${t(hint)}`;
  }

  // ------------------------------------------------------------------ conversation lifecycle

  /** Resolves once the conversation exists and its history is shown; with create=false it only restores. */
  async function ensureConversation({ create = true } = {}) {
    while (!state.ready && (state.conv || create)) {
      setup ||= (state.conv ? restoreConversation() : createConversation()).finally(() => {
        setup = null;
      });
      await setup;
    }
  }

  /** Makes sure the conversation exists, showing a retryable error if it cannot. */
  function prepareConversation() {
    ensureConversation().catch((err) =>
      showError(describeError(err, state.conv ? "errorLoad" : "errorStart"), prepareConversation, err.retryAfter),
    );
  }

  async function createConversation() {
    const body = { language: configuredLanguage };
    const customer = customerKey();
    if (customer) body.customer = customer;
    const data = await api("POST", "/conversations", { body });
    state.conv = { id: data.id, token: data.token };
    storeConversation(state.conv);
    applyInfo(data);
    becomeReady();
  }

  async function restoreConversation() {
    const conv = state.conv;
    try {
      const info = await api("GET", conversationPath(conv), { conv });
      const page = await api("GET", conversationPath(conv, "/messages"), { conv });
      if (conv !== state.conv) return;
      applyInfo(info);
      (page.messages || []).forEach((message) => addMessage(message));
      applyInfo(page);
      becomeReady();
    } catch (err) {
      if (!isGone(err)) throw err;
      if (conv === state.conv) forgetConversation(); // unknown or expired: start fresh
    }
  }

  function becomeReady() {
    state.ready = true;
    render();
    scrollToBottom();
    connectSocket();
  }

  /** Applies the conversation fields of any API answer or state event. */
  function applyInfo(info) {
    if (!info || typeof info !== "object") return;
    if (typeof info.language === "string") setLanguage(info.language);
    if (typeof info.state === "string") state.status = info.state;
    if ("queue" in info) state.queue = info.queue || null;
    if ("agent" in info) state.agent = info.agent || null;
    if ("rated" in info) state.rated = Boolean(info.rated);
    if ("email" in info) {
      state.email = info.email || null;
      state.emailSaved = Boolean(info.email);
    }
    if (state.status !== "agent") stopTypingSignal();
  }

  /** Drops the current conversation and everything shown of it; the next one starts in the configured language. */
  function resetConversation() {
    closeSocket();
    stopTypingSignal();
    forgetConversation();
    rendered.forEach((el) => el.remove());
    rendered.clear();
    pending.forEach((entry) => entry.el.remove());
    pending.clear();
    Object.assign(state, {
      ready: false, status: null, queue: null, agent: null, lastAgentName: "", rated: false, ratedHere: false,
      ratingRequested: false, escalated: false, email: null, emailSaved: false, lastId: 0, waitingReplies: 0, remoteTyping: false,
    });
    setLanguage(configuredLanguage);
    resetForms();
    clearError();
    setOffline(false);
    render();
  }

  function startNewConversation() {
    resetConversation();
    ui.input.focus();
    prepareConversation();
  }

  function conversationLost() {
    resetConversation();
    showError(t("errorExpired"));
    if (state.open) prepareConversation();
  }

  // ------------------------------------------------------------------ messages

  function isNearBottom() {
    const s = ui.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    ui.scroller.scrollTop = ui.scroller.scrollHeight;
  }

  /** Adds a stored message once (deduplicated by id); `entry` is the optimistic element it replaces. */
  function addMessage(msg, { live = false, entry = null, arriving = live } = {}) {
    if (!msg || !Number.isFinite(msg.id)) return;
    state.lastId = Math.max(state.lastId, msg.id);
    if (rendered.has(msg.id)) {
      if (entry) discardPending(entry); // another channel delivered it first
      return;
    }
    const match = msg.sender === "customer" ? (entry && pending.has(entry.clientId) ? entry : findPending(msg)) : null;
    const el = match ? adoptPending(match, msg) : createMessageElement(msg);
    placeStored(el, msg.id);
    rendered.set(msg.id, el);
    noteMessage(msg, live);
    if (arriving && msg.sender === "bot") {
      const now = Date.now(); // an answer's messages come one by one (socket) or together (reply)
      if (!(firstArrival && now - firstArrival.at < ANSWER_WINDOW_MS)) firstArrival = { el, at: now };
    } else if (arriving && msg.sender !== "customer") {
      firstArrival = null; // a notice or a person's message: the newest is what counts
    }
  }

  /** After new messages: to the bottom if the customer was there, but never past the start of the bot's answer
   * that just arrived (a long troubleshooting step is read from its first line, not its last). */
  function afterMessagesChanged(stickToBottom) {
    render();
    if (!stickToBottom) return;
    scrollToBottom();
    const first = firstArrival && Date.now() - firstArrival.at < ANSWER_WINDOW_MS ? firstArrival.el : null;
    if (first && first.isConnected) {
      const above = first.getBoundingClientRect().top - ui.scroller.getBoundingClientRect().top - 8;
      if (above < 0) ui.scroller.scrollTop += above;
      anchoredTop = ui.scroller.scrollTop;
    }
  }

  /** Whether new messages should be scrolled to: the customer is at the bottom, or still where the start of the
   * last answer put them (they did not scroll up to read something else, so a person's message must show). */
  function isFollowing() {
    return isNearBottom() || (anchoredTop !== null && Math.abs(ui.scroller.scrollTop - anchoredTop) < 2);
  }

  /** Keeps stored messages ordered by id, before the optimistic ones. */
  function placeStored(el, id) {
    let before = null;
    for (const child of ui.log.children) {
      if (child === el) continue;
      if (child.dataset.pending === "true" || (child.dataset.id && Number(child.dataset.id) > id)) {
        before = child;
        break;
      }
    }
    if (el.parentNode !== ui.log || el.nextElementSibling !== before) ui.log.insertBefore(el, before);
  }

  function noteMessage(msg, live) {
    const kind = msg.meta && msg.meta.kind;
    if (kind === "rating_request") state.ratingRequested = true;
    if (kind === "rating_saved") state.rated = true;
    if (kind === "email_saved") state.emailSaved = true;
    if (kind === "escalated") state.escalated = true;
    if (msg.sender === "agent" && msg.meta && msg.meta.agent) state.lastAgentName = msg.meta.agent.display_name || "";
    if (msg.sender === "bot" || msg.sender === "agent") state.remoteTyping = false;
    if (live && !state.open && msg.sender !== "customer") state.unread += 1;
  }

  function messageShell(sender, id) {
    return h("div", { class: `msg msg--${sender}`, "data-testid": "message", "data-sender": sender, "data-id": id });
  }

  function createMessageElement(msg) {
    const sender = SENDERS.includes(msg.sender) ? msg.sender : "system";
    const text = msg.text ?? "";
    if (sender === "customer") return customerElement(text, msg);
    const el = messageShell(sender, msg.id);
    if (sender === "system") {
      el.dataset.kind = (msg.meta && msg.meta.kind) || "";
      el.append(h("p", { class: "notice", text }));
      // the rating form below asks, and thanks, itself: its notices are for the transcript and e-mails
      if (SAID_BY_THE_RATING_FORM.includes(el.dataset.kind)) el.hidden = true;
    } else {
      el.append(messageLabel(msg, sender), h("div", { class: "bubble", text }));
    }
    // Bot and system messages may offer buttons (e.g. "talk to a person" when the bot is unavailable).
    if (Array.isArray(msg.buttons) && msg.buttons.length) el.append(choiceGroup(msg.buttons));
    return el;
  }

  /** A customer bubble: stored when `msg` is given, otherwise optimistic ("Sending…"). */
  function customerElement(text, msg = null) {
    const el = messageShell("customer", msg ? msg.id : undefined);
    el.append(
      tr(h("span", { class: "sr-only" }), "youSaid"),
      h("div", { class: "bubble", text }),
      h("div", { class: "msg-meta" }, msg ? formatTime(msg.created_at) : t("sending")),
    );
    if (!msg) {
      el.dataset.pending = "true";
      el.classList.add("is-pending");
    }
    return el;
  }

  function messageLabel(msg, sender) {
    // "Assistant" follows the widget's language (the first answer may switch it); a person's name stays
    const person = (msg.meta && msg.meta.agent && msg.meta.agent.display_name) || agentDisplayName();
    const name =
      sender === "bot"
        ? tr(h("span", { class: "msg-name" }), "assistant")
        : h("span", { class: "msg-name", text: person });
    // (a step's number is in its text: "Step 2 of 5: ...")
    return h("div", { class: "msg-label" }, name, formatTime(msg.created_at));
  }

  function choiceGroup(buttons) {
    const group = tr(h("div", { class: "choices", role: "group" }), "choicesLabel", "aria-label");
    for (const button of buttons) {
      const title = button.title || button.payload;
      const el = h("button", { type: "button", class: "choice", "data-testid": "choice", text: title });
      el.dataset.payload = button.payload;
      // the bot's rating buttons are stars alone: read "3 of 5 stars", not "black star" three times
      if (/^★{1,5}$/.test(title)) tr(el, "starLabel", "aria-label", { n: title.length });
      el.addEventListener("click", () => chooseButton(el, title, button.payload));
      group.append(el);
    }
    return group;
  }

  function chooseButton(el, title, payload) {
    const byKeyboard = el.matches(":focus-visible");
    el.classList.add("is-chosen");
    sendMessage({ payload, title }).then((sent) => {
      if (!sent) el.classList.remove("is-chosen");
    });
    if (byKeyboard) ui.input.focus(); // the buttons are now disabled; keep keyboard users in the composer
  }

  /** Only the newest message's buttons can be used; and while the customer waits, the newest "back to the
   * assistant", however much was written since (the hub accepts it at any time in the queue). */
  function refreshChoices() {
    const last = ui.log.lastElementChild;
    const closed = state.status === "closed";
    const leaving = state.status === "queued" ? ui.log.querySelectorAll(`.choice[data-payload="${BACK_TO_BOT}"]`) : [];
    const leave = leaving[leaving.length - 1];
    for (const button of ui.log.querySelectorAll(".choice")) {
      button.disabled = closed || !(last.contains(button) || button === leave);
    }
  }

  function addPending(text, texts, clientId) {
    const entry = { clientId, el: customerElement(text), texts };
    pending.set(clientId, entry);
    ui.log.append(entry.el);
    refreshChoices();
    scrollToBottom();
    return entry;
  }

  /** The stored copy of an optimistic message may come by socket or poll before the POST answers (same text). */
  function findPending(msg) {
    for (const entry of pending.values()) {
      if (entry.texts.includes(msg.text)) return entry;
    }
    return null;
  }

  function adoptPending(entry, msg) {
    pending.delete(entry.clientId);
    const el = entry.el;
    el.dataset.id = String(msg.id);
    delete el.dataset.pending;
    el.classList.remove("is-pending");
    setText(el.querySelector(".bubble"), msg.text ?? "");
    el.querySelector(".msg-meta").replaceChildren(...[formatTime(msg.created_at)].filter(Boolean));
    return el;
  }

  function discardPending(entry) {
    if (!pending.delete(entry.clientId)) return;
    entry.el.remove();
    refreshChoices();
  }

  // ------------------------------------------------------------------ sending

  function submitComposer() {
    const text = ui.input.value.trim();
    if (!text) return;
    const clientId = failedDraft && failedDraft.text === text ? failedDraft.clientId : newClientId();
    failedDraft = null;
    ui.input.value = "";
    renderComposerControls();
    sendMessage({ text, clientId });
  }

  /** Sends {text} or {payload} (a button, shown as its title); resolves to whether it was stored. */
  async function sendMessage({ text, payload, title, clientId = newClientId() }) {
    clearError();
    stopTypingSignal();
    const isText = text !== undefined;
    const entry = addPending(isText ? text : title, isText ? [text] : [title, payload], clientId);
    firstArrival = null; // what comes now answers this message, however soon after the last answer
    const expectsBot = !state.status || state.status === "bot";
    if (expectsBot) state.waitingReplies += 1;
    renderTyping();
    try {
      await ensureConversation();
      const conv = state.conv;
      const body = isText ? { text, client_id: clientId } : { payload, client_id: clientId };
      const result = await api("POST", conversationPath(conv, "/messages"), { conv, body });
      if (conv !== state.conv) return true;
      const stick = isFollowing();
      addMessage(result.customer_message, { entry });
      (result.messages || []).forEach((message) => addMessage(message, { arriving: true }));
      discardPending(entry); // only if the answer carried no customer_message
      applyInfo(result);
      afterMessagesChanged(stick);
      return true;
    } catch (err) {
      // The socket or a poll may already have shown it as stored (the answer got lost): then it was sent.
      if (!pending.has(entry.clientId) && !isGone(err)) return true;
      discardPending(entry);
      handleSendError(err, { text, payload, title, clientId });
      return false;
    } finally {
      if (expectsBot && state.waitingReplies > 0) state.waitingReplies -= 1;
      renderTyping();
    }
  }

  function handleSendError(err, draft) {
    const isText = draft.text !== undefined;
    if (isText) {
      restoreDraft(draft.text);
      failedDraft = { text: draft.text, clientId: draft.clientId };
    }
    const retry = isText ? submitComposer : () => sendMessage(draft);
    if (isGone(err)) {
      resetConversation();
      showError(t("errorExpired"), retry);
    } else {
      showError(describeError(err, "errorSend"), retry, err.retryAfter);
    }
  }

  /** Puts unsent text back into the input without losing what the customer typed meanwhile. */
  function restoreDraft(text) {
    const current = ui.input.value;
    if (!current.trim()) ui.input.value = text;
    else if (!current.startsWith(text)) ui.input.value = `${text}\n${current}`;
    renderComposerControls();
  }

  // ------------------------------------------------------------------ live updates

  let socket = null;
  let reconnectTimer = null;
  let reconnectAttempts = 0;
  let pollTimer = null;
  let pollInFlight = false;

  function socketUrl(conv) {
    const url = new URL(API + conversationPath(conv, "/ws"));
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("token", conv.token);
    return url.href;
  }

  function connectSocket() {
    const conv = state.conv;
    if (!conv || socket || reconnectTimer) return;
    startPolling(); // until the socket is open
    let ws;
    try {
      ws = new WebSocket(socketUrl(conv));
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    let openedAt = 0;
    ws.addEventListener("open", () => {
      if (socket !== ws) return;
      openedAt = Date.now();
      stopPolling();
      setOffline(false);
      fetchNewMessages(); // fill the gap while the socket was down
    });
    ws.addEventListener("message", (event) => {
      if (socket === ws) handleSocketEvent(event.data);
    });
    ws.addEventListener("close", () => {
      if (socket !== ws) return;
      socket = null;
      // A server that accepts and then drops the socket at once must not be hammered.
      if (openedAt && Date.now() - openedAt >= SOCKET_STABLE_MS) reconnectAttempts = 0;
      startPolling();
      scheduleReconnect();
    });
  }

  /** 1 s, 2 s, 4 s … up to 30 s, each ±20 % so many widgets do not reconnect in lockstep. */
  function scheduleReconnect() {
    const ceiling = Math.min(RECONNECT_MAX_MS, 1000 * 2 ** reconnectAttempts);
    reconnectAttempts += 1;
    const delay = Math.min(RECONNECT_MAX_MS, ceiling * (0.8 + Math.random() * 0.4));
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connectSocket();
    }, delay);
  }

  function closeSocket() {
    clearTimeout(reconnectTimer);
    reconnectTimer = null;
    reconnectAttempts = 0;
    stopPolling();
    const ws = socket;
    socket = null; // its close handler now ignores it
    if (ws) ws.close();
  }

  function sendOnSocket(event) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(event));
  }

  function handleSocketEvent(raw) {
    let event;
    try {
      event = JSON.parse(raw);
    } catch {
      return;
    }
    if (!event || typeof event !== "object") return;
    if (event.type === "message") {
      const stick = isFollowing();
      addMessage(event.message, { live: true });
      afterMessagesChanged(stick);
    } else if (event.type === "state") {
      applyInfo(event);
      render();
    } else if (event.type === "typing" && event.sender !== "customer") {
      setRemoteTyping(Boolean(event.typing), event.sender);
    }
  }

  function startPolling() {
    pollTimer ||= setInterval(fetchNewMessages, POLL_MS);
  }

  function stopPolling() {
    clearInterval(pollTimer);
    pollTimer = null;
  }

  async function fetchNewMessages() {
    const conv = state.conv;
    if (!conv || !state.ready || pollInFlight) return;
    pollInFlight = true;
    try {
      const query = state.lastId ? `?after=${state.lastId}` : "";
      const page = await api("GET", conversationPath(conv, `/messages${query}`), { conv });
      if (conv !== state.conv) return;
      const stick = isFollowing();
      (page.messages || []).forEach((message) => addMessage(message, { live: true }));
      applyInfo(page);
      setOffline(false);
      afterMessagesChanged(stick);
    } catch (err) {
      if (conv !== state.conv) return;
      if (isGone(err)) conversationLost();
      else if (err.status === 0) setOffline(true);
    } finally {
      pollInFlight = false;
    }
  }

  // Typing signals to the agent: at most one "true" per 2 s, "false" after 3 s without input.
  let typingActive = false;
  let typingSentAt = 0;
  let typingIdleTimer = null;

  function signalTyping() {
    if (state.status !== "agent" || !ui.input.value) return;
    const now = Date.now();
    if (!typingActive || now - typingSentAt >= TYPING_THROTTLE_MS) {
      sendOnSocket({ type: "typing", typing: true });
      typingActive = true;
      typingSentAt = now;
    }
    clearTimeout(typingIdleTimer);
    typingIdleTimer = setTimeout(stopTypingSignal, TYPING_IDLE_MS);
  }

  function stopTypingSignal() {
    clearTimeout(typingIdleTimer);
    typingIdleTimer = null;
    if (!typingActive) return;
    typingActive = false;
    if (state.status === "agent") sendOnSocket({ type: "typing", typing: false });
  }

  let remoteTypingTimer = null;

  function setRemoteTyping(typing, sender) {
    state.remoteTyping = typing;
    state.remoteTypingSender = sender;
    clearTimeout(remoteTypingTimer);
    if (typing) remoteTypingTimer = setTimeout(() => setRemoteTyping(false, sender), REMOTE_TYPING_TIMEOUT_MS);
    renderTyping();
  }

  // ------------------------------------------------------------------ e-mail and rating

  function showFieldError(errorEl, message, field = null) {
    errorEl.textContent = message;
    errorEl.hidden = false;
    if (field) field.setAttribute("aria-invalid", "true");
  }

  function hideFieldError(errorEl, field = null) {
    errorEl.hidden = true;
    errorEl.textContent = "";
    if (field) field.removeAttribute("aria-invalid");
  }

  async function submitEmail(event) {
    event.preventDefault();
    const field = ui.emailInput;
    const email = field.value.trim();
    if (!email || !field.checkValidity()) {
      showFieldError(ui.emailError, t("emailInvalid"), field);
      field.focus();
      return;
    }
    const conv = state.conv;
    if (!conv) return;
    hideFieldError(ui.emailError, field);
    ui.emailSubmit.disabled = true;
    try {
      const result = await api("POST", conversationPath(conv, "/contact"), { conv, body: { email } });
      if (conv !== state.conv) return;
      state.email = result.email || email;
      state.emailSaved = true;
      render();
      ui.emailDone.focus(); // the form is gone: keep focus on its confirmation
    } catch (err) {
      showFieldError(ui.emailError, err.status === 400 ? t("emailInvalid") : describeError(err, "errorEmail"), field);
    } finally {
      ui.emailSubmit.disabled = false;
    }
  }

  function selectScore(score) {
    ratingScore = score;
    ui.stars.forEach((star, index) => {
      star.setAttribute("aria-pressed", String(index + 1 === score));
      star.tabIndex = index + 1 === (score || 1) ? 0 : -1; // one tab stop; arrows move inside the group
    });
    paintStars(score);
    if (score) hideFieldError(ui.ratingError);
  }

  function paintStars(upTo) {
    ui.stars.forEach((star, index) => star.classList.toggle("is-lit", index < upTo));
  }

  function onStarKeydown(event, score) {
    let next = null;
    if (event.key in STAR_KEYS) next = Math.min(5, Math.max(1, score + STAR_KEYS[event.key]));
    else if (event.key === "Home") next = 1;
    else if (event.key === "End") next = 5;
    if (next === null) return;
    event.preventDefault();
    selectScore(next);
    ui.stars[next - 1].focus();
  }

  async function submitRating(event) {
    event.preventDefault();
    if (!ratingScore) {
      showFieldError(ui.ratingError, t("ratingMissing"));
      ui.stars[0].focus();
      return;
    }
    const conv = state.conv;
    if (!conv) return;
    const comment = ui.ratingComment.value.trim();
    const body = comment ? { score: ratingScore, comment } : { score: ratingScore };
    hideFieldError(ui.ratingError);
    ui.ratingSubmit.disabled = true;
    try {
      await api("POST", conversationPath(conv, "/rating"), { conv, body });
      markRated(conv);
    } catch (err) {
      if (err.status === 409) markRated(conv); // already rated (e.g. in another tab)
      else showFieldError(ui.ratingError, describeError(err, "errorRating"));
    } finally {
      ui.ratingSubmit.disabled = false;
    }
  }

  function markRated(conv) {
    if (conv !== state.conv) return;
    state.rated = true;
    state.ratedHere = true;
    render();
    ui.ratingThanks.focus(); // the form is gone: keep focus on the thanks
  }

  function resetForms() {
    ui.emailForm.reset();
    hideFieldError(ui.emailError, ui.emailInput);
    ui.ratingForm.reset();
    hideFieldError(ui.ratingError);
    selectScore(0);
  }

  // ------------------------------------------------------------------ errors and status line

  function showError(message, retry = null, retryAfterS = 0) {
    clearError();
    errorAction = retry;
    ui.errorText.textContent = message;
    ui.retryButton.hidden = !retry;
    ui.errorBox.hidden = false;
    if (retry && retryAfterS > 0) {
      ui.retryButton.disabled = true; // 429: retrying before Retry-After is pointless
      errorTimer = setTimeout(() => (ui.retryButton.disabled = false), retryAfterS * 1000);
    }
  }

  function clearError() {
    clearTimeout(errorTimer);
    errorAction = null;
    ui.errorBox.hidden = true;
    ui.errorText.textContent = "";
    ui.retryButton.disabled = false;
  }

  function retryFailedAction() {
    const action = errorAction;
    clearError();
    if (!ui.composer.hidden) ui.input.focus();
    if (action) action();
  }

  function setOffline(offline) {
    ui.offline.hidden = !offline;
  }

  // ------------------------------------------------------------------ rendering

  function render() {
    const atBottom = isNearBottom(); // a banner or form that appears must not hide the newest messages
    renderLauncher();
    renderHeader();
    renderQueue();
    renderFooter();
    renderRating();
    renderTyping();
    renderComposerControls();
    refreshChoices();
    if (atBottom) scrollToBottom();
  }

  function renderLauncher() {
    const { open, unread } = state;
    let label = t("launcherOpen");
    if (open) label = t("launcherClose");
    else if (unread === 1) label = t("launcherUnreadOne");
    else if (unread > 1) label = t("launcherUnreadMany", { count: unread });
    ui.launcher.setAttribute("aria-label", label);
    ui.launcher.setAttribute("aria-expanded", String(open));
    ui.badge.hidden = open || unread === 0;
    setText(ui.badge, unread > 9 ? "9+" : String(unread));
    ui.root.classList.toggle("is-open", open);
  }

  function renderHeader() {
    const name = state.status === "agent" ? agentDisplayName() : "";
    ui.titleText.hidden = Boolean(name);
    ui.agentName.hidden = !name;
    setText(ui.agentName, name);
    ui.agentName.title = name || "";
    ui.avatar.classList.toggle("avatar--agent", Boolean(name));
    setText(ui.avatarInitial, name ? Array.from(name.trim())[0].toUpperCase() : "");
    const escalated = state.status === "closed" && state.escalated;
    setText(ui.subtitle, t(escalated ? "subtitleEscalated" : SUBTITLES[state.status] || "subtitleBot"));
  }

  function queueSentence(queue) {
    if (!queue || !Number.isFinite(queue.position)) return t("queueWaiting");
    const { position, estimated_wait_s: waitS } = queue;
    if (waitS === null || waitS === undefined) return t("queuePosition", { position });
    if (waitS < 60) return t("queuePositionSoon", { position });
    return t("queuePositionWait", { position, wait: waitText(waitS) });
  }

  /** "25 min"; from an hour on to the quarter hour ("1 h 30 min", not "94 min": an estimate, not a promise). */
  function waitText(seconds) {
    const minutes = Math.round(seconds / 60);
    if (minutes < 60) return t("waitMinutes", { minutes });
    const quarters = Math.round(minutes / 15);
    const hours = Math.floor(quarters / 4);
    const rest = (quarters % 4) * 15;
    return rest ? t("waitHoursMinutes", { hours, minutes: rest }) : t("waitHours", { hours });
  }

  function renderQueue() {
    const queued = state.status === "queued";
    const escalated = state.status === "closed" && state.escalated; // third level answers by e-mail
    ui.queue.hidden = !queued && !escalated;
    if (ui.queue.hidden) return;
    ui.queueText.hidden = !queued;
    if (escalated) {
      ui.queueNotice.hidden = true;
      renderEmailForm(true);
      return;
    }
    const queue = state.queue;
    const closedHours = Boolean(queue) && queue.open === false;
    const unavailable = closedHours || (Boolean(queue) && queue.agents_online === 0);
    setText(ui.queueText, queueSentence(queue));
    ui.queue.classList.toggle("queue--unavailable", unavailable);
    ui.queueNotice.hidden = !unavailable;
    setText(ui.queueNotice, unavailable ? unavailableText(queue, closedHours) : "");
    renderEmailForm(true); // a customer who cannot wait leaves an address, whether or not someone is online
  }

  /** Why nobody answers now; outside service hours, when they are back (weekday and time, in the customer's
   * own time zone). */
  function unavailableText(queue, closedHours) {
    if (!closedHours) return t("noAgents");
    const opens = queue.opens_at ? new Date(queue.opens_at) : null;
    if (!opens || Number.isNaN(opens.getTime())) return t("closedHours");
    const when = new Intl.DateTimeFormat(state.lang, { weekday: "long", hour: "2-digit", minute: "2-digit" }).format(opens);
    return t("closedHoursUntil", { when });
  }

  function renderEmailForm(offered) {
    ui.emailForm.hidden = !offered || state.emailSaved;
    ui.emailDone.hidden = !state.emailSaved;
    setText(ui.emailDone, state.email ? t("emailSaved", { email: state.email }) : t("emailSavedGeneric"));
  }

  function renderFooter() {
    const closed = state.status === "closed";
    const hadFocus = ui.composer.contains(ui.shadow.activeElement);
    ui.composer.hidden = closed;
    ui.ended.hidden = !closed;
    ui.endedText.hidden = state.escalated; // the case is not over: third level answers by e-mail
    ui.endedEscalated.hidden = !state.escalated;
    if (closed && hadFocus) ui.newConversation.focus();
  }

  function renderRating() {
    // an escalated case is not over yet: no "how did we do?" while third level still works on it
    const showForm = !state.rated && !state.escalated && (state.status === "closed" || state.ratingRequested);
    const showThanks = state.rated && state.ratedHere;
    const appears = showForm && ui.ratingForm.hidden;
    const stick = appears && isNearBottom();
    ui.ratingForm.hidden = !showForm;
    ui.ratingThanks.hidden = !showThanks;
    ui.rating.hidden = !showForm && !showThanks;
    if (stick) scrollToBottom();
  }

  function renderTyping() {
    const visible = state.waitingReplies > 0 || state.remoteTyping;
    const name = state.remoteTyping && state.remoteTypingSender === "agent" ? agentDisplayName() : t("assistant");
    setText(ui.typingLabel, t("typing", { name }));
    if (ui.typing.hidden !== visible) return;
    const stick = isNearBottom(); // (not isFollowing: the indicator leaving must not undo an answer's anchoring)
    ui.typing.hidden = !visible;
    if (stick) scrollToBottom();
  }

  function renderComposerControls() {
    const { value } = ui.input;
    ui.send.disabled = !value.trim();
    const showCounter = value.length >= COUNTER_FROM;
    ui.counter.hidden = !showCounter;
    setText(ui.counter, showCounter ? t("charsLeft", { count: Math.max(0, MAX_LENGTH - value.length) }) : "");
    ui.counter.classList.toggle("counter--limit", value.length >= MAX_LENGTH);
    autoGrow();
  }

  /** Grows the input with its content up to MAX_INPUT_ROWS (via rows, as inline styles are not used). */
  function autoGrow() {
    const input = ui.input;
    input.rows = 1;
    const style = getComputedStyle(input);
    const lineHeight = parseFloat(style.lineHeight) || 20;
    const padding = (parseFloat(style.paddingTop) || 0) + (parseFloat(style.paddingBottom) || 0);
    const lines = Math.round((input.scrollHeight - padding) / lineHeight);
    input.rows = Math.min(MAX_INPUT_ROWS, Math.max(1, lines));
  }

  // ------------------------------------------------------------------ open / close

  function openPanel() {
    if (state.open) return;
    state.open = true;
    rememberOpen(true);
    state.unread = 0;
    ui.panel.hidden = false;
    render();
    scrollToBottom();
    (ui.composer.hidden ? ui.closeButton : ui.input).focus({ preventScroll: true });
    prepareConversation();
  }

  /** Full screen (phones) the panel covers the page: Tab cycles inside it instead of reaching hidden content. */
  function keepFocusInside(event) {
    if (event.key !== "Tab" || !FULL_SCREEN.matches) return;
    const focusable = Array.from(ui.panel.querySelectorAll("button, input, textarea, [tabindex]"))
      .filter((el) => el.tabIndex >= 0 && !el.disabled && el.getClientRects().length > 0);
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const active = ui.shadow.activeElement;
    if (event.shiftKey && active === first) last.focus();
    else if (!event.shiftKey && active === last) first.focus();
    else return;
    event.preventDefault();
  }

  /** An open chat stays open across a reload or the next page of the shop (this tab only). */
  function rememberOpen(open) {
    try {
      if (open) sessionStorage.setItem(OPEN_KEY, "1");
      else sessionStorage.removeItem(OPEN_KEY);
    } catch {
      // storage blocked: the panel just starts closed
    }
  }

  function wasOpen() {
    try {
      return sessionStorage.getItem(OPEN_KEY) === "1";
    } catch {
      return false;
    }
  }

  function closePanel(returnFocus) {
    if (!state.open) return;
    state.open = false;
    rememberOpen(false);
    ui.panel.hidden = true;
    stopTypingSignal();
    render();
    if (returnFocus) ui.launcher.focus();
  }

  // ------------------------------------------------------------------ DOM

  function buildUi() {
    const host = document.createElement("support-widget");
    const shadow = host.attachShadow({ mode: "open" });
    const root = h("div", { class: "sw", lang: state.lang, hidden: true }); // shown once its CSS has loaded
    const stylesheet = h("link", { rel: "stylesheet", href: `${BASE}/widget.css` });
    stylesheet.addEventListener("load", () => (root.hidden = false));
    stylesheet.addEventListener("error", () => console.error("support widget: cannot load", stylesheet.href));

    const badge = h("span", { class: "launcher-badge", "aria-hidden": "true", hidden: true });
    const launcher = h("button", {
      type: "button", class: "launcher", "data-testid": "launcher", "aria-controls": "sw-panel", "aria-expanded": "false",
    }, icon("chat"), icon("close"), badge);

    // Header: assistant or agent identity.
    const avatarInitial = h("span", { class: "avatar-initial" });
    const avatar = h("div", { class: "avatar", "aria-hidden": "true" }, icon("chat"), avatarInitial);
    const titleText = tr(h("span"), "title");
    const agentName = h("span", { class: "agent-name", "data-testid": "agent-name", hidden: true });
    const subtitle = h("p", { class: "subtitle" });
    const closeButton = tr(h("button", { type: "button", class: "icon-button" }, icon("close")), "closeChat", "aria-label");
    const header = h("header", { class: "header" }, avatar,
      h("div", { class: "header-text" }, h("h2", { class: "title" }, titleText, agentName), subtitle), closeButton);

    // Queue banner with the e-mail fallback.
    const queueText = h("p", { class: "queue-text" });
    const queueNotice = h("p", { class: "queue-notice", hidden: true });
    const emailInput = h("input", {
      id: "sw-email", class: "field", type: "email", name: "email", required: true, autocomplete: "email",
      maxlength: 254, "aria-describedby": "sw-email-error",
    });
    const emailError = h("p", { id: "sw-email-error", class: "form-error", role: "alert", hidden: true });
    const emailSubmit = tr(h("button", { type: "submit", class: "button" }), "emailSubmit");
    const emailForm = h("form", { class: "email-form", "data-testid": "email-form", novalidate: true, hidden: true },
      tr(h("label", { for: "sw-email", class: "field-label" }), "emailLabel"),
      h("div", { class: "field-row" }, emailInput, emailSubmit), emailError);
    const emailDone = h("p", { class: "queue-done", tabindex: "-1", hidden: true });
    const queue = h("div", { class: "queue", "data-testid": "queue", "aria-live": "polite", hidden: true },
      queueText, queueNotice, emailForm, emailDone);

    const offline = tr(h("p", { class: "offline", role: "status", hidden: true }), "offline");

    // Message log: the local welcome (not a stored message), then the stored and optimistic messages.
    const welcome = h("div", { class: "msg msg--bot msg--welcome", "data-testid": "welcome" },
      h("div", { class: "msg-label" }, tr(h("span", { class: "msg-name" }), "assistant")),
      tr(h("div", { class: "bubble" }), "welcome"));
    const log = tr(h("div", { class: "log", role: "log", "aria-live": "polite", "data-testid": "messages" }, welcome),
      "conversationLabel", "aria-label");
    const typingLabel = h("span", { class: "sr-only" });
    const typing = h("div", { class: "typing", "data-testid": "typing", hidden: true }, typingLabel,
      h("span", { class: "typing-bubble", "aria-hidden": "true" },
        h("span", { class: "dot" }), h("span", { class: "dot" }), h("span", { class: "dot" })));

    // Rating card.
    const stars = [1, 2, 3, 4, 5].map((score) => tr(h("button", {
      type: "button", class: "star", "data-testid": "star", "data-score": score, "aria-pressed": "false",
      tabindex: score === 1 ? "0" : "-1",
    }, icon("star")), "starLabel", "aria-label", { n: score }));
    const starGroup = tr(h("div", { class: "stars", role: "group" }, ...stars), "ratingStars", "aria-label");
    const ratingComment = h("textarea", { id: "sw-rating-comment", class: "field field--area", rows: 2, maxlength: MAX_LENGTH });
    const ratingError = h("p", { class: "form-error", role: "alert", hidden: true });
    const ratingSubmit = tr(h("button", { type: "submit", class: "button", "data-testid": "rating-submit" }), "ratingSubmit");
    const ratingForm = h("form", { class: "rating-form", novalidate: true, "aria-labelledby": "sw-rating-title", hidden: true },
      tr(h("h3", { id: "sw-rating-title", class: "rating-title" }), "ratingTitle"), starGroup,
      tr(h("label", { for: "sw-rating-comment", class: "field-label" }), "ratingComment"), ratingComment,
      ratingError, ratingSubmit);
    const ratingThanks = tr(h("p", { class: "rating-thanks", tabindex: "-1", "data-testid": "rating-thanks", hidden: true }),
      "ratingThanks");
    const rating = h("section", { class: "rating", "data-testid": "rating", hidden: true }, ratingForm, ratingThanks);

    // focusable, so that keyboard users can scroll back through the conversation with the arrow keys
    const scroller = tr(h("div", { class: "scroller", role: "region", tabindex: "0" }, log, typing, rating),
      "conversationLabel", "aria-label");

    // Footer: error line, end of conversation, composer.
    const errorText = h("p", { class: "error-text" });
    const retryButton = tr(h("button", { type: "button", class: "link-button", "data-testid": "retry" }), "retry");
    const errorBox = h("div", { class: "error", role: "alert", "data-testid": "error", hidden: true }, errorText, retryButton);
    const newConversation = tr(h("button", { type: "button", class: "button", "data-testid": "new-conversation" }),
      "newConversation");
    const endedText = tr(h("p", { class: "ended-text" }), "ended");
    const endedEscalated = tr(h("p", { class: "ended-text", hidden: true }), "endedEscalated");
    const ended = h("div", { class: "ended", hidden: true, "data-testid": "ended" }, endedText, endedEscalated,
      newConversation);
    const input = tr(h("textarea", {
      id: "sw-input", class: "input", rows: 1, maxlength: MAX_LENGTH, "data-testid": "input",
      "aria-describedby": "sw-counter", enterkeyhint: "send",
    }), "placeholder", "placeholder");
    const send = tr(h("button", { type: "submit", class: "send", "data-testid": "send", disabled: true }, icon("send")),
      "send", "aria-label");
    const counter = h("span", { id: "sw-counter", class: "counter", hidden: true });
    const composer = h("form", { class: "composer" },
      tr(h("label", { for: "sw-input", class: "sr-only" }), "inputLabel"), input, send, counter);
    const footer = h("footer", { class: "footer" }, errorBox, ended, composer);

    const panel = tr(h("section", { id: "sw-panel", class: "panel", role: "dialog", "data-testid": "panel", hidden: true },
      header, queue, offline, scroller, footer), "panelLabel", "aria-label");

    root.append(panel, launcher);
    shadow.append(stylesheet, root);
    document.body.append(host);

    return {
      shadow, root, launcher, badge, panel, avatar, avatarInitial, titleText, agentName, subtitle, closeButton,
      queue, queueText, queueNotice, emailForm, emailInput, emailSubmit, emailError, emailDone, offline, scroller, log,
      typing, typingLabel, rating, ratingForm, starGroup, stars, ratingComment, ratingError, ratingSubmit, ratingThanks,
      errorBox, errorText, retryButton, ended, endedText, endedEscalated, newConversation, composer, input, send,
      counter,
    };
  }

  function wireEvents() {
    ui.launcher.addEventListener("click", () => (state.open ? closePanel(true) : openPanel()));
    ui.closeButton.addEventListener("click", () => closePanel(true));
    ui.panel.addEventListener("keydown", keepFocusInside);
    ui.root.addEventListener("keydown", (event) => {
      if (event.key !== "Escape" || event.isComposing || !state.open) return;
      event.preventDefault();
      closePanel(true);
    });
    ui.composer.addEventListener("submit", (event) => {
      event.preventDefault();
      submitComposer();
    });
    ui.input.addEventListener("keydown", (event) => {
      if (event.key !== "Enter" || event.shiftKey || event.isComposing) return;
      event.preventDefault(); // Enter sends, Shift+Enter adds a line break
      submitComposer();
    });
    ui.input.addEventListener("input", () => {
      renderComposerControls();
      signalTyping();
    });
    ui.retryButton.addEventListener("click", retryFailedAction);
    ui.newConversation.addEventListener("click", startNewConversation);
    ui.emailForm.addEventListener("submit", submitEmail);
    ui.ratingForm.addEventListener("submit", submitRating);
    ui.stars.forEach((star, index) => {
      star.addEventListener("click", () => selectScore(index + 1));
      star.addEventListener("keydown", (event) => onStarKeydown(event, index + 1));
      star.addEventListener("pointerenter", () => paintStars(index + 1));
    });
    ui.starGroup.addEventListener("pointerleave", () => paintStars(ratingScore));
  }

  function mount() {
    ui = buildUi();
    wireEvents();
    render();
    // A stored conversation is restored at once (history, unread badge); failures are retried and shown on open.
    if (state.conv) ensureConversation({ create: false }).catch(() => {});
    if (openOnMount || wasOpen()) openPanel();
  }

  window.SupportWidget = Object.freeze({
    open() {
      if (ui) openPanel();
      else openOnMount = true;
    },
    close() {
      if (ui) closePanel(ui.panel.contains(ui.shadow.activeElement));
      else openOnMount = false;
    },
  });

  if (document.body) mount();
  else document.addEventListener("DOMContentLoaded", mount, { once: true });
})();
