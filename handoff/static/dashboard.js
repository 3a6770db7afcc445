// Support dashboard of the handoff hub. API: GET /api/v1/agent/metrics and /api/v1/agent/articles/health
// (docs/hub-api.md, "Metrics"). Definitions of every figure: handoff/metrics.py and bot/article_health.py.
//
// Security: data reaches the DOM only as text nodes, textContent and setAttribute; charts are SVG built
// with createElementNS. This file never assigns HTML strings.

import { $, apiClient, el, reasonLabel, svg } from "/common.js";

const API = "/api/v1/agent";
const REFRESH_MS = 60_000;

const LANGUAGES = { de: "German", en: "English" };
const CATEGORIES = { phone: "Phones", camera: "Cameras", notebook: "Notebooks", unknown: "Device unknown" };
const ROLES = { agent: "Agent", editor: "Editor", admin: "Admin" };
const FLAGS = {
  solve_rate_drop: { label: "Solve rate dropped", kind: "red" },
  high_handoff: { label: "Many handoffs", kind: "amber" },
};

const state = {
  range: "7", // "7" | "30" | "custom"
  request: 0, // number of the latest load; older answers are dropped
  timer: null,
  lastPeriod: null, // {from, to} of the latest load (prefills the custom range)
  shown: null, // {metrics, health} on screen (charts are redrawn when the width changes)
  resizeTimer: null,
};

// ---------------------------------------------------------------------------------------------
// DOM helpers

function tip(text) {
  return svg("title", {}, text);
}

// ---------------------------------------------------------------------------------------------
// Formatting

const percentFormat = new Intl.NumberFormat("en-GB", { style: "percent", maximumFractionDigits: 1 });
const numberFormat = new Intl.NumberFormat("en-GB");

const pct = (rate) => (rate === null || rate === undefined ? "–" : percentFormat.format(rate));
const num = (n) => numberFormat.format(n ?? 0);
const plural = (n, one, many) => `${num(n)} ${n === 1 ? one : many}`;

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) {
    const rest = s % 60;
    return rest ? `${Math.floor(s / 60)} min ${rest} s` : `${s / 60} min`;
  }
  const minutes = Math.round((s % 3600) / 60);
  return minutes ? `${Math.floor(s / 3600)} h ${minutes} min` : `${Math.floor(s / 3600)} h`;
}

const stars = (mean) => (mean === null || mean === undefined ? "–" : mean.toFixed(1));

function isoDay(date) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}

/** The first and last day of a period as YYYY-MM-DD in its time zone (its end is exclusive). */
function periodDays(period) {
  const day = new Intl.DateTimeFormat("en-CA", { timeZone: period.timezone, year: "numeric", month: "2-digit", day: "2-digit" });
  return { from: day.format(new Date(period.from)), to: day.format(new Date(Date.parse(period.to) - 1)) };
}

function dayFormat(timeZone, options) {
  return new Intl.DateTimeFormat("en-GB", { timeZone, ...options });
}

// ---------------------------------------------------------------------------------------------
// API

const api = apiClient({ base: API });

// ---------------------------------------------------------------------------------------------
// Period and filters

function query() {
  const params = new URLSearchParams();
  if (state.range === "custom") {
    params.set("from", $("from").value);
    params.set("to", $("to").value);
  } else {
    params.set("days", state.range); // up to today in the hub's time zone: the browser's "today" may differ
  }
  for (const name of ["language", "category"]) {
    if ($(name).value) params.set(name, $(name).value);
  }
  return params;
}

function chooseRange(range) {
  state.range = range;
  for (const button of document.querySelectorAll(".segment")) {
    button.setAttribute("aria-checked", String(button.dataset.range === range));
  }
  const custom = range === "custom";
  $("custom-range").hidden = !custom;
  if (custom && !$("from").value) {
    const current = state.lastPeriod;
    $("to").value = current?.to ?? isoDay(new Date());
    $("from").value = current?.from ?? isoDay(new Date(Date.now() - 6 * 86_400_000));
  }
  if (custom) $("from").focus();
  load();
}

function customChanged() {
  const from = $("from").value;
  const to = $("to").value;
  if (!from || !to) return;
  if (from > to) {
    showError("The start date must not be after the end date.");
    return;
  }
  load();
}

// ---------------------------------------------------------------------------------------------
// Loading

