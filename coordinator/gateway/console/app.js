// The region console: status and events pushed over websockets, the ledger polled, proofs verified here.
// The token comes from the URL fragment (#token=...) or the paste box, kept in sessionStorage.
"use strict";

const TOKEN_KEY = "arbsphere.region.token";
const LEDGER_POLL_MS = 2000;
const MAX_EVENTS = 60;
const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

const state = { token: null, sockets: [], checkpoint: null, vkey: null, polling: false };
window.consoleReceived = [];

function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function fmt(v, digits = 4) {
  if (v === null || v === undefined || v === "") return "-";
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  return Math.abs(n) >= 1e6 ? n.toExponential(3) : Number(n.toFixed(digits)).toString();
}

const time = (ms) => (ms ? new Date(ms).toISOString().slice(11, 23) : "-");
const list = (v) => (Array.isArray(v) && v.length ? v.join(", ") : "-");

function fillTable(id, rows, columns, rowTestId, decorate) {
  const body = $(id).querySelector("tbody");
  const frag = document.createDocumentFragment();
  for (const row of rows) {
    const tr = document.createElement("tr");
    if (rowTestId) tr.dataset.testid = rowTestId;
    for (const col of columns) {
      const td = document.createElement("td");
      td.textContent = col(row);
      tr.appendChild(td);
    }
    if (decorate) decorate(tr, row);
    frag.appendChild(tr);
  }
  body.replaceChildren(frag);
}

function showError(text) {
  $("error-banner").hidden = !text;
  $("error-banner").textContent = text || "";
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${state.token}` } });
  if (response.status === 401) throw new Error("the gateway refused the token (missing, invalid or expired)");
  if (!response.ok) throw new Error(`${path}: ${response.status} ${(await response.text()).slice(0, 200)}`);
  return response.json();
}

// ---- status ---------------------------------------------------------------------------------------

function renderStatus(s) {
  $("region-name").textContent = s.region;
  const l = s.listening || {};
  $("region-listening").textContent = l.port ? `${l.host}:${l.port} (mTLS gRPC)` : "-";
  $("region-connected").textContent = `${s.connected.length}: ${list(s.connected)}`;
  $("region-sessions").textContent = s.sessions.completed;
  $("region-abandoned").textContent = s.sessions.abandoned;
  $("region-rounds").textContent = s.rounds_total;
  const c = s.last_commit;
  if (c) {
    const el = $("last-commit");
    el.classList.remove("empty");
    el.dataset.sequence = c.sequence;
    el.textContent = `session ${c.session} · plan #${c.sequence} · committed ${list(c.committed)} · profit ${fmt(c.profit)} · ledger size ${c.ledger_size} at ${time(c.ts_ms)}`;
  }
  fillTable(
    "participants-table",
    s.participants,
    [(p) => p.venue, (p) => (p.connected ? "yes" : "no"), (p) => p.sessions, (p) => p.committed, (p) => p.dropped, (p) => p.last_session, (p) => p.evicted || ""],
    "participant-row",
    (tr, p) => (tr.dataset.venue = p.venue),
  );
  const recent = s.sessions.recent.slice().reverse();
  fillTable(
    "sessions-table",
    recent,
    [(x) => time(x.ts_ms), (x) => x.session, (x) => x.status, (x) => x.strategy || "", (x) => x.rounds ?? "", (x) => (x.converged === undefined ? "" : x.converged ? "yes" : "no"), (x) => fmt(x.profit), (x) => fmt(x.elapsed_ms, 1), (x) => list(x.committed), (x) => list(x.dropped), (x) => x.ledger_size ?? ""],
    "session-row",
  );
  renderConvergence(s);
}

function logPoints(rounds, key) {
  return rounds
    .filter((r) => Number.isFinite(Number(r[key])))
    .map((r) => [Number(r.round), Math.log10(Math.max(Math.abs(Number(r[key])), 1e-12))]);
}

function renderConvergence(s) {
  let rounds = s.current_rounds || [];
  let label = rounds.length ? "session under way" : "";
  if (!rounds.length) {
    const last = s.sessions.recent.filter((x) => x.convergence && x.convergence.length).pop();
    if (last) {
      rounds = last.convergence;
      label = `session ${last.session} (${last.rounds} rounds, ${last.converged ? "converged" : "not converged"})`;
    }
  }
  $("convergence-session").textContent = label ? `${label}: log10 imbalance (lots) and log10 certified gap per round` : "no rounds yet (progress events off?)";
  window.charts.lineChart(
    $("convergence-chart"),
    [
      { name: "imbalance", points: logPoints(rounds, "imbalance_lots") },
      { name: "gap", points: logPoints(rounds, "gap") },
    ],
    "round",
    "log10",
  );
  const done = s.sessions.recent.filter((x) => x.status === "committed");
  window.charts.lineChart($("rounds-chart"), [{ name: "rounds", points: done.map((x, i) => [i + 1, Number(x.rounds)]) }], "session", "rounds");
  window.charts.lineChart($("elapsed-chart"), [{ name: "ms", points: done.map((x, i) => [i + 1, Number(x.elapsed_ms)]) }], "session", "ms");
}

// ---- events ---------------------------------------------------------------------------------------

