// Knowledge page of the support console: editors review drafts from resolved handoffs and label the
// messages the bot did not understand. Talks to /api/v1/editor (docs/hub-api.md); customer text is only
// ever inserted as text (textContent / input values), never as HTML.

import { $, apiClient, el, reasonLabel, toast } from "/common.js";

const API = "/api/v1";
const LANGS = [
  ["en", "English"],
  ["de", "German"],
];
const CATEGORIES = ["phone", "camera", "notebook", "any"];
const HANDOFF = [
  ["after_steps", "after the steps"],
  ["never", "never"],
  ["immediately", "immediately"],
];
const PRIORITIES = ["low", "normal", "high", "urgent"];

const state = {
  me: null,
  csrf: null,
  inbox: "drafts",
  drafts: [],
  draft: null, // the open draft (detail), edited in place
  messages: [],
  selected: new Set(),
  intents: [],
  retrainTimer: null,
};

const api = apiClient({
  base: API,
  csrf: () => state.csrf,
  onUnauthorized: () => window.location.assign("/console"),
});

const report = (error) => toast(error.message, { kind: "error" });

function when(iso) {
  return iso ? new Date(iso).toLocaleString([], { dateStyle: "medium", timeStyle: "short" }) : "";
}

// ---------------------------------------------------------------------------------------------
// Start

async function boot() {
  try {
    const me = await api("GET", "/agent/me");
    state.me = me.agent;
    state.csrf = me.csrf_token;
  } catch (error) {
    if (error.status !== 401) $("boot").textContent = error.message;
    return;
  }
  if (!["editor", "admin"].includes(state.me.role)) {
    $("boot").textContent = "The knowledge page is for editors. Ask an administrator for the editor role.";
    return;
  }
  $("boot").remove();
  $("app-view").hidden = false;
  $("me-name").textContent = state.me.display_name;
  $("me-role").textContent = state.me.role === "admin" ? "Admin" : "Editor";
  $("nav-console").hidden = state.me.role === "editor";
  $("sign-out").addEventListener("click", signOut);
  for (const tab of document.querySelectorAll(".inbox-tab")) {
    tab.addEventListener("click", () => switchInbox(tab.dataset.inbox));
  }
  $("draft-status").addEventListener("change", loadDrafts);
  $("message-language").addEventListener("change", loadMessages);
  $("select-all").addEventListener("change", (event) => selectAll(event.target.checked));
  $("bulk-label").addEventListener("click", () => labelSelected($("bulk-intent").value));
  $("bulk-dismiss").addEventListener("click", () => labelSelected(null));
  state.intents = (await api("GET", "/editor/intents")).intents;
  $("bulk-intent").replaceChildren(...state.intents.map((i) => el("option", { value: i }, i)));
  await Promise.all([loadDrafts(), loadMessages(), loadRetrain(), loadAttention()]);
  const wanted = new URLSearchParams(location.search).get("draft");
  if (wanted) openDraft(Number(wanted));
}

async function signOut() {
  try {
    await api("DELETE", "/agent/session");
  } finally {
    window.location.assign("/console");
  }
}

function switchInbox(name) {
  state.inbox = name;
  for (const tab of document.querySelectorAll(".inbox-tab")) {
    if (tab.dataset.inbox === name) tab.setAttribute("aria-current", "page");
    else tab.removeAttribute("aria-current");
  }
  const drafts = name === "drafts";
  for (const id of ["draft-view", "source", "draft-list", "draft-status"]) $(id).hidden = !drafts;
  $("draft-empty").hidden = !drafts || state.drafts.length > 0;
  $("messages-view").hidden = drafts;
  document.querySelector(".editor").classList.toggle("editor--messages", !drafts);
  (drafts ? loadDrafts : loadMessages)(); // what arrived since the page loaded (each reports its own errors)
}

// ---------------------------------------------------------------------------------------------
// Drafts

async function loadDrafts() {
  try {
    const status = $("draft-status").value;
    state.drafts = (await api("GET", `/editor/drafts?status=${status}`)).drafts;
    if (status === "pending") $("drafts-count").textContent = state.drafts.length;
    renderDraftList();
  } catch (error) {
    report(error);
  }
}