async function load({ quiet = false } = {}) {
  const request = ++state.request;
  const params = query();
  if (!quiet) document.body.classList.add("is-loading");
  try {
    const [metrics, health] = await Promise.all([
      api("GET", `/metrics?${params}`),
      api("GET", `/articles/health?${params}`),
    ]);
    if (request !== state.request) return;
    showError("");
    render(metrics, health);
  } catch (error) {
    if (request !== state.request) return;
    if (error.status === 401) showSignIn();
    else showError(error.message);
  } finally {
    if (request === state.request) document.body.classList.remove("is-loading");
  }
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function render(metrics, health) {
  state.shown = { metrics, health };
  state.lastPeriod = periodDays(metrics.period);
  renderPeriod(metrics);
  renderKpis(metrics.overall);
  renderReasons(metrics.overall);
  renderDaily(metrics.daily, metrics.period.timezone);
  renderSplits(metrics);
  renderHealth(health);
}

function renderPeriod(metrics) {
  const { period, overall } = metrics;
  const format = dayFormat(period.timezone, { day: "numeric", month: "short", year: "numeric" });
  const last = new Date(Date.parse(period.to) - 1);
  const range = `${format.format(new Date(period.from))} – ${format.format(last)}`;
  const filters = [LANGUAGES[metrics.filters.language], CATEGORIES[metrics.filters.category]].filter(Boolean);
  $("period-label").textContent = [
    range,
    ...filters,
    plural(overall.conversations, "conversation", "conversations"),
    `times in ${period.timezone}`,
  ].join(" · ");
}

// ---------------------------------------------------------------------------------------------
// KPI tiles

function tile(testid, value, detail, tone) {
  const node = document.querySelector(`[data-testid="${testid}"]`);
  const valueNode = node.querySelector(".kpi-value");
  valueNode.replaceChildren(...(Array.isArray(value) ? value : [value]));
  node.querySelector(".kpi-detail").textContent = detail;
  node.dataset.tone = tone ?? "";
}

function renderKpis(o) {
  tile(
    "kpi-containment",
    pct(o.contained.rate),
    `${num(o.contained.count)} of ${plural(o.conversations, "conversation", "conversations")} without a ticket`,
  );
  tile("kpi-solved", pct(o.solved_by_bot.rate), `${num(o.solved_by_bot.count)} confirmed solved, no ticket`, "good");
  tile(
    "kpi-handoff",
    pct(o.handoffs.rate),
    `${plural(o.handoffs.count, "conversation", "conversations")} · ${plural(o.handoffs.tickets, "ticket", "tickets")}`,
  );
  const abandoned = o.abandoned_in_queue;
  tile(
    "kpi-abandoned",
    pct(abandoned.rate),
    `${num(abandoned.count)} of ${plural(abandoned.tickets, "ticket", "tickets")} · ` +
      `${num(abandoned.waiting)} waiting now`,
    abandoned.count ? "bad" : "",
  );
  const wait = o.queue_wait_s;
  const requeued = o.requeues.tickets ? ` · ${num(o.requeues.tickets)} requeued` : "";
  tile(
    "kpi-queue-wait",
    [duration(wait.p50), el("span", { class: "kpi-secondary" }, ` / ${duration(wait.p90)}`)],
    `${plural(wait.count, "claimed ticket", "claimed tickets")}${requeued}`,
  );
  const reply = o.first_agent_reply_s;
  const silent = reply.claimed_without_reply ? ` · ${num(reply.claimed_without_reply)} without a reply` : "";
  tile(
    "kpi-first-reply",
    duration(reply.p50),
    `p90 ${duration(reply.p90)} · ${plural(reply.count, "reply", "replies")}${silent}`,
  );
  const resolution = o.resolution_s;
  tile(
    "kpi-resolution",
    duration(resolution.p50),
    `p90 ${duration(resolution.p90)} · ${plural(resolution.count, "resolved ticket", "resolved tickets")}`,
  );
  const { bot, agent, bot_in_guide: guide, bot_in_widget: widget } = o.rating;
  tile(
    "kpi-rating",
    [
      el("span", { class: "kpi-pair", "data-testid": "rating-bot" }, el("small", {}, "Bot "), stars(bot.mean)),
      el("span", { class: "kpi-sep" }, " / "),
      el("span", { class: "kpi-pair", "data-testid": "rating-agent" }, el("small", {}, "Agent "), stars(agent.mean)),
    ],
    `out of 5 · bot: ${plural(bot.count, "rating", "ratings")} (${num(guide.count)} after a guide, ` +
      `${num(widget.count)} in the chat) · agent: ${plural(agent.count, "rating", "ratings")}`,
  );
}

// ---------------------------------------------------------------------------------------------
// Charts (plain SVG)

/** Charts are drawn at the container's width, one SVG unit per pixel (text keeps its size). */
function chartWidth(container, fallback) {
  return Math.max(260, Math.floor(container.clientWidth) || fallback);
}

function empty(container, text) {
  container.replaceChildren(el("p", { class: "chart-empty" }, text));
}

function renderReasons(overall) {
  const container = $("reason-chart");
  const reasons = Object.entries(overall.handoffs.by_reason);
  $("reason-note").textContent = reasons.length
    ? `${plural(overall.handoffs.tickets, "ticket", "tickets")} from ` +
      `${plural(overall.handoffs.count, "conversation", "conversations")}; ` +
      `percentages are of all ${plural(overall.conversations, "conversation", "conversations")} in the period.`
    : "";
  if (!reasons.length) {
    empty(container, "No handoffs in this period.");
    return;
  }
  const width = chartWidth(container, 560);
  const stacked = width < 480; // narrow: each label above its bar
  const row = stacked ? 46 : 38;
  const labelWidth = stacked ? 0 : 190;
  const barTop = stacked ? 20 : 4;
  const barMax = width - labelWidth - 90;
  const height = reasons.length * row + 4;
  const largest = Math.max(...reasons.map(([, r]) => r.tickets));
  const chart = svg("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: "chart-svg",
    role: "img",
    "aria-label": reasons.map(([reason, r]) => `${reasonLabel(reason)}: ${r.tickets}`).join(", "),
  });
  reasons.forEach(([reason, r], index) => {
    const y = index * row + 4;
    const length = Math.max(3, (r.tickets / largest) * barMax);
    const label = reasonLabel(reason);
    chart.append(
      svg(
        "g",
        { class: "reason-row", "data-testid": "reason-bar", "data-reason": reason },
        tip(`${label}: ${plural(r.tickets, "ticket", "tickets")}, ${pct(r.rate)} of all conversations`),
        stacked
          ? svg("text", { x: 0, y: y + 13, class: "chart-label" }, label)
          : svg("text", { x: labelWidth - 12, y: y + 19, "text-anchor": "end", class: "chart-label" }, label),
        svg("rect", { x: labelWidth, y: y + barTop, width: barMax, height: 22, rx: 4, class: "bar-track" }),
        svg("rect", { x: labelWidth, y: y + barTop, width: length, height: 22, rx: 4, class: "bar bar--handed" }),
        svg(
          "text",
          { x: labelWidth + length + 8, y: y + barTop + 15, class: "chart-value" },
          `${num(r.tickets)} · ${pct(r.rate)}`,
        ),
      ),
    );
  });
  container.replaceChildren(chart);
}

