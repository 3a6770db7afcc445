// Shared by the hub's own pages (console, knowledge, dashboard): building DOM nodes, JSON requests to the
// hub's API, toasts. Loaded as an ES module; the chat widget (widget.js) stays self-contained.
//
// Security: text reaches the DOM only as text nodes and attributes; nothing here assigns HTML strings.

export const $ = (id) => document.getElementById(id);

/** Why a conversation was handed over: [label, explanation] (console, dashboard, knowledge page). */
export const HANDOFF_REASONS = {
  customer_request: ["Customer asked for a person", "The customer asked to talk to a person."],
  repeated_fallback: ["Bot did not understand", "The bot did not understand two messages in a row."],
  steps_exhausted: ["Guide did not help", "The customer tried every step of the guide; none solved it."],
  no_article: ["No matching guide", "The bot found no guide for the problem, even after asking."],
  human_topic: ["Needs a person", "Damage, liquid, warranty, repair, return or data recovery."],
  safety: ["Safety risk", "Swollen battery, smoke, burning smell or heat damage."],
  bot_unavailable: ["Bot unavailable", "The bot or its action server did not answer."],
  email_reply: ["Customer answered by e-mail", "The customer answered an e-mail after the chat had ended or gone back to the bot."],
};

/** A handoff reason's label ("Guide did not help") for its code ("steps_exhausted"). */
export const reasonLabel = (reason) => HANDOFF_REASONS[reason]?.[0] ?? reason ?? "Unknown reason";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_TOASTS = 4;

/** Build an element. attrs: "class", "on<event>" listeners (functions), "value" (the form field's value),
 *  everything else via setAttribute. Children: nodes, strings/numbers (as text nodes), arrays;
 *  null/false/undefined are skipped. */
export function el(tag, attrs = {}, ...children) {
  return build(document.createElement(tag), attrs, children);
}

/** The same for SVG elements (charts). */
export function svg(tag, attrs = {}, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

function build(node, attrs, children) {
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.setAttribute("class", value);
    else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
    else if (name === "value" && "value" in node) node.value = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  appendChildren(node, children);
  return node;
}

export function appendChildren(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A failed API request: HTTP status (0: no connection), the hub's error code and message, invalid fields. */
export class ApiError extends Error {
  constructor(status, code, message, fields) {
    super(message);
    Object.assign(this, { status, code, fields });
  }
}

/** `api(method, path, body)` for JSON requests under `base`. `csrf()` gives the token sent with changes;
 *  `onUnauthorized(path, code)` runs on a 401 (with the error's code) before the ApiError is thrown. */
export function apiClient({ base, csrf = () => null, onUnauthorized = () => {} }) {
  return async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    const token = method === "GET" ? null : csrf();
    if (token) headers["X-CSRF-Token"] = token;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(base + path, {
        method,
        headers,
        credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ApiError(0, "network", "Cannot reach the server. Check your connection.");
    }
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (response.ok) return data;
    const error = data?.error ?? {};
    let message = error.message || `Request failed (${response.status}).`;
    const retry = response.headers.get("Retry-After");
    if (response.status === 429 && retry) message += ` Try again in ${retry} s.`;
    if (response.status === 401) onUnauthorized(path, error.code);
    throw new ApiError(response.status, error.code, message, error.fields);
  };
}

/** A short notice in the page's #toasts region; errors are announced (role=alert) and stay longer.
 *  `action`: {label, run} adds a button. */
export function toast(text, { kind = "info", action } = {}) {
  const region = $("toasts");
  const node = el(
    "div",
    { class: `toast toast--${kind}`, "data-testid": "toast", role: kind === "error" ? "alert" : null },
    el("span", { class: "toast-text" }, text),
    action &&
      el(
        "button",
        {
          type: "button",
          class: "link-button",
          onclick: () => {
            node.remove();
            action.run();
          },
        },
        action.label,
      ),
    el("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: () => node.remove() }, "×"),
  );
  region.append(node);
  while (region.children.length > MAX_TOASTS) region.firstElementChild.remove();
  setTimeout(() => node.remove(), kind === "error" ? 10_000 : 6_000);
}
