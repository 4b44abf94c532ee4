// The agent console: status and events pushed over websockets, the rest polled every second. The token,
// calls, streams and event log are common.js's (shared with the region console).
"use strict";

const TOKEN_KEY = "arbsphere.agent.token";
const POLL_MS = 1000;
const MAX_EVENTS = 60;

const state = {
  status: null,
  statusAt: 0,
  plans: [],
  executions: [],
  feeds: {},
  feedHealth: {},
  solveMs: [],
  sessions: [],
  polling: false,
};

// ---- status ---------------------------------------------------------------------------------------

function renderStatus(s) {
  state.status = s;
  state.statusAt = Date.now();
  $("status-venue").textContent = s.venue;
  $("status-mode").textContent = s.mode;
  $("status-sessions").textContent = s.sessions;
  $("status-open-plans").textContent = s.open_plans;
  $("status-plans-done").textContent = s.plans_done;
  const hedge = Object.entries(s.hedge_targets || {});
  $("status-hedge").textContent = hedge.length ? hedge.map(([a, q]) => `${a} ${q}`).join(", ") : "none";
  document.body.dataset.mode = s.mode;
  $("kill-banner").hidden = s.mode !== "killed";
  if (s.would_trade) renderWouldTrade(s.would_trade);
  const last = state.sessions[state.sessions.length - 1];
  if (!last || last[1] !== s.sessions) state.sessions.push([Date.now(), s.sessions]);
  if (state.sessions.length > 300) state.sessions.shift();
  renderHealth();
}

function legsText(legs) {
  return legs && legs.length
    ? legs.map((l) => `${l.side} ${l.size} ${l.instrument} @ ${l.limit_price}`).join("; ")
    : "no legs (nothing to trade at this venue)";
}

function renderPlan(p) {
  const el = $("last-plan");
  el.classList.remove("empty");
  el.dataset.session = p.session;
  el.dataset.sequence = p.sequence;
  el.textContent = `session ${p.session} · plan #${p.sequence} · expected profit ${fmt(p.expected_profit)} · ${legsText(p.legs)}`;
}

function renderWouldTrade(w) {
  const el = $("would-trade");
  el.classList.remove("empty");
  el.dataset.legs = String((w.legs || []).length);
  el.textContent = `at prices of ${w.prices_from} (${w.mode}): ${legsText(w.legs)} · expected profit ${fmt(w.expected_profit)}`;
}

function pill(label, value, ok, testid) {
  const span = document.createElement("span");
  span.className = `pill ${ok ? "ok" : "bad"}`;
  span.dataset.testid = testid;
  span.textContent = `${label}: ${value}`;
  return span;
}

function renderHealth() {
  const box = $("health-pills");
  const open = gateway.sockets.some((ws) => ws.readyState === WebSocket.OPEN);
  const staleMs = state.statusAt ? Date.now() - state.statusAt : null;
  const pills = [
    pill("gateway", open ? "connected" : "disconnected", open, "pill-connected"),
    pill("status age", staleMs === null ? "-" : `${staleMs} ms`, staleMs !== null && staleMs < 3000, "pill-staleness"),
    pill("RTT", gateway.rtt === null ? "-" : `${gateway.rtt.toFixed(1)} ms`, gateway.rtt !== null && gateway.rtt < 250, "pill-rtt"),
  ];
  if (state.status) {
    const m = state.status.mode;
    pills.push(pill("mode", m, m === "active", "pill-mode"));
  }
  for (const [asset, f] of Object.entries(state.feeds)) {
    pills.push(pill(`feed ${asset}`, f.paused ? `paused (${f.reason})` : "live", !f.paused, `pill-feed-${asset}`));
  }
  for (const [feed, h] of Object.entries(state.feedHealth)) {
    const stale = h.staleness_ms === null || h.staleness_ms === undefined ? "-" : `${Math.round(h.staleness_ms)} ms`;
    const text = `${stale}, ${Number(h.rate_per_s).toFixed(1)}/s, ${h.reconnects} reconnects`;
    pills.push(pill(`feed ${feed}`, text, h.staleness_ms !== null && h.staleness_ms < 5000, `pill-feed-health-${feed}`));
  }
  box.replaceChildren(...pills);
}

// ---- events ---------------------------------------------------------------------------------------

