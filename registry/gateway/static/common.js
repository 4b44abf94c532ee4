// What the agent's and the region's consoles share: the token, authorised calls, the live streams, the event
// log and the page's frame (title, token form, error banner). Loaded before each console's own app.js, which
// calls startConsole. The token comes from the URL fragment (#token=..., never sent to a server) or the
// paste box and is kept in sessionStorage for this tab only.
"use strict";

const $ = (id) => document.querySelector(`[data-testid="${id}"]`);

// The connection: token, open websockets, last call's round trip (ms), what startConsole was given.
const gateway = { token: null, sockets: [], rtt: null, options: null };
// What arrived when (wall clock, ms): read by the benchmark and the tests, capped.
window.consoleReceived = [];

function takeToken(key) {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    sessionStorage.setItem(key, decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem(key);
}

function fmt(v, digits = 4) {
  if (v === null || v === undefined || v === "") return "-";
  const n = Number(v);
  if (!Number.isFinite(n)) return String(v);
  return Math.abs(n) >= 1e6 ? n.toExponential(3) : Number(n.toFixed(digits)).toString();
}

function time(ms) {
  return ms ? new Date(ms).toISOString().slice(11, 23) : "-";
}

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
  const banner = $("error-banner");
  banner.hidden = !text;
  banner.textContent = text || "";
}

// A call with the token; a JSON body gets its content type. 401 throws, any other answer is returned.
async function request(path, options = {}) {
  const started = performance.now();
  const headers = { Authorization: `Bearer ${gateway.token}`, ...(options.body ? { "Content-Type": "application/json" } : {}), ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  gateway.rtt = performance.now() - started;
  if (response.status === 401) throw new Error("the gateway refused the token (missing, invalid or expired)");
  return response;
}

// ---- events ---------------------------------------------------------------------------------------

function received(e, seq) {
  window.consoleReceived.push({ event: e.event, at: Date.now(), seq, replayed: !!e.replayed });
  if (window.consoleReceived.length > 5000) window.consoleReceived.splice(0, 1000);
}

function logEvent(e, maxEvents) {
  const li = document.createElement("li");
  li.dataset.kind = e.event;
  const detail = { ...e };
  delete detail.event;
  delete detail.replayed;
  li.textContent = `${e.event} ${JSON.stringify(detail).slice(0, 240)}`;
  const list = $("event-log");
  list.prepend(li);
  while (list.children.length > maxEvents) list.lastChild.remove();
}

// ---- connection -----------------------------------------------------------------------------------

function openSocket(path, onMessage) {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const ws = new WebSocket(`${scheme}://${location.host}${path}?access_token=${encodeURIComponent(gateway.token)}`);
  ws.onmessage = (msg) => onMessage(JSON.parse(msg.data));
  ws.onopen = () => {
    $("connection").textContent = "live";
    $("connection").className = "conn live";
    if (gateway.options.onOpen) gateway.options.onOpen();
  };
  ws.onclose = (ev) => {
    gateway.sockets = gateway.sockets.filter((s) => s !== ws);
    $("connection").textContent = "offline";
    $("connection").className = "conn";
    if (ev.code === 1008) {
      showError(`the gateway closed the stream: ${ev.reason || "token refused"}`);
      return;
    }
    if (gateway.token) setTimeout(() => gateway.token && gateway.sockets.push(openSocket(path, onMessage)), 1000);
  };
  return ws;
}

function connect() {
  for (const ws of gateway.sockets) ws.close();
  gateway.sockets = [];
  if (!gateway.token) {
    showError(`paste a gateway token (${gateway.options.issuedBy} --secret-file ...) to connect`);
    return;
  }
  showError("");
  gateway.sockets.push(openSocket("/ws/status", gateway.options.onStatus));
  gateway.sockets.push(openSocket("/ws/events", gateway.options.onEvent));
  gateway.options.onConnect();
}

async function loadConfig(onConfig) {
  try {
    const config = await (await fetch("/console/config.json")).json();
    $("console-title").textContent = config.title;
    document.title = config.title;
    if (onConfig) onConfig(config);
  } catch (err) {
    showError(`config: ${err}`);
  }
}

// options: tokenKey (sessionStorage), issuedBy (what mints a token), onStatus and onEvent (the two
// streams' messages), onConnect (after the streams open: the first polls), optional onOpen (a stream is
// live) and onConfig (/console/config.json).
function startConsole(options) {
  gateway.options = options;
  gateway.token = takeToken(options.tokenKey);
  $("token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const value = $("token-input").value.trim();
    if (!value) return;
    sessionStorage.setItem(options.tokenKey, value);
    $("token-input").value = "";
    gateway.token = value;
    connect();
  });
  $("token-clear").addEventListener("click", () => {
    sessionStorage.removeItem(options.tokenKey);
    gateway.token = null;
    connect();
  });
  loadConfig(options.onConfig);
  connect();
}
