// Agent console of the handoff hub. API contract: docs/hub-api.md ("Agent side").
//
// Layout of this file: constants, state, DOM helpers, formatting, API client, notifications,
// sign-in, header, queue, chats, conversation, context panel, knowledge base, dialogs and actions,
// admin view, WebSocket, wiring.
//
// Security: every piece of data reaches the DOM through el()/text nodes/setAttribute only;
// this file never assigns HTML strings.

import { $, apiClient, el, HANDOFF_REASONS as REASONS, reasonLabel, toast } from "/common.js";

const API = "/api/v1/agent";
const APP_NAME = "Support console";
const PING_INTERVAL_MS = 25_000;
const ACK_TIMEOUT_MS = 10_000;
const TYPING_RESEND_MS = 3_000; // re-send typing:true at most this often while typing
const TYPING_IDLE_MS = 4_000; // typing:false after this long without input
const REMOTE_TYPING_MS = 8_000; // hide "customer is typing" if no typing:false arrives
const MAX_BACKOFF_S = 30;
const LOW_CONFIDENCE = 0.6;

const PRIORITIES = {
  urgent: { label: "Urgent", rank: 0 },
  high: { label: "High", rank: 1 },
  normal: { label: "Normal", rank: 2 },
  low: { label: "Low", rank: 3 },
};


const CATEGORIES = { phone: "Phone", camera: "Camera", notebook: "Notebook" };
const LANGUAGES = { de: "German", en: "English" };
const SENDERS = { customer: "Customer", bot: "Bot", agent: "Agent", system: "System" };

const STATUSES = {
  queued: "Waiting in the queue",
  assigned: "Assigned",
  resolved: "Resolved",
  escalated: "Escalated",
  returned: "Returned to the bot",
  withdrawn: "Customer went back to the bot",
  abandoned: "Closed: the customer had left",
  transferred: "Transferred to another agent", // only in chat_closed events
};

const ESCALATION_GROUPS = [
  ["repair", "Repair centre"],
  ["engineering", "Engineering"],
  ["warranty", "Warranty & returns"],
];

// Line icons, 24×24, stroked with currentColor. Static path data, never from the server.
const ICONS = {
  phone: ["M8 2.5h8a2 2 0 0 1 2 2v15a2 2 0 0 1-2 2H8a2 2 0 0 1-2-2v-15a2 2 0 0 1 2-2z", "M11 18.5h2"],
  camera: [
    "M3.5 8.5a2 2 0 0 1 2-2h2l1.5-2h6l1.5 2h2a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-13a2 2 0 0 1-2-2z",
    "M12 9.5a3.5 3.5 0 1 0 0 7 3.5 3.5 0 0 0 0-7z",
  ],
  notebook: ["M5 5h14a1 1 0 0 1 1 1v10H4V6a1 1 0 0 1 1-1z", "M2 19h20"],
  device: [
    "M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18z",
    "M9.5 9.5a2.5 2.5 0 1 1 3.4 2.3c-.6.3-.9.8-.9 1.4v.6",
    "M12 17h.01",
  ],
  check: ["M5 12.5l4.5 4.5L19 7.5"],
  cross: ["M6.5 6.5l11 11M17.5 6.5l-11 11"],
  clock: ["M12 3.5a8.5 8.5 0 1 0 0 17a8.5 8.5 0 1 0 0-17z", "M12 7.5V12l3 2"],
  lock: ["M7.5 11V8a4.5 4.5 0 0 1 9 0v3", "M5.5 11h13v9.5h-13z"],
  mail: ["M3.5 6h17v12h-17z", "M3.5 7l8.5 6 8.5-6"],
};

// ---------------------------------------------------------------------------------------------
// State: the one place that holds what the page knows. Ticket maps are keyed by String(id).

const ROLE_NAMES = { agent: "Agent", editor: "Editor", admin: "Admin" };

const state = {
  agent: null, // Agent object of the signed-in agent
  csrf: null,
  view: "inbox", // "inbox" | "agents"
  queue: new Map(), // id -> TicketSummary (queued tickets)
  chats: new Map(), // id -> TicketSummary (my open chats)
  unread: new Map(), // id -> number of unseen customer messages
  lastText: new Map(), // id -> text of the latest customer message (chat row preview)
  drafts: new Map(), // id -> unsent composer text, kept while switching chats
  customerTyping: new Map(), // id -> timeout handle while the customer types
  claiming: new Set(), // ids with a claim request in flight
  closing: new Set(), // ids with a resolve/escalate/transfer/return request in flight
  openId: null, // id of the conversation shown in the middle
  detail: null, // TicketDetail of openId
  seenMessageIds: new Set(), // message ids rendered in the open transcript
  pending: new Map(), // client_id -> {clientId, ticketId, text, node, timer}
  agents: [], // last GET /agents answer (admin view, transfer dialog)
  suggestions: [], // Suggestion objects: my resolutions marked for the knowledge base, newest first
  closed: [], // TicketSummary objects: the last chats I closed, newest first
  clockSkewMs: 0, // server clock minus client clock, estimated from wait_s
  ws: null,
  wsAttempt: 0,
  wsRetryTimer: null,
  pingTimer: null,
  myTyping: null, // {ticketId, sentAt, timer} while the agent types
  kbTimer: null, // debounce of the knowledge-base search box
  kbRequest: 0, // number of the latest search; older answers are dropped
  dialogSubmit: null, // confirm handler of the open dialog
  dialogOpener: null, // element that gets focus back when the dialog closes
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

function icon(name, label) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("class", `icon icon--${name}`);
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  for (const d of ICONS[name]) {
    const path = document.createElementNS(ns, "path");
    path.setAttribute("d", d);
    svg.append(path);
  }
  return svg;
}

function show(node, visible) {
  node.hidden = !visible;
}

/** Replace a ticket list's rows without losing keyboard focus on the row (or its button) that had it. */
function replaceRows(list, rows) {
  const active = document.activeElement;
  const row = list.contains(active) ? active.closest("[data-ticket-id]") : null;
  list.replaceChildren(...rows);
  if (!row) return;
  const again = list.querySelector(`[data-ticket-id="${CSS.escape(row.dataset.ticketId)}"]`);
  if (!again) return;
  const testid = active.dataset.testid;
  const target =
    again.dataset.testid === testid
      ? again
      : (testid && again.querySelector(`[data-testid="${testid}"]`)) || again.querySelector("button");
  target?.focus();
}

// ---------------------------------------------------------------------------------------------
// Formatting

const key = (id) => String(id);
/** Ticket ids as the hub sent them (numbers) for WebSocket frames; maps key them as strings. */
const wireId = (id) => (/^\d+$/.test(id) ? Number(id) : id);
const timeFormat = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit" });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

function formatTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : timeFormat.format(date);
}

function formatDateTime(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? "" : dateTimeFormat.format(date);
}

function waitSeconds(ticket) {
  const since = Date.parse(ticket.queued_at);
  if (Number.isNaN(since)) return ticket.wait_s ?? 0;
  return Math.max(0, Math.floor((Date.now() + state.clockSkewMs - since) / 1000));
}

function formatWait(seconds) {
  const minutes = Math.floor(seconds / 60);
  if (minutes < 1) return "<1 min";
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 24) return `${hours} h ${String(minutes % 60).padStart(2, "0")} min`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`; // over a weekend: "2 d 14 h", not "62 h 10 min"
}

/** The queue's wait_s is measured on the server; use it to correct a wrong local clock. */
function noteServerClock(ticket) {
  const since = Date.parse(ticket.queued_at);
  if (!Number.isNaN(since) && Number.isFinite(ticket.wait_s)) {
    state.clockSkewMs = since + ticket.wait_s * 1000 - Date.now();
  }
}

const priorityLabel = (priority) => PRIORITIES[priority]?.label ?? priority ?? "";
const reasonText = (reason) => REASONS[reason]?.[1] ?? "";
const categoryLabel = (category) => CATEGORIES[category] ?? "Unknown device";
const languageLabel = (language) => LANGUAGES[language] ?? language ?? "—";
const statusLabel = (status) => STATUSES[status] ?? status ?? "";

/** Actors and note authors may come as a string or as an agent-like object. */
function personName(person) {
  if (person === null || person === undefined) return "";
  if (typeof person === "string") return person;
  return person.display_name ?? person.username ?? (person.id !== undefined ? `Agent #${person.id}` : "");
}

function priorityBadge(priority) {
  const known = PRIORITIES[priority] ? priority : "normal";
  return el("span", { class: `badge badge--${known}`, "data-priority": known }, PRIORITIES[known].label);
}

function languageBadge(language) {
  return el(
    "span",
    { class: "badge badge--lang", title: languageLabel(language) },
    String(language ?? "?").toUpperCase(),
  );
}

function categoryTag(category) {
  return el(
    "span",
    { class: "category" },
    icon(CATEGORIES[category] ? category : "device"),
    categoryLabel(category),
  );
}

function languageCodes(languages) {
  return (languages ?? []).join(", ").toUpperCase();
}

function presenceDot(presence) {
  return el("span", { class: `presence-dot presence-dot--${presence}`, role: "img", "aria-label": presence });
}

function comparePriorityThenWait(a, b) {
  const rank = (t) => PRIORITIES[t.priority]?.rank ?? PRIORITIES.normal.rank;
  return rank(a) - rank(b) || (Date.parse(a.queued_at) || 0) - (Date.parse(b.queued_at) || 0);
}