function onEvent(e) {
  received(e, e.bench_seq);
  logEvent(e, MAX_EVENTS);
  switch (e.event) {
    case "plan":
      state.plans.push(e);
      if (state.plans.length > 200) state.plans.shift();
      renderPlan(e);
      renderKpis();
      break;
    case "execution":
      state.executions.push(e);
      if (state.executions.length > 200) state.executions.shift();
      renderExecutions();
      renderKpis();
      break;
    case "would_trade":
      renderWouldTrade(e);
      break;
    case "feed_health":
      Object.assign(state.feedHealth, e.feeds || {});
      renderHealth();
      break;
    case "session_stats":
      for (const ms of e.solve_ms || []) state.solveMs.push(Number(ms));
      state.solveMs.splice(0, Math.max(0, state.solveMs.length - 2000));
      renderKpis();
      break;
    case "trading_paused":
      state.feeds[e.asset || e.venue] = { paused: true, reason: e.reason || "stale" };
      renderHealth();
      break;
    case "trading_resumed":
      state.feeds[e.asset || e.venue] = { paused: false };
      renderHealth();
      break;
    case "control":
      poll();
      break;
    default:
      break;
  }
}

function renderExecutions() {
  const rows = state.executions.slice().reverse();
  fillTable(
    "executions-table",
    rows,
    [(x) => x.session, (x) => x.sequence, (x) => x.status, (x) => fmt(x.predicted_pnl), (x) => fmt(x.realised_pnl), (x) => fmt(x.pnl_vs_plan), (x) => (x.fills || []).length],
    "execution-row",
  );
  const points = state.executions.map((x) => ({
    x: Number(x.predicted_pnl),
    y: Number(x.realised_pnl),
    label: `#${x.sequence}: predicted ${x.predicted_pnl}, realised ${x.realised_pnl}`,
  }));
  window.charts.scatterChart($("pnl-scatter"), points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)), "predicted", "realised");
}

function renderKpis() {
  window.charts.lineChart($("kpi-sessions"), [{ name: "sessions", points: state.sessions.map(([t, n]) => [t / 1000, n]) }], "time (s)", "sessions");
  const lat = state.executions
    .filter((x) => x.orders_ns && x.plan_ns)
    .map((x) => [x.sequence, (x.orders_ns - x.plan_ns) / 1e6]);
  window.charts.lineChart($("kpi-latency"), [{ name: "latency", points: lat }], "plan #", "ms");
  const profit = state.plans.map((p) => [p.sequence, Number(p.expected_profit)]).filter((p) => Number.isFinite(p[1]));
  window.charts.lineChart($("kpi-profit"), [{ name: "profit", points: profit }], "plan #", "quote");
  // capture: cumulative realised over cumulative predicted profit, plan by plan
  let realised = 0;
  let predicted = 0;
  const capture = [];
  for (const x of state.executions) {
    const r = Number(x.realised_profit);
    const p = Number(x.predicted_profit);
    if (!Number.isFinite(r) || !Number.isFinite(p)) continue;
    realised += r;
    predicted += p;
    if (Math.abs(predicted) > 1e-12) capture.push([x.sequence, realised / predicted]);
  }
  window.charts.lineChart($("kpi-capture"), [{ name: "capture", points: capture }], "plan #", "realised / predicted");
  $("kpi-capture").dataset.value = capture.length ? capture[capture.length - 1][1].toFixed(4) : "";
  const solve = state.solveMs.map((ms, i) => [i, ms]);
  window.charts.lineChart($("kpi-solve"), [{ name: "local solve", points: solve }], "round #", "ms");
}

// ---- polled views ---------------------------------------------------------------------------------

function textFilter(value, needle) {
  return !needle || String(value).toLowerCase().includes(needle.toLowerCase());
}

function renderOpportunities(body) {
  const direction = $("opp-filter-direction").value.trim();
  const tradedOnly = $("opp-filter-traded").checked;
  const minPnl = parseFloat($("opp-filter-min-pnl").value);
  const rows = (body.opportunities || [])
    .filter((o) => textFilter(o.direction, direction))
    .filter((o) => !tradedOnly || o.traded)
    .filter((o) => !Number.isFinite(minPnl) || Number(o.predicted_pnl) >= minPnl)
    .slice()
    .reverse();
  fillTable(
    "opportunities-table",
    rows,
    [(o) => time(o.ts_ms), (o) => o.session_id, (o) => o.direction, (o) => (Array.isArray(o.assets) ? o.assets.join(", ") : JSON.stringify(o.assets)), (o) => fmt(o.predicted_pnl), (o) => (o.traded ? "yes" : "no")],
    "opportunity-row",
  );
}

function renderWindows(body) {
  const openOnly = $("win-filter-open").checked;
  const direction = $("win-filter-direction").value.trim();
  const rows = (body.windows || [])
    .filter((w) => !openOnly || w.open)
    .filter((w) => textFilter(w.direction, direction))
    .slice()
    .reverse();
  fillTable(
    "windows-table",
    rows,
    [(w) => w.window_id, (w) => time(w.start_ms), (w) => (w.open ? "open" : time(w.end_ms)), (w) => w.direction, (w) => w.signals, (w) => w.trades, (w) => fmt(w.max_pnl), (w) => fmt(w.mean_pnl)],
    "window-row",
  );
}