function onEvent(e) {
  window.consoleReceived.push({ event: e.event, at: Date.now(), seq: e.sequence, replayed: !!e.replayed });
  if (window.consoleReceived.length > 5000) window.consoleReceived.splice(0, 1000);
  if (e.event === "round" && !e.replayed) return; // rounds go to the chart through the status, not the log
  const li = document.createElement("li");
  li.dataset.kind = e.event;
  const detail = { ...e };
  delete detail.event;
  delete detail.replayed;
  li.textContent = `${e.event} ${JSON.stringify(detail).slice(0, 240)}`;
  const ol = $("event-log");
  ol.prepend(li);
  while (ol.children.length > MAX_EVENTS) ol.lastChild.remove();
  if (e.event === "session") pollLedger();
}

// ---- ledger ---------------------------------------------------------------------------------------

async function pollLedger() {
  if (!state.token || state.polling) return;
  state.polling = true;
  try {
    const cp = await api("/ledger/checkpoint");
    const parsed = window.merkle.parseCheckpoint(cp.note);
    state.checkpoint = parsed;
    state.vkey = cp.log_key;
    $("checkpoint-origin").textContent = parsed.origin;
    $("checkpoint-size").textContent = String(parsed.size);
    $("checkpoint-root").textContent = window.merkle.bytesToHex(parsed.root);
    $("checkpoint-key").textContent = cp.log_key;
    $("checkpoint-note").textContent = cp.note;
    try {
      $("checkpoint-signature").textContent = await window.merkle.verifyCheckpointSignature(parsed, cp.log_key);
    } catch (err) {
      $("checkpoint-signature").textContent = `FAILED: ${err.message}`;
    }
    const page = await api(`/ledger/entries?limit=25`);
    fillTable(
      "ledger-entries",
      page.entries.slice().reverse(),
      [(e) => e.index, (e) => e.kind, (e) => time(e.timestamp_ms), (e) => `${e.actor_did.slice(0, 24)}…`, (e) => JSON.stringify(e.payload).slice(0, 120)],
      "ledger-entry",
      (tr, e) => {
        tr.dataset.index = e.index;
        const td = document.createElement("td");
        const button = document.createElement("button");
        button.textContent = "verify";
        button.dataset.testid = `verify-${e.index}`;
        button.disabled = e.index >= parsed.size;
        button.addEventListener("click", () => verify(e.index));
        td.appendChild(button);
        tr.appendChild(td);
      },
    );
    showError("");
  } catch (err) {
    showError(String(err.message || err));
  } finally {
    state.polling = false;
  }
}

async function verify(index) {
  const out = $("proof-result");
  out.className = "result";
  out.textContent = `verifying entry ${index}...`;
  try {
    if (!state.checkpoint) await pollLedger();
    const cp = state.checkpoint;
    const proof = await api(`/ledger/proof/${index}?size=${cp.size}`);
    const root = await window.merkle.verifyInclusion(proof, cp);
    out.className = "result ok verified";
    out.dataset.index = String(index);
    out.dataset.verified = "true";
    out.textContent = `verified in the browser: entry ${index} (${proof.entry.kind}) is in the tree of size ${cp.size}, root ${root.slice(0, 16)}…, checkpoint signature ${$("checkpoint-signature").textContent}`;
  } catch (err) {
    out.className = "result bad failed";
    out.dataset.verified = "false";
    out.textContent = `FAILED: ${err.message || err}`;
  }
}

// ---- connection -----------------------------------------------------------------------------------

function openSocket(path, onMessage) {
  const ws = new WebSocket(`wss://${location.host}${path}?access_token=${encodeURIComponent(state.token)}`);
  ws.onmessage = (msg) => onMessage(JSON.parse(msg.data));
  ws.onopen = () => {
    $("connection").textContent = "live";
    $("connection").className = "conn live";
  };
  ws.onclose = (ev) => {
    state.sockets = state.sockets.filter((s) => s !== ws);
    $("connection").textContent = "offline";
    $("connection").className = "conn";
    if (ev.code === 1008) {
      showError(`the gateway closed the stream: ${ev.reason || "token refused"}`);
      return;
    }
    if (state.token) setTimeout(() => state.token && state.sockets.push(openSocket(path, onMessage)), 1000);
  };
  return ws;
}

function connect() {
  for (const ws of state.sockets) ws.close();
  state.sockets = [];
  if (!state.token) {
    showError("paste a gateway token (arbsphere coordinator token --secret-file ...) to connect");
    return;
  }
  showError("");
  state.sockets.push(openSocket("/ws/status", renderStatus));
  state.sockets.push(openSocket("/ws/events", onEvent));
  pollLedger();
}

document.addEventListener("DOMContentLoaded", async () => {
  state.token = takeToken();
  try {
    const config = await (await fetch("/console/config.json")).json();
    $("console-title").textContent = config.title;
    document.title = config.title;
  } catch (err) {
    showError(`config: ${err}`);
  }
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(TOKEN_KEY, value);
    $("token-input").value = "";
    state.token = value;
    connect();
  });
  $("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    state.token = null;
    connect();
  });
  $("proof-verify").addEventListener("click", () => {
    const index = parseInt($("proof-index").value, 10);
    if (Number.isInteger(index)) verify(index);
  });
  connect();
  setInterval(pollLedger, LEDGER_POLL_MS);
});