function newClientId() {
  return crypto.randomUUID?.() ?? `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
}

// ---------------------------------------------------------------------------------------------
// API client

/** JSON request to the hub. Throws ApiError; a 401 outside sign-in ends the session in the UI. */
const api = apiClient({
  base: API,
  csrf: () => state.csrf,
  onUnauthorized: (path, code) => {
    if (path === "/session" || !state.agent) return;
    signedOut(
      code === "deactivated"
        ? "Your account has been deactivated. Please ask an administrator."
        : "Your session has ended. Please sign in again.",
    );
  },
});

// ---------------------------------------------------------------------------------------------
// Toasts, desktop notifications, document title

/** Errors of user actions go to a toast; a 401 already switched to the sign-in form. */
function reportError(error) {
  if (error.status !== 401) toast(error.message, { kind: "error" });
}

function newTicketTitle(ticket) {
  return `New ${priorityLabel(ticket.priority).toLowerCase()} ticket: ${categoryLabel(ticket.category)}`;
}

function notifyDesktop(ticket) {
  if (!("Notification" in window) || Notification.permission !== "granted") return;
  const notification = new Notification(newTicketTitle(ticket), {
    body: `${reasonLabel(ticket.reason)} — ${ticket.summary ?? ""}`,
    tag: `ticket-${ticket.id}`,
  });
  notification.onclick = () => {
    window.focus();
    openConversation(ticket.id);
  };
}

function renderNotifyButton() {
  show($("notify-permission"), "Notification" in window && Notification.permission === "default");
}

async function requestNotifyPermission() {
  await Notification.requestPermission();
  renderNotifyButton();
}

function renderTitle() {
  const count = state.queue.size;
  document.title = count ? `(${count}) Queue — ${APP_NAME}` : APP_NAME;
}

// ---------------------------------------------------------------------------------------------
// Sign-in and session

async function boot() {
  try {
    const me = await api("GET", "/me");
    signedIn(me);
  } catch (error) {
    showSignIn(error.status === 401 ? "" : error.message);
  } finally {
    $("boot").remove();
  }
}

function showSignIn(message) {
  show($("app-view"), false);
  show($("signin-view"), true);
  showFormError($("signin-error"), message);
  $("signin-username").focus();
}

async function submitSignIn(event) {
  event.preventDefault();
  const username = $("signin-username").value.trim();
  const password = $("signin-password").value;
  if (!username || !password) {
    showFormError($("signin-error"), "Enter your username and password.");
    (username ? $("signin-password") : $("signin-username")).focus();
    return;
  }
  const button = $("signin-submit");
  button.disabled = true;
  button.textContent = "Signing in…";
  try {
    const session = await api("POST", "/session", { username, password });
    $("signin-password").value = "";
    signedIn(session);
  } catch (error) {
    showFormError($("signin-error"), error.message);
    $("signin-password").select();
  } finally {
    button.disabled = false;
    button.textContent = "Sign in";
  }
}

function signedIn({ agent, csrf_token: csrf }) {
  if (agent.role === "editor") {
    window.location.assign("/console/knowledge"); // editors review content; they take no chats
    return;
  }
  state.agent = agent;
  state.csrf = csrf;
  const active = document.activeElement;
  const lostFocus = !active || active === document.body || $("signin-view").contains(active);
  showFormError($("signin-error"), "");
  show($("signin-view"), false);
  show($("app-view"), true);
  setView("inbox");
  if (lostFocus) $("presence").focus(); // keyboard users start at the first thing to do: go online
  renderHeader();
  renderNotifyButton();
  refreshAll();
  connectSocket();
}

/** With open chats, the agent confirms first: signing out passes them back to the queue at once. */
function signOut() {
  const open = state.chats.size;
  if (!open) return endSession();
  openDialog({
    title: "Sign out?",
    body: [
      el(
        "p",
        { class: "dialog-note", "data-testid": "sign-out-warning" },
        open === 1
          ? "You have 1 open chat. Signing out passes it back to the queue now, with its priority kept; the " +
              "customer is told, and a colleague takes over."
          : `You have ${open} open chats. Signing out passes them back to the queue now, with their priority kept; ` +
              "the customers are told, and colleagues take over.",
      ),
    ],
    confirmLabel: "Sign out",
    onConfirm: endSession,
  });
}

async function endSession() {
  try {
    await api("DELETE", "/session");
  } catch (error) {
    reportError(error);
  }
  closeDialog();
  signedOut("");
}

/** Forget everything about the session and show the sign-in form. */
function signedOut(message) {
  state.agent = null;
  state.csrf = null;
  disconnectSocket();
  for (const p of state.pending.values()) clearTimeout(p.timer);
  for (const timer of state.customerTyping.values()) clearTimeout(timer);
  for (const map of [
    state.queue,
    state.chats,
    state.unread,
    state.lastText,
    state.drafts,
    state.customerTyping,
    state.pending,
  ]) {
    map.clear();
  }
  state.claiming.clear();
  state.closing.clear();
  closeConversation();
  closeDialog();
  renderQueue();
  renderChats();
  showSignIn(message);
}

function showFormError(node, message) {
  node.textContent = message ?? "";
  show(node, Boolean(message));
}

// ---------------------------------------------------------------------------------------------
// Header: who is signed in, presence, load, views

function renderHeader() {
  const { agent } = state;
  if (!agent) return;
  $("me-name").textContent = agent.display_name ?? agent.username;
  $("me-role").textContent = ROLE_NAMES[agent.role] ?? agent.role;
  const dot = $("me-presence");
  dot.className = `presence-dot presence-dot--${agent.presence}`;
  dot.setAttribute("aria-label", `Presence: ${agent.presence}`);
  const load = $("me-load");
  load.textContent = `${state.chats.size} / ${agent.capacity} chats`;
  load.classList.toggle("load--full", state.chats.size >= agent.capacity);
  load.title = "Open chats / capacity";

  const online = agent.presence === "online";
  const toggle = $("presence");
  toggle.setAttribute("aria-checked", String(online));
  toggle.dataset.presence = agent.presence;
  $("presence-state").textContent = online ? "Online" : "Away";
  show($("nav-agents"), agent.role === "admin");
  show($("nav-knowledge"), agent.role === "admin");
}

async function togglePresence() {
  const toggle = $("presence");
  const next = state.agent.presence === "online" ? "away" : "online";
  toggle.disabled = true;
  try {
    const { agent } = await api("PUT", "/presence", { presence: next });
    state.agent = { ...state.agent, ...agent };
    renderHeader();
  } catch (error) {
    reportError(error);
  } finally {
    toggle.disabled = false;
  }
}

function setView(view) {
  state.view = view;
  show($("inbox-view"), view === "inbox");
  show($("agents-view"), view === "agents");
  for (const tab of document.querySelectorAll(".tab")) {
    if (tab.dataset.view === view) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  if (view === "agents") loadAgentsView();
}

// ---------------------------------------------------------------------------------------------
// Queue

async function loadQueue() {
  const { tickets } = await api("GET", "/queue");
  state.queue = new Map(tickets.map((t) => [key(t.id), t]));
  if (tickets.length) noteServerClock(tickets[0]);
  renderQueue();
}

function renderQueue() {
  const tickets = [...state.queue.values()].sort(comparePriorityThenWait);
  replaceRows($("queue-list"), tickets.map(queueRow));
  $("queue-count").textContent = String(tickets.length);
  show($("queue-empty"), tickets.length === 0);
  renderTitle();
  if (state.openId) renderConversationMode();
}

function queueRow(ticket) {
  const id = key(ticket.id);
  const wait = waitSeconds(ticket);
  return el(
    "li",
    {
      class: `ticket-row${id === state.openId ? " is-open" : ""}`,
      "data-testid": "queue-item",
      "data-ticket-id": id,
    },
    el(
      "button",
      {
        type: "button",
        class: "ticket-main",
        "aria-current": id === state.openId ? "true" : null,
        onclick: () => openConversation(id),
      },
      el(
        "span",
        { class: "ticket-line" },
        priorityBadge(ticket.priority),
        categoryTag(ticket.category),
        languageBadge(ticket.language),
      ),
      el("span", { class: "ticket-reason", title: reasonText(ticket.reason) }, reasonLabel(ticket.reason)),
      el("span", { class: "ticket-summary" }, ticket.summary ?? ""),
      ticket.customer_present === false
        ? el(
            "span",
            { class: "ticket-away", "data-testid": "queue-customer-away" },
            ticket.email ? "Left the chat · answer goes by e-mail" : "Left the chat · no e-mail address",
          )
        : null,
    ),
    el(
      "div",
      { class: "ticket-side" },
      el(
        "span",
        {
          class: `wait${waitClass(wait)}`,
          "data-queued-at": ticket.queued_at,
          "data-testid": "wait",
          title: "Waiting time",
        },
        formatWait(wait),
      ),
      el(
        "button",
        {
          type: "button",
          class: "btn btn--small btn--primary",
          "data-testid": "claim",
          disabled: state.claiming.has(id),
          onclick: () => claim(id),
        },
        "Claim",
      ),
      // nobody can answer a customer who left without an address: one click takes the request out of the line
      ticket.customer_present === false && !ticket.email
        ? el(
            "button",
            {
              type: "button",
              class: "btn btn--small btn--ghost",
              "data-testid": "close-left",
              title: "Close this request: the customer left the chat without an e-mail address",
              "aria-label": `Close request ${id}: the customer left`,
              disabled: state.claiming.has(id),
              onclick: () => closeLeft(id),
            },
            "Close",
          )
        : null,
    ),
  );
}

function waitClass(seconds) {
  if (seconds >= 15 * 60) return " wait--long";
  if (seconds >= 5 * 60) return " wait--medium";
  return "";
}

/** Live waiting times: update the counters in place instead of re-rendering the list. */
function tickWaitTimes() {
  for (const node of document.querySelectorAll(".wait[data-queued-at]")) {
    const seconds = waitSeconds({ queued_at: node.dataset.queuedAt });
    node.textContent = formatWait(seconds);
    node.className = `wait${waitClass(seconds)}`;
  }
}

function onTicketQueued(ticket) {
  const id = key(ticket.id);
  const isNew = !state.queue.has(id);
  state.queue.set(id, ticket);
  renderQueue();
  if (!isNew) return;
  toast(`${newTicketTitle(ticket)} — ${reasonLabel(ticket.reason)}`, {
    kind: ticket.priority === "urgent" ? "warning" : "info",
    action: { label: "View", run: () => openConversation(id) },
  });
  notifyDesktop(ticket);
}

function onTicketTaken(ticketId) {
  if (state.queue.delete(key(ticketId))) renderQueue();
}

async function claim(id) {
  if (state.claiming.has(id)) return;
  state.claiming.add(id);
  renderQueue();
  try {
    const { ticket } = await api("POST", `/tickets/${encodeURIComponent(id)}/claim`);
    state.queue.delete(id);
    addChat(ticket);
    renderQueue();
    await openConversation(id);
    $("composer").focus();
  } catch (error) {
    reportError(error);
    // Someone else has it; a full desk (capacity_reached) leaves the ticket where it is.
    if (error.status === 409 && error.code !== "capacity_reached") state.queue.delete(id);
  } finally {
    state.claiming.delete(id);
    renderQueue();
  }
}

async function closeLeft(id) {
  if (state.claiming.has(id)) return;
  state.claiming.add(id);
  renderQueue();
  try {
    await api("POST", `/tickets/${encodeURIComponent(id)}/close-left`);
    state.queue.delete(id);
    toast("Request closed. If the customer comes back, the assistant tells them and they can ask again.");
  } catch (error) {
    reportError(error);
    if (error.status === 409 && error.code === "not_queued") state.queue.delete(id);
  } finally {
    state.claiming.delete(id);
    renderQueue();
  }
}

// ---------------------------------------------------------------------------------------------
// My chats

async function loadChats() {
  const { tickets } = await api("GET", "/chats");
  state.chats = new Map(tickets.map((t) => [key(t.id), t]));
  for (const id of [...state.unread.keys()]) if (!state.chats.has(id)) state.unread.delete(id);
  renderChats();
}

function addChat(ticket) {
  state.chats.set(key(ticket.id), ticket);
  renderChats();
}

/** A sidebar list: its rows, the count in its heading and its "nothing here" line. */
function renderSidebarList({ list, count, empty }, rows) {
  replaceRows($(list), rows);
  $(count).textContent = String(rows.length);
  show($(empty), rows.length === 0);
}

function renderChats() {
  const ids = { list: "chat-list", count: "chats-count", empty: "chats-empty" };
  renderSidebarList(ids, [...state.chats.values()].map(chatRow));
  renderHeader();
}

function chatRow(ticket) {
  const id = key(ticket.id);
  const unread = state.unread.get(id) ?? 0;
  const typing = state.customerTyping.has(id);
  const preview = typing ? "Customer is typing…" : (state.lastText.get(id) ?? reasonLabel(ticket.reason));
  return el(
    "li",
    {
      class: ["ticket-row ticket-row--chat", id === state.openId && "is-open", unread && "has-unread"]
        .filter(Boolean)
        .join(" "),
    },
    el(
      "button",
      {
        type: "button",
        class: "ticket-main",
        "data-testid": "chat-item",
        "data-ticket-id": id,
        "aria-current": id === state.openId ? "true" : null,
        onclick: () => openConversation(id),
      },
      el(
        "span",
        { class: "ticket-line" },
        priorityBadge(ticket.priority),
        categoryTag(ticket.category),
        languageBadge(ticket.language),
        ticket.customer_present === false
          ? el("span", { class: "tag tag--left", "data-testid": "customer-left", title: "The customer has left the chat" }, "Left")
          : null,
        unread ? el("span", { class: "unread", "data-testid": "unread" }, String(unread)) : null,
        unread ? el("span", { class: "sr-only" }, `${unread} unread`) : null,
      ),
      el("span", { class: "ticket-summary ticket-summary--strong" }, ticket.summary || `Ticket ${id}`),
      el("span", { class: `ticket-preview${typing ? " is-typing" : ""}` }, preview),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// My suggestions: resolutions marked "should become knowledge-base content", and the editors' verdicts

const SUGGESTION_STATES = {
  pending: "Waiting for review",
  approved: "Approved",
  rejected: "Rejected",
};

async function loadClosed() {
  const { tickets } = await api("GET", "/chats/closed");
  state.closed = tickets;
  renderClosed();
}

function renderClosed() {
  renderSidebarList({ list: "closed-list", count: "closed-count", empty: "closed-empty" }, state.closed.map(closedRow));
}

/** A chat I closed: read-only when opened (the conversation view shows why it left the inbox). */
function closedRow(ticket) {
  const id = key(ticket.id);
  return el(
    "li",
    {
      class: `ticket-row${id === state.openId ? " is-open" : ""}`,
      "data-testid": "closed-item",
      "data-ticket-id": id,
    },
    el(
      "button",
      {
        type: "button",
        class: "ticket-main",
        "aria-current": id === state.openId ? "true" : null,
        onclick: () => openConversation(id),
      },
      el("span", { class: "ticket-line" }, categoryTag(ticket.category), languageBadge(ticket.language)),
      el("span", { class: "ticket-reason" }, statusLabel(ticket.status)),
      el("span", { class: "ticket-summary" }, ticket.summary ?? ""),
    ),
    el(
      "div",
      { class: "ticket-side" },
      ticket.closed_at
        ? el(
            "time",
            { class: "wait", datetime: ticket.closed_at, title: formatDateTime(ticket.closed_at) },
            formatTime(ticket.closed_at),
          )
        : null,
    ),
  );
}

async function loadSuggestions() {
  const { suggestions } = await api("GET", "/suggestions");
  state.suggestions = suggestions;
  renderSuggestions();
}

function renderSuggestions() {
  const ids = { list: "suggestion-list", count: "suggestions-count", empty: "suggestions-empty" };
  renderSidebarList(ids, state.suggestions.map(suggestionRow));
}

function suggestionWhat(suggestion) {
  return suggestion.kind === "step"
    ? `New step for ${suggestion.article_id}`
    : `New article${suggestion.summary ? `: ${suggestion.summary}` : ""}`;
}

function suggestionVerdict(suggestion) {
  if (suggestion.status === "approved") return `${suggestion.reviewer ?? "An editor"} added it to the knowledge base.`;
  if (suggestion.status === "rejected") return `${suggestion.reviewer ?? "An editor"}: “${suggestion.reject_reason}”`;
  return "An editor will review it.";
}

function suggestionRow(suggestion) {
  const status = SUGGESTION_STATES[suggestion.status] ? suggestion.status : "pending";
  const what = suggestionWhat(suggestion);
  return el(
    "li",
    { class: `suggestion suggestion--${status}`, "data-testid": "suggestion", "data-status": status },
    el(
      "span",
      { class: "ticket-line" },
      el("span", { class: `badge badge--${status}` }, SUGGESTION_STATES[status]),
      el("span", { class: "ticket-preview" }, `Ticket ${suggestion.ticket_id}`),
    ),
    el("span", { class: "ticket-summary ticket-summary--strong", title: what }, what),
    el("span", { class: "suggestion-verdict" }, suggestionVerdict(suggestion)),
  );
}

function onSuggestionDecided(suggestion) {
  state.suggestions = [suggestion, ...state.suggestions.filter((s) => s.id !== suggestion.id)].sort(
    (a, b) => b.id - a.id,
  );
  renderSuggestions();
  const approved = suggestion.status === "approved";
  toast(
    approved
      ? `Your suggestion for ticket ${suggestion.ticket_id} is in the knowledge base now.`
      : `Your suggestion for ticket ${suggestion.ticket_id} was rejected: ${suggestion.reject_reason}`,
    {
      kind: approved ? "success" : "info",
      action: { label: "Show", run: () => ($("suggestions").open = true) },
    },
  );
}

function onChatAssigned(ticket) {
  const id = key(ticket.id);
  const isNew = !state.chats.has(id);
  state.queue.delete(id);
  addChat(ticket);
  renderQueue();
  if (isNew && !state.claiming.has(id)) {
    toast(`Chat assigned to you: ${ticket.summary || `ticket ${id}`}`, {
      action: { label: "Open", run: () => openConversation(id) },
    });
  }
}

function onChatClosed(ticketId, status) {
  const id = key(ticketId);
  if (state.closing.has(id) || !state.chats.delete(id)) return; // our own action, or already gone
  state.unread.delete(id);
  renderChats();
  toast(`Chat ${id} left your inbox: ${statusLabel(status).toLowerCase()}.`);
  loadClosed().catch(reportError);
  if (id === state.openId && state.detail) {
    state.detail.ticket = { ...state.detail.ticket, status };
    renderContext();
    renderConversationMode(statusLabel(status).toLowerCase());
  }
}

/** After one of our own actions (resolve, escalate, transfer, return): the chat leaves the inbox. */
function removeChat(id) {
  state.chats.delete(id);
  state.unread.delete(id);
  state.lastText.delete(id);
  state.drafts.delete(id);
  if (id === state.openId) closeConversation();
  renderChats();
  loadClosed().catch(reportError);
}

// ---------------------------------------------------------------------------------------------
// Conversation

const isMine = (id) => state.chats.has(key(id));

async function openConversation(ticketId) {
  const id = key(ticketId);
  if (state.view !== "inbox") setView("inbox");
  if (state.openId !== id) switchTo(id);
  state.unread.delete(id);
  renderQueue();
  renderChats();
  renderClosed();
  try {
    const detail = await api("GET", `/tickets/${encodeURIComponent(id)}`);
    if (state.openId !== id) return; // the agent moved on meanwhile
    state.detail = detail;
    renderConversation();
    if (detail.customer) onCustomerPresence(id, detail.customer.present); // the chat list follows the newest read
  } catch (error) {
    if (state.openId !== id) return;
    reportError(error);
    if (!state.detail) closeConversation();
  }
}

/** Leave the open conversation (keeping its draft) and show an empty one for id while it loads. */
function switchTo(id) {
  stopMyTyping();
  if (state.openId) state.drafts.set(state.openId, $("composer").value);
  state.openId = id;
  state.detail = null;
  $("composer").value = state.drafts.get(id) ?? "";
  renderComposerCount();
  resetKnowledgeBase();
  $("closed-text").textContent = "This conversation is no longer in the queue or assigned to you.";
  $("conv-title").textContent = "Loading…";
  $("conv-meta").replaceChildren();
  $("transcript").replaceChildren();
  show($("conv-empty"), false);
  show($("conv-main"), true);
  renderContext();
}

function closeConversation() {
  stopMyTyping();
  state.openId = null;
  state.detail = null;
  $("composer").value = "";
  state.seenMessageIds.clear();
  show($("conv-main"), false);
  show($("conv-empty"), true);
  renderContext();
  renderQueue();
  renderChats();
}

function currentTicket() {
  const id = state.openId;
  return state.chats.get(id) ?? state.queue.get(id) ?? state.detail?.ticket;
}

function renderConversation() {
  show($("conv-empty"), false);
  show($("conv-main"), true);
  renderConversationHeader();
  renderTranscript();
  renderConversationMode(); // (with the typing and customer-away lines)
  renderContext();
}

/** In my chat: whether the customer has left, and what happens to my replies then. */
function renderCustomerAway() {
  const customer = state.detail?.customer;
  const away = Boolean(state.openId && isMine(state.openId) && customer && !customer.present);
  show($("customer-away"), away);
  if (!away) return;
  $("customer-away").replaceChildren(
    icon("mail"),
    customer.email
      ? el(
          "span",
          {},
          "The customer has left the chat. Your replies are e-mailed to ",
          el("strong", {}, customer.email),
          " shortly after you send them.",
        )
      : el("span", {}, "The customer has left the chat and left no e-mail address: they see your replies when they come back."),
  );
}

function onCustomerPresence(ticketId, present) {
  const id = key(ticketId);
  const waiting = state.queue.get(id);
  if (waiting && waiting.customer_present !== present) {
    waiting.customer_present = present;
    renderQueue();
  }
  const chat = state.chats.get(id);
  if (chat && chat.customer_present !== present) {
    chat.customer_present = present;
    renderChats();
  }
  if (id !== state.openId || !state.detail?.customer) return;
  state.detail.customer.present = present;
  renderCustomerAway();
}

function onEmailed(conversationId, messageIds) {
  const detail = state.detail;
  if (!detail || detail.ticket.conversation_id !== conversationId) return;
  detail.emailed_message_ids = [...new Set([...(detail.emailed_message_ids ?? []), ...messageIds])];
  renderTranscript();
}

function renderConversationHeader() {
  const ticket = currentTicket();
  $("conv-title").textContent = ticket.summary || `Ticket ${ticket.id}`;
  $("conv-title").title = $("conv-title").textContent;
  $("conv-meta").replaceChildren(
    priorityBadge(ticket.priority),
    categoryTag(ticket.category),
    languageBadge(ticket.language),
    el("span", { class: "meta-item", title: reasonText(ticket.reason) }, reasonLabel(ticket.reason)),
    el("span", { class: "meta-item meta-item--muted" }, `#${ticket.id}`),
  );
}