/** A draft's field path as an editor reads it: "article.steps.1.de.do" is "step 1: what to do (German)". */
function fieldLabel(path) {
  const parts = path.split(".").filter((p) => p !== "article" && p !== "step");
  const language = parts.find((p) => p === "de" || p === "en");
  const rest = parts.filter((p) => p !== language);
  const names = { do: "what to do", check: "how to tell it helped", title: "title", symptoms: "symptoms" };
  const words = rest[0] === "steps" ? [`step ${rest[1]}:`, names[rest[2]] ?? rest[2]] : rest.map((p) => names[p] ?? p);
  return `${words.join(" ")} (${language === "de" ? "German" : "English"})`;
}

function draftTitle(draft) {
  const content = draft.content ?? {};
  if (draft.kind === "article") {
    const title = content.article?.title ?? {};
    return title[draft.language] || title.en || title.de || draft.article_id;
  }
  return `New step for ${draft.article_id}`;
}

function renderDraftList() {
  const rows = state.drafts.map((draft) =>
    el(
      "li",
      {},
      el(
        "button",
        {
          type: "button",
          class: `ticket-row draft-row${state.draft?.id === draft.id ? " ticket-row--active" : ""}`,
          "data-testid": "draft-row",
          "aria-current": state.draft?.id === draft.id ? "true" : null,
          onclick: () => openDraft(draft.id),
        },
        el(
          "span",
          { class: "ticket-main" },
          el(
            "span",
            { class: "ticket-line" },
            el("span", { class: `tag ${draft.kind === "article" ? "tag--kb" : "tag--handoff"}` }, draft.kind === "article" ? "New article" : "New step"),
            el("span", { class: "badge badge--lang" }, draft.language.toUpperCase()),
          ),
          el("span", { class: "ticket-summary ticket-summary--strong" }, draftTitle(draft)),
          el(
            "span",
            { class: "ticket-reason" },
            draft.status === "pending"
              ? draft.missing.length
                ? `${draft.missing.length} field${draft.missing.length > 1 ? "s" : ""} missing`
                : "Ready to approve"
              : `${draft.status} ${when(draft.decided_at)}`,
          ),
        ),
        el("span", { class: "ticket-side" }, el("span", { class: "wait" }, `#${draft.ticket_id}`)),
      ),
    ),
  );
  $("draft-list").replaceChildren(...rows);
  $("draft-empty").hidden = state.inbox !== "drafts" || rows.length > 0;
}

async function openDraft(id) {
  try {
    state.draft = await api("GET", `/editor/drafts/${id}`);
  } catch (error) {
    report(error);
    return;
  }
  history.replaceState(null, "", `?draft=${id}`);
  renderDraftList();
  renderDraft();
  renderSource();
}

/** A labelled input or textarea bound to obj[key]; `missing` marks it as still to be filled. */
function field({ label, obj, key, multiline = false, lines = false, missing = false, testid, hint }) {
  const id = `f-${testid}`;
  const value = lines ? (obj[key] ?? []).join("\n") : (obj[key] ?? "");
  const attrs = {
    id,
    value,
    "data-testid": testid,
    "aria-invalid": missing ? "true" : null,
    class: missing ? "input--missing" : null,
    rows: multiline ? Math.max(2, Math.min(8, String(value).split("\n").length + 1)) : null,
    oninput: (event) => {
      const text = event.target.value;
      obj[key] = lines ? text.split("\n").map((s) => s.trim()).filter(Boolean) : text;
      markDirty();
    },
  };
  const input = multiline ? el("textarea", attrs) : el("input", { ...attrs, type: "text" });
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, label, missing && el("span", { class: "missing-flag" }, " missing")),
    input,
    hint && el("p", { class: "field-hint" }, hint),
  );
}

function select({ label, obj, key, options, testid }) {
  const id = `f-${testid}`;
  const node = el(
    "select",
    { id, "data-testid": testid, onchange: (event) => ((obj[key] = event.target.value), markDirty()) },
    options.map(([value, text]) => el("option", { value, selected: obj[key] === value }, text)),
  );
  return el("div", { class: "field" }, el("label", { for: id }, label), node);
}

function markDirty() {
  const save = $("save-draft");
  if (save) save.disabled = false;
}