function niceMax(value) {
  if (value <= 4) return 4;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) {
    if (step * power >= value) return step * power;
  }
  return 10 * power;
}

function renderDaily(days, timeZone) {
  const container = $("daily-chart");
  if (!days.some((d) => d.conversations)) {
    empty(container, "No conversations in this period.");
    return;
  }
  const width = chartWidth(container, 640);
  const height = 230;
  const margin = { top: 10, right: 8, bottom: 28, left: 36 };
  const innerW = width - margin.left - margin.right;
  const innerH = height - margin.top - margin.bottom;
  const top = niceMax(Math.max(...days.map((d) => d.conversations)));
  const band = innerW / days.length;
  const barW = Math.max(2, Math.min(36, band * 0.64));
  const y = (v) => margin.top + innerH - (v / top) * innerH;
  const utcDay = (iso) => new Date(`${iso}T12:00:00Z`); // noon: the same calendar day in every zone
  const short = dayFormat(
    "UTC",
    days.length <= 7 ? { weekday: "short", day: "numeric" } : { day: "numeric", month: "short" },
  );
  const long = dayFormat("UTC", { weekday: "long", day: "numeric", month: "long" });
  const every = Math.ceil(days.length / Math.max(2, Math.floor(innerW / 64))); // labels never overlap

  const chart = svg("svg", {
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    class: "chart-svg",
    role: "img",
    "aria-label": `Conversations per day (times in ${timeZone}); handed off in orange.`,
  });
  const ticks = top % 4 === 0 ? 4 : 5; // whole numbers: niceMax gives 4, 10, 20, 25, 50, 100 …
  for (let tick = 0; tick <= ticks; tick++) {
    const value = (top / ticks) * tick;
    chart.append(
      svg("line", { x1: margin.left, x2: width - margin.right, y1: y(value), y2: y(value), class: "grid-line" }),
      svg("text", { x: margin.left - 6, y: y(value) + 4, "text-anchor": "end", class: "axis-label" }, num(value)),
    );
  }
  days.forEach((day, index) => {
    const x = margin.left + index * band + (band - barW) / 2;
    const group = svg(
      "g",
      { "data-testid": "day-bar", "data-date": day.date },
      tip(
        `${long.format(utcDay(day.date))}: ${plural(day.conversations, "conversation", "conversations")}, ` +
          `${num(day.handed_off)} handed off`,
      ),
      svg("rect", { x: margin.left + index * band, y: margin.top, width: band, height: innerH, class: "hover-band" }),
    );
    if (day.contained) {
      group.append(
        svg("rect", {
          x,
          y: y(day.conversations),
          width: barW,
          height: y(day.handed_off) - y(day.conversations),
          class: "bar bar--contained",
        }),
      );
    }
    if (day.handed_off) {
      group.append(
        svg("rect", {
          x,
          y: y(day.handed_off),
          width: barW,
          height: y(0) - y(day.handed_off),
          class: "bar bar--handed",
        }),
      );
    }
    if (index % every === 0) {
      group.append(
        svg(
          "text",
          { x: x + barW / 2, y: height - 8, "text-anchor": "middle", class: "axis-label" },
          short.format(utcDay(day.date)),
        ),
      );
    }
    chart.append(group);
  });
  chart.append(svg("line", { x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0), class: "axis-line" }));
  container.replaceChildren(chart);
}