/** Which controls the open conversation gets: mine -> actions + composer; queued -> claim; else read-only. */
function renderConversationMode(closedReason) {
  const id = state.openId;
  const mine = isMine(id);
  const queued = !mine && state.queue.has(id);
  show($("conv-actions"), mine);
  show($("composer-form"), mine);
  show($("claim-bar"), queued);
  show($("closed-bar"), !mine && !queued);
  const ticket = state.detail?.ticket;
  if (closedReason) {
    $("closed-text").textContent = `This chat left your inbox (${closedReason}). You can still read it.`;
  } else if (!mine && !queued && ticket?.closed_at) {
    const when = formatDateTime(ticket.closed_at);
    $("closed-text").textContent = `Closed ${when}: ${statusLabel(ticket.status).toLowerCase()}. You can still read it.`;
  }
  $("preview-claim").disabled = state.claiming.has(id);
  renderTyping();
  renderCustomerAway();
  for (const button of document.querySelectorAll("[data-testid='kb-send-step']")) button.disabled = !mine;
}

// --- transcript ---

function renderTranscript() {
  const { transcript = [], notes = [] } = state.detail;
  state.seenMessageIds = new Set(transcript.map((m) => m.id));
  const items = mergeByTime(transcript.map(messageNode), notes, noteNode);
  const pending = [...state.pending.values()].filter((p) => p.ticketId === state.openId).map((p) => p.node);
  $("transcript").replaceChildren(...items, ...pending);
  scrollToBottom();
}

