// The region console: status and events pushed over websockets, the ledger polled, proofs verified here.
// The token, calls, streams and event log are common.js's (shared with the agent console).
"use strict";

const TOKEN_KEY = "arbsphere.region.token";
const LEDGER_POLL_MS = 2000;
const MAX_EVENTS = 60;

const state = { checkpoint: null, vkey: null, polling: false };

const list = (v) => (Array.isArray(v) && v.length ? v.join(", ") : "-");

async function api(path) {
  const response = await request(path);
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
  // per round of the shown session: the round trip to every member and the coordinator's delta merge
  const timed = rounds.filter((r) => r.gather_ms !== undefined);
  window.charts.lineChart(
    $("latency-chart"),
    [
      { name: "gather", points: timed.map((r) => [Number(r.round), Number(r.gather_ms)]) },
      { name: "delta merge", points: timed.map((r) => [Number(r.round), Number(r.merge_ms)]) },
    ],
    "round",
    "ms",
  );
  const bounded = done.filter((x) => Number(x.bound) > 0);
  window.charts.lineChart($("bound-chart"), [{ name: "profit / bound", points: bounded.map((x, i) => [i + 1, Number(x.profit) / Number(x.bound)]) }], "session", "ratio");
}

// ---- events ---------------------------------------------------------------------------------------

function onEvent(e) {
  received(e, e.sequence);
  if (e.event === "round" && !e.replayed) return; // rounds go to the chart through the status, not the log
  logEvent(e, MAX_EVENTS);
  if (e.event === "session") pollLedger();
}

// ---- ledger ---------------------------------------------------------------------------------------

async function pollLedger() {
  if (!gateway.token || state.polling) return;
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

// ---- start ---------------------------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  startConsole({
    tokenKey: TOKEN_KEY,
    issuedBy: "arbsphere coordinator token",
    onStatus: renderStatus,
    onEvent,
    onConnect: pollLedger,
  });
  $("proof-verify").addEventListener("click", () => {
    const index = parseInt($("proof-index").value, 10);
    if (Number.isInteger(index)) verify(index);
  });
  setInterval(pollLedger, LEDGER_POLL_MS);
});