// ---------------------------------------------------------------------------------------------
// Segments

function renderSplits(metrics) {
  const rows = [
    ["All conversations", metrics.overall, "all"],
    ...Object.entries(metrics.by_language).map(([code, m]) => [LANGUAGES[code] ?? code, m, `language-${code}`]),
    ...Object.entries(metrics.by_category).map(([code, m]) => [CATEGORIES[code] ?? code, m, `category-${code}`]),
  ];
  $("split-body").replaceChildren(
    ...rows.map(([label, m, key]) =>
      el(
        "tr",
        { class: key === "all" ? "is-total" : m.conversations ? "" : "is-empty", "data-segment": key },
        el("th", { scope: "row" }, label),
        el("td", { class: "num" }, num(m.conversations)),
        el("td", { class: "num" }, pct(m.contained.rate)),
        el("td", { class: "num" }, pct(m.solved_by_bot.rate)),
        el("td", { class: "num" }, pct(m.handoffs.rate)),
        el("td", { class: "num" }, duration(m.queue_wait_s.p50)),
        el("td", { class: "num" }, duration(m.first_agent_reply_s.p50)),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Article health

function histogram(bins, kind) {
  if (!bins.length) return el("span", { class: "muted" }, "–");
  const largest = Math.max(...bins.map((b) => b.count));
  const steps = Math.max(...bins.map((b) => b.step));
  const counts = new Map(bins.map((b) => [b.step, b.count]));
  const barW = 12;
  const gap = 3;
  const height = 26;
  const chart = svg("svg", {
    class: "spark",
    width: steps * (barW + gap),
    height: height + 12,
    viewBox: `0 0 ${steps * (barW + gap)} ${height + 12}`,
    role: "img",
    "aria-label": bins.map((b) => `step ${b.step}: ${b.count}`).join(", "),
  });
  for (let step = 1; step <= steps; step++) {
    const count = counts.get(step) ?? 0;
    const h = count ? Math.max(2, (count / largest) * height) : 1;
    const x = (step - 1) * (barW + gap);
    chart.append(
      svg(
        "g",
        {},
        tip(`Step ${step}: ${num(count)}`),
        svg("rect", {
          x,
          y: height - h,
          width: barW,
          height: h,
          rx: 2,
          class: count ? `bar bar--${kind}` : "bar-track",
        }),
        svg("text", { x: x + barW / 2, y: height + 10, "text-anchor": "middle", class: "spark-label" }, step),
      ),
    );
  }
  return chart;
}

function solveRate(article) {
  const previous = article.previous.solve_rate;
  const current = article.solve_rate;
  const change =
    previous === null || current === null
      ? null
      : el(
          "span",
          { class: `trend ${current < previous ? "trend--down" : current > previous ? "trend--up" : ""}` },
          `${current < previous ? "▼" : current > previous ? "▲" : "■"} was ${pct(previous)}`,
        );
  return [el("span", { class: "rate" }, pct(current)), change];
}

function renderHealth(health) {
  const rules = health.rules;
  $("health-rules").textContent =
    `Flags: solve rate down ≥ ${rules.solve_rate_drop.drop_points} points ` +
    `(≥ ${rules.solve_rate_drop.min_runs} runs now and in the period before) · ` +
    `handoffs ≥ ${pct(rules.high_handoff.share)} of ${rules.high_handoff.min_runs}+ runs. ` +
    `An open guide counts as abandoned after ${rules.abandon_after_min} min.`;
  $("health-empty").hidden = health.articles.length > 0;
  $("health-body").replaceChildren(
    ...health.articles.map((a) =>
      el(
        "tr",
        {
          class: a.flags.length ? "is-flagged" : "",
          "data-testid": "health-row",
          "data-article": a.article_id,
          "data-flagged": a.flags.length ? "true" : "false",
        },
        el(
          "th",
          { scope: "row" },
          el("span", { class: "article-title" }, a.title),
          el("span", { class: "article-id" }, a.article_id, " · ", CATEGORIES[a.category] ?? a.category),
        ),
        el(
          "td",
          { class: "num" },
          num(a.started),
          a.in_progress ? el("span", { class: "sub" }, `${num(a.in_progress)} running`) : null,
        ),
        el("td", { class: "num" }, num(a.solved)),
        el("td", { class: "num" }, num(a.handed_off)),
        el("td", { class: "num" }, num(a.abandoned)),
        el("td", { class: "num" }, solveRate(a)),
        el("td", {}, histogram(a.solved_at_step, "contained")),
        el("td", {}, histogram(a.handoff_after_step, "handed")),
        el(
          "td",
          { class: "flags" },
          a.flags.length
            ? a.flags.map((f) =>
                el(
                  "span",
                  {
                    class: `flag flag--${FLAGS[f.code]?.kind ?? "amber"}`,
                    title: f.message,
                    "data-testid": "flag",
                    "data-code": f.code,
                  },
                  FLAGS[f.code]?.label ?? f.code,
                ),
              )
            : el("span", { class: "muted" }, "–"),
        ),
      ),
    ),
  );
}

// ---------------------------------------------------------------------------------------------
// Sign-in, wiring

function showSignIn() {
  $("app-view").hidden = true;
  $("signin-needed").hidden = false;
  clearInterval(state.timer);
}

async function boot() {
  try {
    const { agent } = await api("GET", "/me");
    $("me-name").textContent = agent.display_name ?? agent.username;
    $("me-role").textContent = ROLES[agent.role] ?? agent.role;
    $("nav-console").hidden = agent.role === "editor";
    $("nav-knowledge").hidden = !["editor", "admin"].includes(agent.role);
    $("app-view").hidden = false;
    await load();
    state.timer = setInterval(() => {
      if (document.visibilityState === "visible") load({ quiet: true });
    }, REFRESH_MS);
  } catch (error) {
    if (error.status === 401) showSignIn();
    else {
      $("app-view").hidden = false;
      showError(error.message);
    }
  } finally {
    $("boot").remove();
  }
}

function wire() {
  for (const button of document.querySelectorAll(".segment")) {
    button.addEventListener("click", () => chooseRange(button.dataset.range));
  }
  $("from").addEventListener("change", customChanged);
  $("to").addEventListener("change", customChanged);
  $("language").addEventListener("change", () => load());
  $("category").addEventListener("change", () => load());
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  window.addEventListener("resize", () => {
    clearTimeout(state.resizeTimer);
    state.resizeTimer = setTimeout(() => {
      if (!state.shown) return;
      renderReasons(state.shown.metrics.overall);
      renderDaily(state.shown.metrics.daily, state.shown.metrics.period.timezone);
    }, 150);
  });
}

wire();
boot();