/** Interleave notes into the message sequence by created_at; message order stays as sent. */
function mergeByTime(messageNodes, notes, toNode) {
  const sorted = [...notes].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
  const result = [];
  let n = 0;
  for (const node of messageNodes) {
    const at = Date.parse(node.dataset.createdAt);
    while (n < sorted.length && Date.parse(sorted[n].created_at) <= at) result.push(toNode(sorted[n++]));
    result.push(node);
  }
  while (n < sorted.length) result.push(toNode(sorted[n++]));
  return result;
}

function messageNode(message) {
  const sender = SENDERS[message.sender] ? message.sender : "system";
  const meta = message.meta ?? {};
  const attrs = {
    class: `msg msg--${sender}`,
    "data-testid": "message",
    "data-sender": sender,
    "data-id": message.id,
    "data-created-at": message.created_at,
  };
  if (sender === "system") {
    return el(
      "li",
      { ...attrs, "data-kind": meta.kind },
      el("span", {}, message.text),
      " ",
      el(
        "time",
        { datetime: message.created_at, title: formatDateTime(message.created_at) },
        formatTime(message.created_at),
      ),
    );
  }
  const name = sender === "agent" ? (meta.agent?.display_name ?? SENDERS.agent) : SENDERS[sender];
  return el(
    "li",
    attrs,
    el(
      "div",
      { class: "msg-head" },
      el("span", { class: "msg-sender" }, name),
      el(
        "time",
        { datetime: message.created_at, title: formatDateTime(message.created_at) },
        formatTime(message.created_at),
      ),
    ),
    el("div", { class: "msg-bubble" }, message.text),
    messageExtras(message),
  );
}

/** Bot buttons as chips; KB step and handoff metadata as small tags. */
function messageExtras(message) {
  const meta = message.meta ?? {};
  const buttons = message.buttons ?? [];
  const tags = [];
  if (meta.kb_article) {
    const article = state.detail?.context?.article;
    const name = article && article.id === meta.kb_article ? article.title : meta.kb_article;
    tags.push(
      el(
        "span",
        { class: "tag tag--kb", title: `Knowledge-base article ${meta.kb_article}` },
        meta.step ? `KB: ${name} · step ${meta.step}` : `KB: ${name}`,
      ),
    );
  }
  if (message.sender === "agent" && state.detail?.emailed_message_ids?.includes(message.id)) {
    tags.push(el("span", { class: "tag tag--emailed", "data-testid": "emailed" }, icon("mail"), "E-mailed"));
  }
  if (message.sender === "customer" && meta.channel === "email") {
    const title = meta.subject ? `Answered the e-mail “${meta.subject}”` : "Answered by e-mail";
    tags.push(el("span", { class: "tag tag--emailed", title, "data-testid": "by-email" }, icon("mail"), "By e-mail"));
  }
  if (meta.handoff) {
    tags.push(
      el(
        "span",
        { class: "tag tag--handoff" },
        `Handoff: ${reasonLabel(meta.handoff.reason)} · ${priorityLabel(meta.handoff.priority)}`,
      ),
    );
  }
  if (!buttons.length && !tags.length) return null;
  return el(
    "div",
    { class: "msg-extras" },
    buttons.length
      ? el(
          "ul",
          { class: "chips", "aria-label": "Buttons offered" },
          buttons.map((b) => el("li", { class: "chip", title: b.payload }, b.title)),
        )
      : null,
    tags,
  );
}

function noteNode(note) {
  return el(
    "li",
    { class: "note", "data-testid": "note", "data-id": note.id, "data-created-at": note.created_at },
    el(
      "div",
      { class: "note-head" },
      icon("lock"),
      el("strong", {}, "Internal note — not visible to the customer"),
      el("span", { class: "note-author" }, personName(note.agent)),
      el(
        "time",
        { datetime: note.created_at, title: formatDateTime(note.created_at) },
        formatTime(note.created_at),
      ),
    ),
    el("div", { class: "note-text" }, note.text),
  );
}

function transcriptNearBottom() {
  const list = $("transcript");
  return list.scrollHeight - list.scrollTop - list.clientHeight < 80;
}

function scrollToBottom() {
  const list = $("transcript");
  list.scrollTop = list.scrollHeight;
}

/** Show a message of the open ticket once, whether it arrives as event, ack or HTTP answer. */
function addMessageToOpen(message) {
  if (state.seenMessageIds.has(message.id)) return;
  state.seenMessageIds.add(message.id);
  state.detail.transcript.push(message);
  const stick = transcriptNearBottom();
  const pending = [...state.pending.values()].find((p) => p.ticketId === state.openId);
  const node = messageNode(message);
  // Confirmed messages go before any still-unconfirmed ones, which stay last.
  if (pending) $("transcript").insertBefore(node, pending.node);
  else $("transcript").append(node);
  if (stick || message.sender === "agent") scrollToBottom();
}

function onMessage(ticketId, message) {
  const id = key(ticketId);
  if (message.sender === "agent") settleMatchingPending(id, message);
  if (message.sender === "customer") {
    state.lastText.set(id, message.text);
    clearRemoteTyping(id);
    if (message.meta?.channel !== "email") onCustomerPresence(ticketId, true); // they just wrote in the chat
  }
  if (id === state.openId && state.detail) {
    addMessageToOpen(message);
    renderTyping();
  } else if (state.chats.has(id) && message.sender === "customer") {
    state.unread.set(id, (state.unread.get(id) ?? 0) + 1);
  }
  if (state.chats.has(id)) renderChats();
}

// --- sending ---

function sendReply(event) {
  event?.preventDefault();
  const composer = $("composer");
  const text = composer.value.trim();
  const ticketId = state.openId;
  if (!text || !isMine(ticketId)) return;
  composer.value = "";
  renderComposerCount();
  stopMyTyping();
  const clientId = newClientId();
  const pending = { clientId, ticketId, text, node: pendingNode(clientId, text), timer: null };
  state.pending.set(clientId, pending);
  $("transcript").append(pending.node);
  scrollToBottom();
  deliver(pending);
}

/** Over the socket (acknowledged by client_id) when it is open, else over HTTP. */
function deliver(pending) {
  setPendingState(pending, "sending");
  if (
    sendSocket({
      type: "message",
      ticket_id: wireId(pending.ticketId),
      text: pending.text,
      client_id: pending.clientId,
    })
  ) {
    pending.timer = setTimeout(() => setPendingState(pending, "failed"), ACK_TIMEOUT_MS);
    return;
  }
  const body = { text: pending.text, client_id: pending.clientId };
  api("POST", `/tickets/${encodeURIComponent(pending.ticketId)}/messages`, body)
    .then(({ message }) => settlePending(pending, message))
    .catch((error) => {
      setPendingState(pending, "failed");
      reportError(error);
    });
}

function pendingNode(clientId, text) {
  return el(
    "li",
    {
      class: "msg msg--agent is-pending",
      "data-testid": "message",
      "data-sender": "agent",
      "data-client-id": clientId,
    },
    el(
      "div",
      { class: "msg-head" },
      el("span", { class: "msg-sender" }, state.agent.display_name ?? SENDERS.agent),
      el("span", { class: "msg-status" }),
    ),
    el("div", { class: "msg-bubble" }, text),
  );
}

