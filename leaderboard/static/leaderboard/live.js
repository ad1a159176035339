// The live leaderboard page: top N over a WebSocket, rank search and rank history over the REST API.
// No build step: a plain ES module served by Django.

const config = JSON.parse(document.getElementById("config").textContent);
const $ = (id) => document.getElementById(id);
const boardSelect = $("board");
const periodSelect = $("period");
const connection = $("connection");

let socket = null;
let retry = 0;
let retryTimer = null;
let previous = new Map();

function websocketBase() {
  // From configuration: a full URL, or a port on this page's host, or this page's origin.
  if (config.websocketUrl) return config.websocketUrl.replace(/\/$/, "");
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const host = config.websocketPort ? `${location.hostname}:${config.websocketPort}` : location.host;
  return `${scheme}//${host}`;
}

function setState(state, text) {
  connection.className = `state ${state}`;
  connection.textContent = text;
  document.body.dataset.connection = state;
}

function fillPeriods() {
  const board = config.boards.find((b) => b.slug === boardSelect.value);
  const keep = periodSelect.value;
  periodSelect.replaceChildren(
    ...(board ? board.periods : []).map((p) => new Option(p.replace("_", " "), p)),
  );
  if (board && board.periods.includes(keep)) periodSelect.value = keep;
}

function render(update) {
  const body = $("entries");
  if (!update.entries.length) {
    body.replaceChildren(row(["No scores yet in this period."], "empty", 3));
  } else {
    const next = new Map();
    body.replaceChildren(
      ...update.entries.map((e) => {
        next.set(e.user_id, e.score);
        const tr = document.createElement("tr");
        tr.dataset.user = e.user_id;
        if (previous.size && previous.get(e.user_id) !== e.score) tr.className = "changed";
        for (const [text, cls] of [[e.rank, ""], [e.user_id, ""], [e.score.toLocaleString(), "num"]]) {
          const td = document.createElement("td");
          td.textContent = text;
          if (cls) td.className = cls;
          tr.append(td);
        }
        return tr;
      }),
    );
    previous = next;
  }
  const players = update.total === 1 ? "player" : "players";
  $("meta").textContent = `${update.total.toLocaleString()} ranked ${players} · bucket ${update.bucket} · updated ${new Date().toLocaleTimeString()}`;
}

function row(cells, cls, span) {
  const tr = document.createElement("tr");
  const td = document.createElement("td");
  td.textContent = cells[0];
  td.className = cls;
  td.colSpan = span;
  tr.append(td);
  return tr;
}

function connect() {
  clearTimeout(retryTimer);
  if (socket) {
    socket.onclose = null;
    socket.close();
  }
  previous = new Map();
  const url = `${websocketBase()}/ws/boards/${encodeURIComponent(boardSelect.value)}/${encodeURIComponent(periodSelect.value)}/`;
  setState("connecting", "connecting…");
  socket = new WebSocket(url);
  socket.onopen = () => {
    retry = 0;
    setState("live", "live");
  };
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    if (message.type === "leaderboard_update") render(message);
  };
  socket.onclose = (event) => {
    if (event.code === 4404) {
      setState("offline", "unknown board or period");
      return;
    }
    // Reconnect with exponential backoff and jitter, capped at 30 s.
    const delay = Math.min(30000, 500 * 2 ** retry) * (0.75 + Math.random() / 2);
    retry += 1;
    setState("offline", `offline, retrying in ${Math.round(delay / 1000)} s`);
    retryTimer = setTimeout(connect, delay);
  };
}

async function search(event) {
  event.preventDefault();
  const user = $("user").value.trim();
  const result = $("result");
  if (!user) return;
  result.textContent = "…";
  try {
    const response = await fetch(
      `/api/v1/boards/${encodeURIComponent(boardSelect.value)}/leaderboard/${encodeURIComponent(periodSelect.value)}/rank/${encodeURIComponent(user)}`,
    );
    const body = await response.json();
    if (!response.ok) {
      result.textContent = body.detail || Object.values(body).flat().join(" ") || "Not found.";
    } else if (body.rank === null) {
      result.textContent = `${user} has no score in this period.`;
    } else {
      // The API's percentile as it is (one definition for page and API): the share of ranked
      // players this one ranks at or above, 100 for first place.
      result.textContent = `${user}: rank ${body.rank} of ${body.total} with ${body.score.toLocaleString()}, ranks at or above ${body.percentile}% of players`;
    }
    result.dataset.rank = body.rank ?? "";
    if (response.ok) await showHistory(user);
    else hideHistory();
  } catch (error) {
    result.textContent = "The service could not be reached.";
    hideHistory();
  }
}

function hideHistory() {
  const section = $("history");
  section.hidden = true;
  delete section.dataset.user;
}

// The player's final rank in each finished bucket of the period, newest first (the API's history).
async function showHistory(user) {
  const section = $("history");
  const body = $("history-entries");
  const period = periodSelect.value;
  const response = await fetch(
    `/api/v1/boards/${encodeURIComponent(boardSelect.value)}/users/${encodeURIComponent(user)}/history/${encodeURIComponent(period)}?limit=10`,
  );
  if (!response.ok) {
    hideHistory();
    return;
  }
  const history = await response.json();
  $("history-period").textContent = period === "all_time" ? "periods" : `${period} periods`;
  if (!history.entries.length) {
    const text = period === "all_time"
      ? "All time never ends: there are no finished periods to show."
      : `No finished ${period} periods for ${user} yet.`;
    body.replaceChildren(row([text], "empty", 4));
  } else {
    body.replaceChildren(
      ...history.entries.map((e) => {
        const tr = document.createElement("tr");
        tr.dataset.bucket = e.bucket.bucket;
        const cells = [
          [e.bucket.bucket, ""],
          [`${e.rank} of ${e.participants.toLocaleString()}`, "num"],
          [e.score.toLocaleString(), "num"],
          [`${e.percentile}%`, "num"],
        ];
        for (const [text, cls] of cells) {
          const td = document.createElement("td");
          td.textContent = text;
          if (cls) td.className = cls;
          tr.append(td);
        }
        return tr;
      }),
    );
  }
  section.dataset.user = user;
  section.dataset.count = String(history.entries.length);
  section.hidden = false;
}

boardSelect.replaceChildren(...config.boards.map((b) => new Option(b.name, b.slug)));
const params = new URLSearchParams(location.search);
if (params.get("board")) boardSelect.value = params.get("board");
fillPeriods();
if (params.get("period")) periodSelect.value = params.get("period");
boardSelect.addEventListener("change", () => { fillPeriods(); hideHistory(); connect(); });
periodSelect.addEventListener("change", () => { hideHistory(); connect(); });
$("search").addEventListener("submit", search);
if (config.boards.length) connect();
else setState("offline", "no boards");