function renderDraft() {
  const draft = state.draft;
  const form = $("draft-form");
  $("draft-placeholder").hidden = true;
  form.hidden = false;
  const editable = draft.status === "pending";
  const missing = new Set(draft.missing);
  const content = draft.content;
  const parts = [
    el(
      "header",
      { class: "draft-head" },
      el("div", {}, el("h1", { class: "conv-title" }, draftTitle(draft)),
        el("p", { class: "conv-meta" },
          el("span", { class: "meta-item" }, draft.kind === "article" ? "New article" : `New step for ${draft.article_id}`),
          el("span", { class: "meta-item" }, `from ticket #${draft.ticket_id}`),
          draft.author && el("span", { class: "meta-item" }, `resolved by ${draft.author}`),
          el("span", { class: "meta-item meta-item--muted" }, when(draft.created_at)))),
      editable && convertButton(draft),
    ),
  ];
  if (draft.missing.length && editable) {
    const langs = [...new Set(draft.missing.map((m) => m.split(".").find((p) => p === "en" || p === "de")))];
    parts.push(
      el(
        "p",
        { class: "ctx-warning", role: "status", "data-testid": "draft-missing" },
        `Supply the ${langs.map((l) => (l === "de" ? "German" : "English")).join(" and ")} text before approval: `,
        draft.missing.map(fieldLabel).join(", "),
      ),
    );
  }
  if (draft.status !== "pending") parts.push(decision(draft));
  parts.push(draft.kind === "article" ? articleFields(content.article, missing) : stepFields(content.step, missing));
  parts.push(exampleFields(content.examples ?? []));
  parts.push(storyFields(content));
  if (editable) {
    parts.push(
      el(
        "div",
        { class: "draft-actions" },
        el("button", { type: "button", id: "save-draft", class: "btn", "data-testid": "save-draft", disabled: true, onclick: saveDraft }, "Save"),
        el("button", { type: "button", class: "btn btn--primary", "data-testid": "approve-draft", onclick: approveDraft }, "Approve and publish"),
        el("button", { type: "button", class: "btn btn--ghost", "data-testid": "reject-draft", onclick: rejectDraft }, "Reject…"),
      ),
    );
  }
  form.replaceChildren(...parts.flat(Infinity).filter(Boolean));
  form.querySelectorAll("input, textarea, select").forEach((node) => {
    if (!editable) node.disabled = true;
  });
}

/** The bot may have tried an unrelated article: the editor can draft a new article instead (and back). */
function convertButton(draft) {
  const tried = draft.source?.ticket?.packet?.article_id;
  if (draft.kind === "step") {
    return el("button", { type: "button", class: "btn btn--small", "data-testid": "convert-article", onclick: () => convertDraft("article") }, "Make it a new article");
  }
  return tried ? el("button", { type: "button", class: "btn btn--small", "data-testid": "convert-step", onclick: () => convertDraft("step") }, `Make it a step for ${tried}`) : null;
}

async function convertDraft(kind) {
  try {
    const converted = await api("POST", `/editor/drafts/${state.draft.id}/convert`, { kind });
    state.draft = { ...state.draft, ...converted };
    renderDraft();
    await loadDrafts();
  } catch (error) {
    report(error);
  }
}