function setPendingState(pending, status) {
  const label = pending.node.querySelector(".msg-status");
  pending.node.classList.toggle("is-failed", status === "failed");
  if (status === "failed") {
    clearTimeout(pending.timer);
    label.replaceChildren(
      "Not confirmed · ",
      el(
        "button",
        {
          type: "button",
          class: "link-button",
          "data-testid": "retry-send",
          onclick: () => deliver(pending),
        },
        "Retry",
      ),
    );
  } else {
    label.replaceChildren("Sending…");
  }
}

function settlePending(pending, message) {
  clearTimeout(pending.timer);
  state.pending.delete(pending.clientId);
  pending.node.remove();
  if (message && pending.ticketId === state.openId && state.detail) addMessageToOpen(message);
}

function onAck(clientId, message) {
  const pending = state.pending.get(clientId);
  if (pending) settlePending(pending, message);
}

/** The message event for our own message may beat its ack; match it by text. */
function settleMatchingPending(ticketId, message) {
  const pending = [...state.pending.values()].find((p) => p.ticketId === ticketId && p.text === message.text);
  if (pending) settlePending(pending, message);
}

/** The hub refused a frame, e.g. a message to a chat that is no longer ours. */
function onSocketError(clientId, error) {
  const pending = clientId ? state.pending.get(clientId) : null;
  if (pending) setPendingState(pending, "failed");
  toast(error?.message ?? "The server refused a message.", { kind: "error" });
}

function onComposerKeydown(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) sendReply(event);
}

function onComposerInput() {
  renderComposerCount();
  const ticketId = state.openId;
  if (!isMine(ticketId) || !$("composer").value.trim()) return stopMyTyping();
  const now = Date.now();
  const typing = state.myTyping;
  if (!typing || now - typing.sentAt > TYPING_RESEND_MS) {
    sendSocket({ type: "typing", ticket_id: wireId(ticketId), typing: true });
    state.myTyping = { ticketId, sentAt: now, timer: typing?.timer };
  }
  clearTimeout(state.myTyping.timer);
  state.myTyping.timer = setTimeout(stopMyTyping, TYPING_IDLE_MS);
}

function stopMyTyping() {
  const typing = state.myTyping;
  if (!typing) return;
  clearTimeout(typing.timer);
  state.myTyping = null;
  sendSocket({ type: "typing", ticket_id: wireId(typing.ticketId), typing: false });
}

function renderComposerCount() {
  const length = $("composer").value.length;
  $("composer-count").textContent = length > 1800 ? `${length} / 2000` : "";
}

// --- the customer typing ---

function onCustomerTyping(ticketId, typing) {
  const id = key(ticketId);
  clearRemoteTyping(id);
  if (typing) {
    const expire = () => {
      clearRemoteTyping(id);
      renderTyping();
      renderChats();
    };
    state.customerTyping.set(id, setTimeout(expire, REMOTE_TYPING_MS));
  }
  renderTyping();
  if (state.chats.has(id)) renderChats();
}

function clearRemoteTyping(id) {
  clearTimeout(state.customerTyping.get(id));
  state.customerTyping.delete(id);
}

function renderTyping() {
  show($("typing"), Boolean(state.openId) && isMine(state.openId) && state.customerTyping.has(state.openId));
}

// ---------------------------------------------------------------------------------------------
// Context panel: what the bot already did

function renderContext() {
  const detail = state.detail;
  show($("context-empty"), !detail);
  show($("kb"), Boolean(detail));
  if (!detail) {
    $("context-top").replaceChildren();
    $("context-bottom").replaceChildren();
    return;
  }
  const context = detail.context ?? {};
  $("context-top").replaceChildren(
    overviewSection(detail.ticket, context),
    botAttemptSection(context),
    earlierSection(detail.earlier ?? []),
    turnsSection(context.turns ?? []),
  );
  $("context-bottom").replaceChildren(
    slotsSection(context.slots ?? {}),
    historySection(detail.history ?? []),
  );
  const { language, category } = detail.ticket;
  const scope = category
    ? `${languageLabel(language)} · ${categoryLabel(category)}`
    : languageLabel(language);
  $("kb-search").placeholder = `Search articles (${scope})…`;
}

function ctxSection(title, ...children) {
  return el("section", { class: "ctx-section" }, el("h3", { class: "ctx-title" }, title), children);
}

function facts(rows) {
  return el(
    "dl",
    { class: "facts" },
    rows
      .filter(([, value]) => value !== null && value !== undefined && value !== "")
      .map(([label, value]) => el("div", { class: "fact" }, el("dt", {}, label), el("dd", {}, value))),
  );
}

function overviewSection(ticket, context) {
  const device = context.device ?? {};
  const email = ticket.email;
  const problems = context.problems ?? [];
  return ctxSection(
    "Handoff",
    problems.length
      ? el("p", { class: "ctx-warning" }, "The bot's handoff data was incomplete: ", problems.join("; "))
      : null,
    el(
      "div",
      { class: "ctx-reason" },
      priorityBadge(ticket.priority),
      el(
        "div",
        {},
        el("p", { class: "ctx-reason-label" }, reasonLabel(ticket.reason)),
        reasonText(ticket.reason) ? el("p", { class: "ctx-reason-text" }, reasonText(ticket.reason)) : null,
      ),
    ),
    facts([
      ["Device", categoryTag(device.category ?? ticket.category)],
      ["Brand", device.brand || "—"],
      ["Model", device.model || "—"],
      ["Language", `${languageLabel(ticket.language)} (${String(ticket.language ?? "").toUpperCase()})`],
      ["Topic", context.packet?.topic ? humanize(context.packet.topic) : null],
      ["Status", statusLabel(ticket.status)],
      ["Queued", ticket.queued_at ? formatDateTime(ticket.queued_at) : null],
      [
        "E-mail",
        email
          ? el(
              "a",
              { href: mailto(email), class: "ctx-email", "data-testid": "customer-email" },
              icon("mail"),
              email,
            )
          : null,
      ],
    ]),
  );
}

function botAttemptSection(context) {
  const steps = [...(context.steps_tried ?? []), ...(context.step_shown ? [{ ...context.step_shown, outcome: "open" }] : [])];
  const article = context.article;
  return ctxSection(
    "What the bot tried",
    article
      ? el(
          "p",
          { class: "ctx-article" },
          el("span", { class: "ctx-muted" }, "Article "),
          el("strong", {}, article.title),
          el("span", { class: "ctx-muted" }, ` (${article.id})`),
        )
      : el("p", { class: "ctx-muted" }, "No article was used."),
    steps.length
      ? el("ol", { class: "steps" }, steps.map(stepTriedRow))
      : article
        ? el("p", { class: "ctx-muted" }, "No steps were tried.")
        : null,
  );
}

const STEP_OUTCOMES = {
  solved: { icon: "check", label: "Solved" },
  failed: { icon: "cross", label: "Did not help" },
  open: { icon: "clock", label: "Shown when the customer asked for a person; not answered" },
};

function stepTriedRow(step) {
  const outcome = STEP_OUTCOMES[step.outcome] ?? STEP_OUTCOMES.failed;
  return el(
    "li",
    { class: `step step--${step.outcome}`, "data-testid": "step-tried", "data-outcome": step.outcome, title: outcome.label },
    icon(outcome.icon, outcome.label),
    el("span", { class: "step-num" }, `${step.step}.`),
    el(
      "span",
      {},
      step.instruction,
      step.outcome === "open" ? el("span", { class: "step-note" }, `${outcome.label}.`) : null,
    ),
  );
}

/** A mailto: link to exactly this address: "?", "&" and "%" in it are not read as a Cc, a text or an escape. */
function mailto(address) {
  const at = address.lastIndexOf("@");
  return `mailto:${encodeURIComponent(address.slice(0, at))}@${encodeURIComponent(address.slice(at + 1))}`;
}

function turnsSection(turns) {
  return ctxSection(
    "Customer messages",
    turns.length
      ? el("ol", { class: "turns" }, turns.map(turnRow))
      : el("p", { class: "ctx-muted" }, "No messages understood by the bot."),
  );
}

function turnRow(turn) {
  const confidence = typeof turn.confidence === "number" ? turn.confidence : null;
  const low = confidence !== null && confidence < LOW_CONFIDENCE;
  const bar = el("span", { class: "confidence-bar", "aria-hidden": "true" }, el("span", {}));
  bar.firstChild.style.width = `${Math.round((confidence ?? 0) * 100)}%`;
  return el(
    "li",
    {
      class: `turn${low ? " turn--low" : ""}`,
      "data-testid": "turn",
      "data-low-confidence": low ? "true" : null,
    },
    el(
      "p",
      { class: "turn-text" },
      turn.shown ?? turn.text, // a pressed button: its title, as the customer saw it, not its payload
      turn.shown ? el("span", { class: "tag turn-button", title: turn.text }, "button") : null,
    ),
    el(
      "p",
      { class: "turn-meta" },
      el("code", { class: "intent" }, turn.intent ?? "—"),
      bar,
      el("span", { class: "confidence" }, confidence === null ? "—" : `${Math.round(confidence * 100)}%`),
      low ? el("span", { class: "low-label" }, "Low confidence") : null,
    ),
  );
}

function slotsSection(slots) {
  const entries = Object.entries(slots).sort(([a], [b]) => a.localeCompare(b));
  return el(
    "details",
    { class: "ctx-section ctx-details" },
    el("summary", { class: "ctx-title" }, `Slots (${entries.length})`),
    entries.length
      ? el(
          "dl",
          { class: "facts facts--slots" },
          entries.map(([name, value]) =>
            el(
              "div",
              { class: "fact" },
              el("dt", {}, el("code", {}, name)),
              el("dd", { class: value === null ? "ctx-muted" : null }, formatSlot(value)),
            ),
          ),
        )
      : el("p", { class: "ctx-muted" }, "No slots."),
  );
}

function formatSlot(value) {
  if (value === null) return "—";
  return typeof value === "string" ? value : JSON.stringify(value);
}