function renderTrades(body) {
  fillTable(
    "orders-table",
    (body.orders || []).slice().reverse().slice(0, 100),
    [(o) => o.client_order_id, (o) => o.plan_id, (o) => o.instrument, (o) => o.side, (o) => o.size, (o) => o.limit_price, (o) => o.status, (o) => o.filled],
    "order-row",
  );
  $("orders-table").dataset.count = String((body.orders || []).length);
}

function renderInventory(body) {
  const positions = body.positions || {};
  const assets = [...new Set([...Object.keys(body.balances || {}), ...Object.keys(positions)])].sort();
  fillTable("inventory-table", assets, [
    (a) => a,
    (a) => (body.balances || {})[a] ?? "-",
    (a) => (positions[a] ? positions[a].quantity : "-"),
    (a) => (positions[a] ? positions[a].realised : "-"),
  ]);
  fillTable("residuals-table", body.open_residuals || [], [(r) => r.asset, (r) => r.side, (r) => r.size, (r) => r.reason, (r) => r.state]);
  fillTable("rebalance-table", body.rebalance || [], [(r) => r.asset, (r) => r.trade, (r) => fmt(r.cost_quote), (r) => fmt(r.beyond_mid_quote)], "rebalance-row");
}

function renderRisk(body) {
  $("risk-mode").textContent = body.mode;
  $("risk-notional").textContent = fmt(body.notional_today, 2);
  $("risk-pnl").textContent = fmt(body.pnl_today, 4);
  $("risk-limits").textContent = JSON.stringify({ limits: body.limits, boxes: body.boxes, would_box: body.would_box }, null, 1);
  $("kill-banner").hidden = body.mode !== "killed" && (!state.status || state.status.mode !== "killed");
}

const VIEWS = [
  ["/trades?limit=500", renderTrades],
  ["/inventory", renderInventory],
  ["/risk", renderRisk],
  ["/opportunities?limit=200", renderOpportunities],
  ["/windows?limit=200", renderWindows],
];
const lastBodies = {};

async function poll() {
  if (!gateway.token || state.polling) return;
  state.polling = true;
  try {
    await Promise.all(
      VIEWS.map(async ([path, render]) => {
        const response = await request(path);
        if (!response.ok) return;
        const body = await response.json();
        lastBodies[path] = body;
        render(body);
      }),
    );
    showError("");
  } catch (err) {
    showError(String(err.message || err));
  } finally {
    state.polling = false;
    renderHealth();
  }
}

// ---- controls -------------------------------------------------------------------------------------

async function control(action) {
  const out = $("control-result");
  out.textContent = `${action}...`;
  try {
    const response = await request(`/controls/${action}`, { method: "POST", body: JSON.stringify({ reason: `console: ${action}` }) });
    const body = await response.json();
    if (response.ok) {
      out.textContent = `${action}: ok, mode ${body.mode}${body.cancelled ? `, cancelled ${body.cancelled.length}` : ""}`;
      out.className = "result ok";
      if (body.mode === "killed") $("kill-banner").hidden = false;
      document.body.dataset.mode = body.mode;
    } else {
      const detail = typeof body.detail === "string" ? body.detail : body.detail && (body.detail.error || JSON.stringify(body.detail));
      const retry = response.headers.get("Retry-After");
      out.textContent = `${action}: refused (${response.status}) ${detail || ""}${retry ? `, retry in ${retry} s` : ""}`;
      out.className = "result bad";
    }
  } catch (err) {
    out.textContent = `${action}: ${err.message || err}`;
    out.className = "result bad";
  }
  poll();
}

// ---- start ---------------------------------------------------------------------------------------

function showAuditLink(config) {
  const link = $("audit-link");
  if (config.audit_url) {
    link.href = config.audit_url;
    link.textContent = `region console: ${config.audit_url}`;
  } else {
    link.removeAttribute("href");
    link.textContent = "no region console configured (gateway setting audit_url)";
  }
}

document.addEventListener("DOMContentLoaded", () => {
  startConsole({
    tokenKey: TOKEN_KEY,
    issuedBy: "arbsphere agent token",
    onStatus: renderStatus,
    onEvent,
    onConnect: poll,
    onOpen: renderHealth,
    onConfig: showAuditLink,
  });
  for (const button of document.querySelectorAll("button[data-action]")) {
    button.addEventListener("click", () => control(button.dataset.action));
  }
  for (const id of ["opp-filter-direction", "opp-filter-traded", "opp-filter-min-pnl"]) {
    $(id).addEventListener("input", () => lastBodies["/opportunities?limit=200"] && renderOpportunities(lastBodies["/opportunities?limit=200"]));
  }
  for (const id of ["win-filter-open", "win-filter-direction"]) {
    $(id).addEventListener("input", () => lastBodies["/windows?limit=200"] && renderWindows(lastBodies["/windows?limit=200"]));
  }
  renderKpis();
  setInterval(poll, POLL_MS);
  setInterval(renderHealth, 1000);
});