function decision(draft) {
  const result = draft.result ?? {};
  return el(
    "div",
    { class: `decision decision--${draft.status}`, "data-testid": "draft-result" },
    el("p", { class: "decision-title" }, draft.status === "approved" ? `Approved by ${draft.reviewer ?? "an editor"}` : `Rejected by ${draft.reviewer ?? "an editor"}`, " · ", when(draft.decided_at)),
    draft.reject_reason && el("p", {}, draft.reject_reason),
    result.files && el("ul", { class: "file-list" }, result.files.map((f) => el("li", {}, el("code", {}, f.replace(/^.*?\b(data|tests)\//, "$1/"))))),
    result.kb_revision && el("p", {}, `Knowledge base revision ${result.kb_revision}: the bot uses the article within seconds.`),
    result.retrain && result.retrain !== "not needed" && el("p", {}, `Retrain: ${result.retrain}`),
    (result.skipped_examples ?? []).length > 0 && el("p", { class: "ctx-muted" }, `Skipped examples: ${result.skipped_examples.map((s) => `“${s.text}” (${s.reason})`).join("; ")}`),
  );
}

function articleFields(article, missing) {
  const idBase = "article";
  const sections = [
    el("fieldset", { class: "draft-section" },
      el("legend", { class: "ctx-title" }, "Article"),
      el("div", { class: "grid-2" },
        field({ label: "Id", obj: article, key: "id", testid: "article-id", hint: "lower-case words joined by hyphens, starting with the category" }),
        field({ label: "Topic", obj: article, key: "topic", testid: "article-topic" })),
      el("div", { class: "grid-3" },
        select({ label: "Device", obj: article, key: "category", options: CATEGORIES.map((c) => [c, c]), testid: "article-category" }),
        select({ label: "Hand over", obj: article, key: "handoff", options: HANDOFF, testid: "article-handoff" }),
        select({ label: "Priority", obj: article, key: "priority", options: PRIORITIES.map((p) => [p, p]), testid: "article-priority" }))),
  ];
  const columns = LANGS.map(([lang, name]) =>
    el("div", { class: "lang-column" },
      el("h3", { class: "lang-title" }, name),
      field({ label: "Title", obj: article.title, key: lang, testid: `title-${lang}`, missing: missing.has(`${idBase}.title.${lang}`) }),
      field({ label: "How customers describe it (one per line)", obj: article.symptoms, key: lang, multiline: true, lines: true, testid: `symptoms-${lang}`, missing: missing.has(`${idBase}.symptoms.${lang}`) }),
      (article.steps ?? []).map((step, index) => {
        step[lang] ??= { do: "", check: "" };
        return el("div", { class: "step-edit" },
          el("p", { class: "step-num" }, `Step ${index + 1}`),
          field({ label: "What the customer does", obj: step[lang], key: "do", multiline: true, testid: `step-${index + 1}-${lang}-do`, missing: missing.has(`${idBase}.steps.${index + 1}.${lang}.do`) }),
          field({ label: "How they tell it helped", obj: step[lang], key: "check", testid: `step-${index + 1}-${lang}-check`, missing: missing.has(`${idBase}.steps.${index + 1}.${lang}.check`) }));
      })),
  );
  sections.push(el("div", { class: "lang-columns" }, columns));
  return sections;
}

function stepFields(step, missing) {
  return el("fieldset", { class: "draft-section" },
    el("legend", { class: "ctx-title" }, "New step"),
    el("div", { class: "lang-columns" },
      LANGS.map(([lang, name]) => {
        step[lang] ??= { do: "", check: "" };
        return el("div", { class: "lang-column" },
          el("h3", { class: "lang-title" }, name),
          field({ label: "What the customer does", obj: step[lang], key: "do", multiline: true, testid: `step-${lang}-do`, missing: missing.has(`step.${lang}.do`) }),
          field({ label: "How they tell it helped", obj: step[lang], key: "check", testid: `step-${lang}-check`, missing: missing.has(`step.${lang}.check`) }));
      })));
}

function exampleFields(examples) {
  if (!examples.length) return null;
  return el("fieldset", { class: "draft-section" },
    el("legend", { class: "ctx-title" }, "Training examples"),
    el("p", { class: "field-hint" }, "Customer turns the bot misunderstood or handed off on. Approved examples go into data/nlu and start a retrain."),
    el("table", { class: "label-table" },
      el("thead", {}, el("tr", {}, ["Use", "Customer text", "Lang.", "Bot understood", "Intent"].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, examples.map((example, index) =>
        el("tr", {},
          el("td", {}, el("input", { type: "checkbox", "aria-label": `Use example ${index + 1}`, "data-testid": "example-include", checked: example.include !== false, onchange: (e) => ((example.include = e.target.checked), markDirty()) })),
          el("td", {}, el("input", { type: "text", class: "cell-input", "aria-label": `Example ${index + 1}`, value: example.text, oninput: (e) => ((example.text = e.target.value), markDirty()) }),
            (example.entities ?? []).length > 0 && el("span", { class: "chips" }, example.entities.map((e) => el("span", { class: "chip" }, `${e.entity}: ${e.text}`)))),
          el("td", {}, el("span", { class: "badge badge--lang" }, example.language.toUpperCase())),
          el("td", { class: "ctx-muted" }, `${example.predicted ?? "?"} ${example.confidence != null ? `${Math.round(example.confidence * 100)} %` : ""}`),
          el("td", {}, el("select", { "aria-label": `Intent of example ${index + 1}`, onchange: (e) => ((example.intent = e.target.value), markDirty()) },
            state.intents.map((i) => el("option", { value: i, selected: i === example.intent }, i)))))))));
}

function storyFields(content) {
  const story = content.story;
  if (!story?.steps?.length) return null;
  return el("fieldset", { class: "draft-section" },
    el("legend", { class: "ctx-title" }, "Test story"),
    el("label", { class: "check" },
      el("input", { type: "checkbox", "data-testid": "story-include", checked: story.include !== false, onchange: (e) => ((story.include = e.target.checked), markDirty()) }),
      " Add to tests/stories (runs with every test and gates the next model)"),
    el("p", { class: "field-hint" }, el("code", {}, story.story)),
    el("ol", { class: "story-steps" }, story.steps.map((s) => el("li", {},
      s.user !== undefined ? [el("span", { class: "story-user" }, s.user), " ", el("span", { class: "intent" }, s.intent)] : el("code", {}, s.action)))));
}

function renderSource() {
  const { source } = state.draft;
  const ticket = source.ticket;
  const transcript = source.transcript.map((m) =>
    el("li", { class: `src-msg src-msg--${m.sender}` },
      el("span", { class: "msg-sender" }, m.sender),
      el("span", { class: "src-text" }, m.text)));
  $("source").replaceChildren(
    el("section", { class: "ctx-section" },
      el("h2", { class: "ctx-title" }, "Resolution"),
      el("p", { class: "resolution", "data-testid": "source-resolution" }, ticket.resolution_note ?? ""),
      el("p", { class: "ctx-muted" }, `Handed over: ${reasonLabel(ticket.reason)}`, ticket.category ? ` · ${ticket.category}` : "")),
    el("section", { class: "ctx-section" },
      el("h2", { class: "ctx-title" }, "What the bot understood"),
      el("ol", { class: "turns" }, source.turns.map((t) =>
        el("li", { class: `turn${t.confidence < 0.6 || t.intent === "nlu_fallback" ? " turn--low" : ""}` },
          el("span", { class: "turn-text" }, t.text),
          el("span", { class: "turn-meta" }, el("span", { class: "intent" }, t.intent ?? "?"), ` ${Math.round((t.confidence ?? 0) * 100)} %`))))),
    el("section", { class: "ctx-section" },
      el("h2", { class: "ctx-title" }, "Conversation"),
      el("ol", { class: "src-transcript" }, transcript)),
  );
}

async function saveDraft() {
  const draft = state.draft;
  try {
    const saved = await api("PUT", `/editor/drafts/${draft.id}`, { content: draft.content });
    state.draft = { ...draft, ...saved, source: draft.source };
    renderDraft();
    await loadDrafts();
    toast("Draft saved.", { kind: "success" });
    return true;
  } catch (error) {
    report(error);
    return false;
  }
}

async function approveDraft() {
  if (!$("save-draft").disabled && !(await saveDraft())) return;
  const button = document.querySelector("[data-testid=approve-draft]");
  button.disabled = true;
  button.textContent = "Publishing…";
  try {
    const done = await api("POST", `/editor/drafts/${state.draft.id}/approve`);
    state.draft = { ...state.draft, ...done };
    toast(done.kind === "article" ? `Article ${done.article_id} is live.` : `Step added to ${done.article_id}.`, {
      kind: "success",
    });
    renderDraft();
    await Promise.all([loadDrafts(), loadRetrain()]);
  } catch (error) {
    report(error);
    if (error.code === "missing_language") {
      state.draft.missing = error.fields ?? state.draft.missing;
      renderDraft();
    }
    button.disabled = false;
    button.textContent = "Approve and publish";
  }
}

async function rejectDraft() {
  const reason = window.prompt("Why is this draft rejected? The agent who resolved the ticket reads it.");
  if (!reason || !reason.trim()) return;
  try {
    const done = await api("POST", `/editor/drafts/${state.draft.id}/reject`, { reason });
    state.draft = { ...state.draft, ...done };
    renderDraft();
    await loadDrafts();
  } catch (error) {
    report(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Messages to label

async function loadMessages() {
  try {
    const language = $("message-language").value;
    const data = await api("GET", `/editor/inbox${language ? `?language=${language}` : ""}`);
    state.messages = data.items;
    state.selected.clear();
    $("messages-count").textContent = data.open;
    renderMessages();
  } catch (error) {
    report(error);
  }
}

function renderMessages() {
  const rows = state.messages.map((item) =>
    el("tr", { "data-testid": "message-row" },
      el("td", {}, el("input", { type: "checkbox", "aria-label": `Select “${item.text}”`, checked: state.selected.has(item.id), onchange: (e) => toggle(item, e.target.checked) })),
      el("td", { class: "label-text" }, item.text),
      el("td", {}, el("span", { class: "badge badge--lang" }, item.language.toUpperCase())),
      el("td", { class: "ctx-muted" }, `${item.intent ?? "?"} ${Math.round(item.confidence * 100)} %`),
      el("td", {}, item.suggested_intent ? el("span", { class: "intent" }, item.suggested_intent) : "—"),
      el("td", { class: "ctx-muted" }, item.source === "fallback" ? "not understood" : "handed off"),
    ),
  );
  $("message-rows").replaceChildren(...rows);
  $("messages-empty").hidden = rows.length > 0;
  renderSelection();
}

function toggle(item, on) {
  if (on) state.selected.add(item.id);
  else state.selected.delete(item.id);
  if (on && state.selected.size === 1 && item.suggested_intent) $("bulk-intent").value = item.suggested_intent;
  renderSelection();
}

function selectAll(on) {
  state.selected = new Set(on ? state.messages.map((m) => m.id) : []);
  renderMessages();
}

function renderSelection() {
  const n = state.selected.size;
  $("selected-count").textContent = `${n} selected`;
  $("bulk-label").disabled = n === 0;
  $("bulk-dismiss").disabled = n === 0;
}

async function labelSelected(intent) {
  try {
    const result = await api("POST", "/editor/inbox/label", { ids: [...state.selected], intent });
    const skipped = result.skipped.length ? ` ${result.skipped.length} skipped (already known).` : "";
    toast(intent ? `${result.labelled} examples added to ${intent}.${skipped}` : `${result.dismissed} dismissed.`, {
      kind: "success",
    });
    await Promise.all([loadMessages(), loadRetrain()]);
  } catch (error) {
    report(error);
  }
}

// ---------------------------------------------------------------------------------------------
// Articles whose guides stopped working (per-article health flags, last 30 days)

async function loadAttention() {
  let report;
  try {
    report = await api("GET", "/agent/articles/health");
  } catch {
    return;
  }
  const flagged = report.articles.filter((a) => a.flags.length > 0);
  $("attention-count").textContent = flagged.length;
  $("attention-empty").hidden = flagged.length > 0;
  $("attention-list").replaceChildren(
    ...flagged.map((a) =>
      el("li", { class: "attention-item", "data-testid": "attention-item" },
        el("span", { class: "ticket-summary ticket-summary--strong" }, a.title),
        a.flags.map((f) => el("span", { class: "ticket-reason attention-flag" }, f.message)))),
  );
}

// ---------------------------------------------------------------------------------------------
// Retrain status

const STAGES = { validating: "validating data", training: "training", testing: "running test stories", swapping: "loading the new model" };

async function loadRetrain() {
  clearTimeout(state.retrainTimer);
  let status;
  try {
    status = await api("GET", "/editor/retrain");
  } catch {
    return;
  }
  const box = $("retrain");
  box.className = `retrain retrain--${status.state}`;
  let text = "";
  if (status.state === "running") text = `Retraining: ${STAGES[status.stage] ?? status.stage}${status.percent != null ? ` ${status.percent} %` : ""}…`;
  else if (status.state === "done") text = `New model live ${when(status.finished_at)}`;
  else if (status.state === "failed") text = `Retrain failed at ${status.stage}: ${status.message ?? ""} (the previous model keeps running)`;
  box.textContent = text;
  box.hidden = !text;
  if (status.state === "running" || status.state === "queued") state.retrainTimer = setTimeout(loadRetrain, 3000);
}

boot();