/** The same customer's earlier tickets (same browser or same e-mail): a repeat contact at a glance. */
function earlierSection(earlier) {
  return ctxSection(
    "Earlier contacts",
    earlier.length
      ? el("ol", { class: "earlier" }, earlier.map(earlierItem))
      : el("p", { class: "ctx-muted" }, "None: this is the customer's first contact with second level."),
  );
}

function earlierItem(ticket) {
  const outcome = ticket.resolution_note
    ? `Resolved: ${ticket.resolution_note}`
    : ticket.escalation_group
      ? `Escalated to ${ticket.escalation_group}`
      : statusLabel(ticket.status);
  return el(
    "li",
    { class: "earlier-item", "data-testid": "earlier-ticket" },
    el(
      "p",
      { class: "earlier-head" },
      el("span", { class: "earlier-summary" }, ticket.summary || `Ticket ${ticket.id}`),
      el("span", { class: "meta-item meta-item--muted" }, `#${ticket.id}`),
    ),
    el("p", { class: "earlier-outcome" }, outcome),
    el(
      "p",
      { class: "history-meta" },
      [formatDateTime(ticket.queued_at), ticket.agent, ticket.category && categoryLabel(ticket.category)]
        .filter(Boolean)
        .join(" · "),
    ),
    emailOnly(ticket)
      ? el(
          "p",
          { class: "earlier-warning", "data-testid": "earlier-unverified" },
          "Found by the e-mail address alone, which nobody verified: it may be someone else's.",
        )
      : null,
  );
}

/** Matched only by the address the customer typed (anyone can type anyone's address). */
function emailOnly(ticket) {
  const how = ticket.matched_by ?? [];
  return how.includes("email") && !how.includes("browser");
}

function historySection(history) {
  return ctxSection(
    "History",
    history.length
      ? el("ol", { class: "history" }, history.map(historyItem))
      : el("p", { class: "ctx-muted" }, "No state changes yet."),
  );
}

/** One state transition: "queued → agent", then who, why and when. */
/** Who made a change, as a person reads it: "agent:anna" is anna, "bot" the bot. */
function actorName(actor) {
  if (typeof actor !== "string") return personName(actor);
  if (actor.startsWith("agent:")) return actor.slice("agent:".length);
  return { bot: "Bot", customer: "Customer", hub: "Hub" }[actor] ?? actor;
}

/** "handoff: steps_exhausted" reads "Handed over: guide did not help". */
function changeReason(reason) {
  const handoff = /^handoff: (\w+)$/.exec(reason ?? "");
  if (!handoff) return reason;
  return `Handed over: ${reasonLabel(handoff[1]).toLowerCase()}`;
}

/** A code such as "wont_turn_on" as words: "wont turn on". */
function humanize(code) {
  return String(code).replaceAll("_", " ");
}

function historyItem(change) {
  return el(
    "li",
    { class: "history-item" },
    el(
      "p",
      { class: "history-change" },
      el("span", { class: "state-chip" }, change.from_state ?? "—"),
      " → ",
      el("span", { class: "state-chip" }, change.to_state),
    ),
    el(
      "p",
      { class: "history-meta" },
      [actorName(change.actor), changeReason(change.reason), formatDateTime(change.at)].filter(Boolean).join(" · "),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Knowledge-base search

function resetKnowledgeBase() {
  clearTimeout(state.kbTimer);
  state.kbRequest++;
  $("kb-search").value = "";
  $("kb-status").textContent = "";
  $("kb-results").replaceChildren();
}

function scheduleKbSearch() {
  clearTimeout(state.kbTimer);
  state.kbTimer = setTimeout(runKbSearch, 300);
}

async function runKbSearch(event) {
  event?.preventDefault();
  clearTimeout(state.kbTimer);
  const query = $("kb-search").value.trim();
  const ticket = state.detail?.ticket;
  const request = ++state.kbRequest;
  if (query.length < 2 || !ticket) {
    $("kb-status").textContent = "";
    $("kb-results").replaceChildren();
    return;
  }
  const params = new URLSearchParams({ q: query });
  if (ticket.language) params.set("language", ticket.language);
  if (ticket.category) params.set("category", ticket.category);
  $("kb-status").textContent = "Searching…";
  try {
    const { results } = await api("GET", `/kb/search?${params}`);
    if (request !== state.kbRequest) return;
    $("kb-status").textContent = results.length
      ? `${results.length} article${results.length === 1 ? "" : "s"}`
      : "No articles found.";
    $("kb-results").replaceChildren(...results.map(kbResult));
  } catch (error) {
    if (request === state.kbRequest) $("kb-status").textContent = error.message;
  }
}

function kbResult(article) {
  const mine = isMine(state.openId);
  return el(
    "li",
    { class: "kb-article", "data-testid": "kb-result", "data-article-id": article.article_id },
    el("p", { class: "kb-title" }, article.title),
    el("p", { class: "kb-meta" }, `${categoryLabel(article.category)} · ${article.article_id}`),
    el(
      "ol",
      { class: "kb-steps" },
      (article.steps ?? []).map((s) =>
        el(
          "li",
          { class: "kb-step" },
          el("span", { class: "step-num" }, `${s.step}.`),
          el("span", { class: "kb-step-text" }, s.text),
          el(
            "button",
            {
              type: "button",
              class: "btn btn--small",
              "data-testid": "kb-send-step",
              disabled: !mine,
              "aria-label": `Send step ${s.step} of ${article.title} to the customer`,
              onclick: (event) => sendKbStep(event.currentTarget, article, s.step),
            },
            "Send",
          ),
        ),
      ),
    ),
  );
}

async function sendKbStep(button, article, step) {
  const ticketId = state.openId;
  button.disabled = true;
  try {
    const { message } = await api("POST", `/tickets/${encodeURIComponent(ticketId)}/messages`, {
      article_id: article.article_id,
      step,
    });
    if (ticketId === state.openId) addMessageToOpen(message);
    button.textContent = "Sent";
  } catch (error) {
    reportError(error);
  } finally {
    button.disabled = !isMine(state.openId);
  }
}

// ---------------------------------------------------------------------------------------------
// Dialogs (one native <dialog>, modal: Escape closes it, the page behind is inert)

/** Show the dialog with body nodes. onConfirm() resolves to nothing (done: close), to a problem text
 *  (shown, dialog stays open), or throws an ApiError (its message is shown). */
function openDialog({ title, body, confirmLabel, onConfirm }) {
  const dialog = $("dialog");
  state.dialogOpener = document.activeElement;
  $("dialog-title").textContent = title;
  $("dialog-body").replaceChildren(...body);
  $("dialog-confirm").textContent = confirmLabel;
  $("dialog-confirm").disabled = false;
  showFormError($("dialog-error"), "");
  state.dialogSubmit = onConfirm;
  dialog.showModal();
  const first = dialog.querySelector("textarea, input:not([disabled]), select");
  (first ?? $("dialog-confirm")).focus();
}

function closeDialog() {
  const dialog = $("dialog");
  if (!dialog.open) return;
  dialog.close();
}

function onDialogClosed() {
  state.dialogSubmit = null;
  $("dialog-body").replaceChildren();
  if (state.dialogOpener?.isConnected) state.dialogOpener.focus();
  state.dialogOpener = null;
}

async function submitDialog(event) {
  event.preventDefault();
  if (!state.dialogSubmit) return;
  const confirm = $("dialog-confirm");
  confirm.disabled = true;
  try {
    const problem = await state.dialogSubmit();
    if (problem) showFormError($("dialog-error"), problem);
    else closeDialog();
  } catch (error) {
    showFormError($("dialog-error"), error.message);
  } finally {
    confirm.disabled = false;
  }
}

/** Keep Tab inside the dialog (showModal makes the page inert, but not the browser chrome). */
function trapDialogFocus(event) {
  if (event.key !== "Tab") return;
  const focusable = [...$("dialog").querySelectorAll("button, input, select, textarea, a[href]")].filter(
    (node) => !node.disabled && node.getClientRects().length > 0,
  );
  if (!focusable.length) return;
  const first = focusable[0];
  const last = focusable[focusable.length - 1];
  if (event.shiftKey && document.activeElement === first) {
    event.preventDefault();
    last.focus();
  } else if (!event.shiftKey && document.activeElement === last) {
    event.preventDefault();
    first.focus();
  }
}

function textField(id, label, { required = false, hint = "", testid = null, rows = 4 } = {}) {
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, label, required ? null : el("span", { class: "optional" }, " (optional)")),
    el("textarea", {
      id,
      rows,
      maxlength: 2000,
      required,
      "aria-required": required ? "true" : null,
      "data-testid": testid,
    }),
    hint ? el("p", { class: "field-hint" }, hint) : null,
  );
}

/** Value of a required dialog textarea, or null after focusing it (the caller reports the problem). */
function requiredText(id) {
  const field = $(id);
  const value = field.value.trim();
  if (!value) field.focus();
  return value || null;
}

// --- actions on the open chat ---

function ticketPath(id, action) {
  return `/tickets/${encodeURIComponent(id)}/${action}`;
}

/** Resolve, escalate, transfer or return. The hub also sends chat_closed for it, usually before its
 *  answer arrives; state.closing keeps onChatClosed from reporting our own action as news. */
async function closeChat(id, action, body) {
  state.closing.add(id);
  try {
    await api("POST", ticketPath(id, action), body);
    removeChat(id);
  } finally {
    state.closing.delete(id);
  }
}

function addNoteDialog() {
  const id = state.openId;
  openDialog({
    title: "Add internal note",
    body: [
      el(
        "p",
        { class: "dialog-note" },
        icon("lock"),
        "Internal notes are visible to agents only, never to the customer.",
      ),
      textField("note-text", "Note", { required: true, testid: "note-text" }),
    ],
    confirmLabel: "Save note",
    onConfirm: async () => {
      const text = requiredText("note-text");
      if (!text) return "Write the note first.";
      const { note } = await api("POST", ticketPath(id, "notes"), { text });
      if (id === state.openId && state.detail) {
        state.detail.notes = [...(state.detail.notes ?? []), note];
        renderTranscript();
      }
      toast("Note saved.", { kind: "success" });
    },
  });
}

function resolveDialog() {
  const id = state.openId;
  openDialog({
    title: "Resolve chat",
    body: [
      textField("resolution-note", "Resolution note", {
        required: true,
        testid: "resolution-note",
        hint: "What was the problem and what solved it?",
      }),
      el(
        "label",
        { class: "check" },
        el("input", { type: "checkbox", id: "kb-candidate", "data-testid": "kb-candidate" }),
        " Should become knowledge-base content",
      ),
    ],
    confirmLabel: "Resolve",
    onConfirm: async () => {
      const note = requiredText("resolution-note");
      if (!note) return "A resolution note is required.";
      const forKnowledgeBase = $("kb-candidate").checked;
      await closeChat(id, "resolve", { note, kb_candidate: forKnowledgeBase });
      toast(forKnowledgeBase ? "Chat resolved. Your suggestion goes to the editors." : "Chat resolved.", {
        kind: "success",
      });
      if (forKnowledgeBase) loadSuggestions().catch(reportError);
    },
  });
}

function escalateDialog() {
  const id = state.openId;
  openDialog({
    title: "Escalate to third level",
    body: [
      el(
        "div",
        { class: "field" },
        el("label", { for: "escalate-group" }, "Target group"),
        el(
          "select",
          { id: "escalate-group", "data-testid": "escalate-group" },
          ESCALATION_GROUPS.map(([value, label]) => el("option", { value }, label)),
        ),
      ),
      textField("escalate-note", "Note for the group", {
        required: true,
        testid: "escalate-note",
        hint: "What has been checked, and what do you need from them?",
      }),
      ...(state.detail?.customer?.email
        ? []
        : [
            el(
              "p",
              { class: "dialog-hint", "data-testid": "escalate-no-email" },
              "The customer has left no e-mail address yet: the chat asks them for one, so the group can reach them.",
            ),
          ]),
    ],
    confirmLabel: "Escalate",
    onConfirm: async () => {
      const note = requiredText("escalate-note");
      if (!note) return "A note for the group is required.";
      const group = $("escalate-group").value;
      await closeChat(id, "escalate", { group, note });
      toast(`Escalated to ${ESCALATION_GROUPS.find(([value]) => value === group)[1]}.`, { kind: "success" });
    },
  });
}

async function transferDialog() {
  const id = state.openId;
  const list = el(
    "div",
    { class: "transfer-list", role: "radiogroup", "aria-label": "Transfer to" },
    el("p", { class: "ctx-muted" }, "Loading agents…"),
  );
  openDialog({
    title: "Transfer chat",
    body: [
      list,
      textField("transfer-note", "Handover note", {
        testid: "transfer-note",
        rows: 3,
        hint: "What the next person should know. Only agents see it, as a note on the ticket.",
      }),
    ],
    confirmLabel: "Transfer",
    onConfirm: async () => {
      const choice = list.querySelector("input[name='transfer-target']:checked");
      if (!choice) return "Choose an agent or the queue.";
      const agentId =
        choice.value === "queue" ? null : state.agents.find((a) => String(a.id) === choice.value)?.id;
      const note = $("transfer-note").value.trim() || null;
      await closeChat(id, "transfer", { agent_id: agentId, note });
      toast(
        agentId === null ? "Chat sent back to the queue." : `Chat transferred to ${choice.dataset.name}.`,
        { kind: "success" },
      );
    },
  });
  try {
    await loadAgents();
    list.replaceChildren(...transferOptions(currentTicket()));
  } catch (error) {
    list.replaceChildren(el("p", { class: "form-error" }, error.message));
  }
}

/** Mirrors the hub's routing: an agent's skills (empty = all) must include the ticket's device and language. */
function coversTicket(agent, ticket) {
  const categories = agent.categories ?? [];
  const languages = agent.languages ?? [];
  const categoryOk = !categories.length || !ticket.category || categories.includes(ticket.category);
  const languageOk = !languages.length || languages.includes(ticket.language);
  return agent.role === "admin" || (categoryOk && languageOk);
}

/** Only online agents who cover the ticket can take it; the others are listed but disabled. */
function transferOptions(ticket) {
  const order = { online: 0, away: 1, offline: 2 };
  const others = state.agents
    .filter((a) => a.id !== state.agent.id && a.role !== "editor") // editors take no chats
    .sort(
      (a, b) =>
        (order[a.presence] ?? 3) - (order[b.presence] ?? 3) || personName(a).localeCompare(personName(b)),
    );
  const option = (value, name, detail, { disabled = false, dot = null, agentId = null } = {}) =>
    el(
      "label",
      {
        class: `transfer-option${disabled ? " is-disabled" : ""}`,
        "data-testid": "transfer-option",
        "data-agent-id": agentId,
      },
      el("input", { type: "radio", name: "transfer-target", value, "data-name": name, disabled }),
      dot,
      el("span", { class: "transfer-name" }, name),
      el("span", { class: "transfer-detail" }, detail),
    );
  return [
    option("queue", "Back to the queue", "Any matching agent can claim it"),
    ...others.map((a) => {
      const covers = coversTicket(a, ticket);
      const detail = [
        a.presence,
        `${a.open_chats ?? 0} / ${a.capacity} chats`,
        languageCodes(a.languages) || "all languages",
        covers ? null : "does not cover this ticket",
      ];
      return option(String(a.id), personName(a), detail.filter(Boolean).join(" · "), {
        disabled: a.presence !== "online" || !covers,
        dot: presenceDot(a.presence),
        agentId: a.id,
      });
    }),
  ];
}

function returnToBotDialog() {
  const id = state.openId;
  openDialog({
    title: "Return to the bot",
    body: [
      el("p", { class: "dialog-note" }, "The bot takes the conversation over again; the customer is told."),
      textField("return-note", "Note", { testid: "return-note", rows: 3 }),
    ],
    confirmLabel: "Return to bot",
    onConfirm: async () => {
      const note = $("return-note").value.trim();
      await closeChat(id, "return-to-bot", note ? { note } : {});
      toast("Chat returned to the bot.", { kind: "success" });
    },
  });
}

// ---------------------------------------------------------------------------------------------
// Admin: agents

async function loadAgents() {
  const { agents } = await api("GET", "/agents");
  state.agents = agents;
}

async function loadAgentsView() {
  try {
    await loadAgents();
    renderAgentsTable();
  } catch (error) {
    reportError(error);
  }
}

function renderAgentsTable() {
  $("agents-body").replaceChildren(...state.agents.map(agentRow));
}

function agentRow(agent) {
  const cell = (...children) => el("td", {}, children);
  return el(
    "tr",
    { "data-testid": "agent-row", "data-agent-id": agent.id },
    cell(
      el("span", { class: "agent-name" }, personName(agent)),
      el("span", { class: "agent-username" }, agent.username),
    ),
    cell(el("span", { class: "role-badge" }, ROLE_NAMES[agent.role] ?? agent.role)),
    cell(
      agent.categories?.length
        ? agent.categories.map((c) => el("span", { class: "tag" }, categoryLabel(c)))
        : el("span", { class: "ctx-muted" }, "All devices"),
    ),
    cell(agent.languages?.length ? agent.languages.map(languageBadge) : el("span", { class: "ctx-muted" }, "All")),
    el("td", { class: "num" }, `${agent.open_chats ?? 0} / ${agent.capacity}`),
    cell(el("span", { class: "presence-cell" }, presenceDot(agent.presence), agent.presence)),
    cell(el("span", { class: "account-actions" }, editAgentButton(agent), accountControl(agent))),
  );
}

function editAgentButton(agent) {
  const button = el(
    "button",
    { type: "button", class: "btn btn--small", "data-testid": "edit-agent", "aria-label": `Edit ${personName(agent)}` },
    "Edit",
  );
  button.addEventListener("click", () => editAgentDialog(agent));
  return button;
}

/** Checkboxes for a skill list (none checked = all); `chosen` empty means all are checked. */
function checkGroup(legend, name, options, chosen) {
  return el(
    "fieldset",
    { class: "field" },
    el("legend", {}, legend),
    Object.entries(options).map(([value, label]) =>
      el(
        "label",
        { class: "check" },
        el("input", {
          type: "checkbox",
          name,
          value,
          checked: !chosen?.length || chosen.includes(value),
          "data-testid": `edit-${name}-${value}`,
        }),
        ` ${label}`,
      ),
    ),
  );
}

/** An admin changes an agent's name, role, skills, capacity or password. */
function editAgentDialog(agent) {
  const self = agent.id === state.agent?.id;
  const checked = (name) => [...$("dialog-body").querySelectorAll(`input[name='${name}']:checked`)].map((n) => n.value);
  openDialog({
    title: `Edit ${personName(agent)}`,
    body: [
      el(
        "div",
        { class: "field" },
        el("label", { for: "edit-display-name" }, "Display name"),
        el("input", {
          id: "edit-display-name",
          value: agent.display_name,
          maxlength: 100,
          required: true,
          autocomplete: "off",
          "aria-describedby": "edit-display-name-hint",
          "data-testid": "edit-display-name",
        }),
        el("p", { id: "edit-display-name-hint", class: "field-hint" }, "Customers see this name."),
      ),
      el(
        "div",
        { class: "field-row" },
        el(
          "div",
          { class: "field" },
          el("label", { for: "edit-role" }, "Role"),
          el(
            "select",
            { id: "edit-role", "data-testid": "edit-role", disabled: self },
            Object.entries(ROLE_NAMES).map(([value, label]) =>
              el("option", { value, selected: value === agent.role }, label),
            ),
          ),
        ),
        el(
          "div",
          { class: "field" },
          el("label", { for: "edit-capacity" }, "Capacity (chats)"),
          el("input", {
            id: "edit-capacity",
            type: "number",
            min: "1",
            max: "20",
            step: "1",
            value: String(agent.capacity),
            "data-testid": "edit-capacity",
          }),
        ),
      ),
      checkGroup("Categories", "categories", CATEGORIES, agent.categories),
      checkGroup("Languages", "languages", LANGUAGES, agent.languages),
      el(
        "div",
        { class: "field" },
        el("label", { for: "edit-password" }, "New password (optional)"),
        el("input", {
          id: "edit-password",
          type: "password",
          autocomplete: "new-password",
          minlength: "12",
          "aria-describedby": "edit-password-hint",
          "data-testid": "edit-password",
        }),
        el(
          "p",
          { id: "edit-password-hint", class: "field-hint" },
          "At least 12 characters. A new password or role signs them out; open chats of someone who no longer " +
            "takes chats go back to the queue.",
        ),
      ),
    ],
    confirmLabel: "Save",
    onConfirm: async () => {
      const displayName = $("edit-display-name").value.trim();
      if (!displayName) return "Enter a display name.";
      const capacity = Number($("edit-capacity").value);
      if (!Number.isInteger(capacity) || capacity < 1 || capacity > 20) return "Capacity: a whole number from 1 to 20.";
      const categories = checked("categories");
      const languages = checked("languages");
      if (!categories.length) return "Choose at least one category.";
      if (!languages.length) return "Choose at least one language.";
      const password = $("edit-password").value;
      if (password && password.length < 12) return "The password needs at least 12 characters.";
      const all = (list, options) => (list.length === Object.keys(options).length ? [] : list);
      const wanted = {
        display_name: displayName,
        capacity,
        categories: all(categories, CATEGORIES),
        languages: all(languages, LANGUAGES),
        role: $("edit-role").value,
      };
      // only what the admin changed: a change someone else saved meanwhile stays
      const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);
      const body = Object.fromEntries(Object.entries(wanted).filter(([name, value]) => !same(value, agent[name] ?? [])));
      if (password) body.password = password;
      if (!Object.keys(body).length) return null; // nothing changed: the dialog just closes
      const { agent: saved } = await api("PATCH", `/agents/${agent.id}`, body);
      state.agents = state.agents.map((a) => (a.id === saved.id ? saved : a));
      renderAgentsTable();
      toast(`${personName(saved)} saved.`, { kind: "success" });
    },
  });
}

/** Lock an agent out (sessions and open consoles end, chats back to the queue) or let them back in. */
function accountControl(agent) {
  if (agent.id === state.agent?.id) return el("span", { class: "agent-username" }, "you");
  const active = agent.active !== false;
  const button = el(
    "button",
    { type: "button", class: "btn btn--small", "data-testid": active ? "deactivate" : "activate" },
    active ? "Deactivate" : "Activate",
  );
  button.addEventListener("click", () =>
    openDialog({
      title: active ? `Deactivate ${personName(agent)}?` : `Activate ${personName(agent)}?`,
      body: [
        el(
          "p",
          {},
          active
            ? "They are signed out at once and cannot sign in again; their open chats go back to the queue."
            : "They can sign in again with their password.",
        ),
      ],
      confirmLabel: active ? "Deactivate" : "Activate",
      onConfirm: async () => {
        await api("PATCH", `/agents/${agent.id}`, { active: !active });
        await loadAgentsView();
        toast(`${personName(agent)} ${active ? "deactivated" : "activated"}.`, { kind: "success" });
      },
    }),
  );
  return button;
}

/** [field id, message] of the first invalid field, or null. */
function agentFormProblem(body) {
  if (!body.username) return ["new-username", "Enter a username."];
  if (!body.display_name) return ["new-display-name", "Enter a display name."];
  if (body.password.length < 12) return ["new-password", "The password needs at least 12 characters."];
  if (!Number.isInteger(body.capacity) || body.capacity < 1) {
    return ["new-capacity", "Capacity must be a whole number of at least 1."];
  }
  return null;
}

async function submitAgentForm(event) {
  event.preventDefault();
  const form = $("agent-form");
  const errorNode = $("agent-form-error");
  const values = new FormData(form);
  const body = {
    username: String(values.get("username")).trim(),
    display_name: String(values.get("display_name")).trim(),
    password: String(values.get("password")),
    role: values.get("role"),
    categories: values.getAll("categories"),
    languages: values.getAll("languages"),
    capacity: Number(values.get("capacity")),
  };
  const problem = agentFormProblem(body);
  if (problem) {
    showFormError(errorNode, problem[1]);
    $(problem[0]).focus();
    return;
  }
  const submit = form.querySelector("[type='submit']");
  submit.disabled = true;
  try {
    const { agent } = await api("POST", "/agents", body);
    state.agents = [...state.agents, agent];
    renderAgentsTable();
    form.reset();
    showFormError(errorNode, "");
    toast(`Agent ${personName(agent)} created.`, { kind: "success" });
  } catch (error) {
    showFormError(errorNode, error.message);
  } finally {
    submit.disabled = false;
  }
}

function onPresence(agent) {
  if (state.agent && agent.id === state.agent.id) {
    const skills = (a) => JSON.stringify([a.categories, a.languages]);
    const skillsChanged = skills(state.agent) !== skills({ ...state.agent, ...agent });
    state.agent = { ...state.agent, ...agent };
    renderHeader();
    if (skillsChanged) loadQueue().catch(reportError); // an admin changed what this agent covers
  }
  const index = state.agents.findIndex((a) => a.id === agent.id);
  if (index >= 0) {
    state.agents[index] = { ...state.agents[index], ...agent };
    if (state.view === "agents") renderAgentsTable();
  }
}

// ---------------------------------------------------------------------------------------------
// WebSocket: live events, reconnect with backoff, keep-alive

const SOCKET_HANDLERS = {
  ticket_queued: (e) => onTicketQueued(e.ticket),
  ticket_taken: (e) => onTicketTaken(e.ticket_id),
  chat_assigned: (e) => onChatAssigned(e.ticket),
  chat_closed: (e) => onChatClosed(e.ticket_id, e.status),
  suggestion_decided: (e) => onSuggestionDecided(e.suggestion),
  message: (e) => onMessage(e.ticket_id, e.message),
  typing: (e) => onCustomerTyping(e.ticket_id, e.typing),
  customer_presence: (e) => onCustomerPresence(e.ticket_id, e.present),
  emailed: (e) => onEmailed(e.conversation_id, e.message_ids),
  presence: (e) => onPresence(e.agent),
  ack: (e) => onAck(e.client_id, e.message),
  error: (e) => onSocketError(e.client_id, e.error),
};

function connectSocket() {
  clearTimeout(state.wsRetryTimer);
  const previous = state.ws;
  state.ws = null;
  previous?.close(1000);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${API}/ws`);
  state.ws = ws;
  ws.addEventListener("open", () => onSocketOpen(ws));
  ws.addEventListener("message", (event) => {
    if (state.ws === ws) onSocketMessage(event);
  });
  ws.addEventListener("close", (event) => onSocketClose(ws, event));
}

function onSocketOpen(ws) {
  if (state.ws !== ws) return;
  const reconnected = state.wsAttempt > 0;
  state.wsAttempt = 0;
  show($("offline-banner"), false);
  clearInterval(state.pingTimer);
  state.pingTimer = setInterval(() => sendSocket({ type: "ping" }), PING_INTERVAL_MS);
  // Events sent while we were away are lost: fetch the current picture again.
  if (reconnected) refreshAll();
}

function onSocketMessage(event) {
  let data;
  try {
    data = JSON.parse(event.data);
  } catch {
    return;
  }
  SOCKET_HANDLERS[data?.type]?.(data);
}

function onSocketClose(ws, event) {
  if (state.ws !== ws) return; // a socket we replaced or closed on purpose
  state.ws = null;
  if (event.code === 1008 && event.reason) {
    // the session ended (signed out elsewhere, expired, deactivated, changed by an admin): the hub says why
    signedOut(event.reason);
    return;
  }
  clearInterval(state.pingTimer);
  scheduleReconnect();
}

function scheduleReconnect() {
  const delay = Math.min(MAX_BACKOFF_S, 2 ** state.wsAttempt);
  state.wsAttempt++;
  show($("offline-banner"), true);
  $("offline-text").textContent = `Connection lost. Reconnecting in ${delay} s…`;
  state.wsRetryTimer = setTimeout(reconnect, delay * 1000);
}

/** Check the session first: a 401 means sign in again, not keep retrying. */
async function reconnect() {
  clearTimeout(state.wsRetryTimer);
  $("offline-text").textContent = "Reconnecting…";
  try {
    const me = await api("GET", "/me");
    state.agent = { ...state.agent, ...me.agent };
    state.csrf = me.csrf_token;
    renderHeader();
    connectSocket();
  } catch (error) {
    if (error.status !== 401) scheduleReconnect();
  }
}

function disconnectSocket() {
  const ws = state.ws;
  state.ws = null;
  state.wsAttempt = 0;
  clearInterval(state.pingTimer);
  clearTimeout(state.wsRetryTimer);
  show($("offline-banner"), false);
  ws?.close(1000);
}

/** Send a JSON frame if the socket is open; returns whether it was sent. */
function sendSocket(payload) {
  const ws = state.ws;
  if (!ws || ws.readyState !== WebSocket.OPEN) return false;
  ws.send(JSON.stringify(payload));
  return true;
}

async function refreshAll() {
  try {
    await Promise.all([loadQueue(), loadChats(), loadSuggestions(), loadClosed()]);
    if (state.openId) await openConversation(state.openId);
  } catch (error) {
    reportError(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Wiring

function wire() {
  $("signin-form").addEventListener("submit", submitSignIn);
  $("sign-out").addEventListener("click", signOut);
  $("presence").addEventListener("click", togglePresence);
  $("notify-permission").addEventListener("click", requestNotifyPermission);
  $("reconnect-now").addEventListener("click", reconnect);
  for (const tab of document.querySelectorAll(".tab[data-view]")) {
    tab.addEventListener("click", () => setView(tab.dataset.view));
  }

  $("composer-form").addEventListener("submit", sendReply);
  $("composer").addEventListener("keydown", onComposerKeydown);
  $("composer").addEventListener("input", onComposerInput);
  $("composer").addEventListener("blur", stopMyTyping);
  $("preview-claim").addEventListener("click", () => claim(state.openId));

  $("act-note").addEventListener("click", addNoteDialog);
  $("act-resolve").addEventListener("click", resolveDialog);
  $("act-escalate").addEventListener("click", escalateDialog);
  $("act-transfer").addEventListener("click", transferDialog);
  $("act-return").addEventListener("click", returnToBotDialog);

  $("kb-form").addEventListener("submit", runKbSearch);
  $("kb-search").addEventListener("input", scheduleKbSearch);

  $("dialog-form").addEventListener("submit", submitDialog);
  $("dialog-cancel").addEventListener("click", closeDialog);
  $("dialog").addEventListener("close", onDialogClosed);
  $("dialog").addEventListener("keydown", trapDialogFocus);

  $("agent-form").addEventListener("submit", submitAgentForm);

  setInterval(tickWaitTimes, 5_000);
}

wire();
boot();
