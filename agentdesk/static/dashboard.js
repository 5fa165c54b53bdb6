// The supervisor dashboard: one socket, one frame a second carrying only what changed
// (the first frame carries everything). Silent monitoring rides the same socket.
(() => {
  "use strict";
  const { el, api, duration, socket } = window.Desk;
  const agents = new Map(); // id -> row
  const series = [[], [], [], [], []]; // ts, queued, load, capacity, oldest wait
  const MAX_POINTS = 6 * 720;
  let charts = null;
  let watching = null;
  let watchSeq = 0;
  const $ = (id) => document.getElementById(id);

  // ------------------------------------------------------------------ board

  function onBoard(f) {
    if (f.full) agents.clear();
    for (const row of f.agents) agents.set(row.id, row);
    for (const id of f.removed) agents.delete(id);
    renderAgents();
    renderQueue(f.queue);
    if (f.sla) renderSla(f.sla);
    if (f.credits_today !== undefined) $("credits-today").textContent = String(f.credits_today);
    if (f.staffing) renderStaffing(f.staffing);
    if (f.series) { for (const s of series) s.length = 0; for (const p of f.series) addPoint(p); drawCharts(); }
    if (f.point) { addPoint(f.point); drawCharts(); }
    document.body.dataset.points = String(series[0].length);
    $("updated").textContent = "updated " + new Date(f.ts).toLocaleTimeString();
    document.body.dataset.ticks = String(Number(document.body.dataset.ticks || 0) + 1);
  }

  function renderAgents() {
    const body = $("agents").tBodies[0];
    const rows = [...agents.values()].sort((a, b) => a.name.localeCompare(b.name));
    body.replaceChildren();
    let load = 0;
    let cap = 0;
    let online = 0;
    for (const a of rows) {
      const tr = el("tr", { dataset: { agentId: a.id }, class: a.status });
      tr.append(el("td", {}, a.name));
      tr.append(el("td", { class: "status " + a.status }, a.status + (a.connected ? "" : " (disconnected)")));
      const loadCell = el("td", { class: "load" + (a.cap_warning ? " over" : "") });
      const bar = el("span", { class: "bar" });
      bar.style.setProperty("--fill", Math.min(1, a.load / Math.max(1, a.cap)));
      loadCell.append(el("span", { class: "n", "data-testid": "load-" + a.id }, a.load + "/" + a.cap), bar);
      tr.append(loadCell);
      const chatsCell = el("td", { class: "chats" });
      for (const id of a.chats) {
        chatsCell.append(el("button", { type: "button", class: "chip", title: "Watch " + id, onclick: () => watch(id) }, id.slice(0, 6)));
      }
      tr.append(chatsCell);
      body.append(tr);
      load += a.load;
      if (a.status === "online") { cap += a.cap; online += 1; }
    }
    $("load-total").textContent = load + "/" + cap;
    $("agents-online").textContent = String(online);
  }

  function pairs(list, obj) {
    list.replaceChildren();
    const entries = Object.entries(obj || {});
    if (!entries.length) list.append(el("li", { class: "muted" }, "none"));
    for (const [k, v] of entries) list.append(el("li", {}, k + ": " + v));
  }

  function renderQueue(q) {
    if (!q) return;
    $("q-length").textContent = String(q.length);
    $("q-oldest").textContent = q.oldest_wait_s === null ? "–" : duration(q.oldest_wait_s);
    $("q-bot").textContent = String(q.bot_holds);
    pairs($("q-team"), q.by_team);
    pairs($("q-lang"), q.by_language);
  }

  const pct = (x) => (x === null || x === undefined ? "–" : Math.round(x * 100) + "%");
  const secs = (x) => (x === null || x === undefined ? "–" : duration(x));
  const SLA_ROWS = [
    ["Conversations", (s) => String(s.conversations)],
    ["First response p50", (s) => secs(s.frt_p50_s)],
    ["First response p90", (s) => secs(s.frt_p90_s)],
    ["Average response", (s) => secs(s.avg_response_s)],
    ["Answered within target", (s) => pct(s.within_target) + " (≤" + s.target_s + " s)"],
    ["Abandoned", (s) => pct(s.abandonment)],
    ["CSAT", (s) => (s.csat_avg === null ? "–" : s.csat_avg.toFixed(2) + " (" + s.csat_count + ")")],
  ];

  function renderSla(sla) {
    const body = $("sla").tBodies[0];
    body.replaceChildren();
    for (const [label, fmt] of SLA_ROWS) {
      const tr = el("tr");
      tr.append(el("th", {}, label), el("td", {}, fmt(sla.today)), el("td", {}, fmt(sla.hour)));
      body.append(tr);
    }
  }

  function renderStaffing(s) {
    $("staff-needed").textContent = String(s.needed);
    $("staff-hint").textContent =
      s.arrivals_per_hour + "/h, handle " + duration(s.handle_s) + ", cap " + s.cap + ", " + s.online + " online";
  }

  // ------------------------------------------------------------------ charts

  function addPoint(p) {
    for (let i = 0; i < 5; i++) series[i].push(p[i]);
    if (series[0].length > MAX_POINTS) for (const s of series) s.shift();
  }

  function makeCharts() {
    if (!window.uPlot) return null;
    const width = Math.max(300, $("chart-queue").clientWidth || 600);
    const queue = new uPlot({
      width, height: 180, title: "Queue and oldest wait",
      series: [{}, { label: "queued", stroke: "#c2410c" }, { label: "oldest wait (s)", stroke: "#7c3aed", scale: "s" }],
      axes: [{}, {}, { scale: "s", side: 1, grid: { show: false } }],
    }, [series[0], series[1], series[4]], $("chart-queue"));
    const load = new uPlot({
      width, height: 180, title: "Load and capacity",
      series: [{}, { label: "chats held", stroke: "#0369a1" }, { label: "seats online", stroke: "#16a34a" }],
    }, [series[0], series[2], series[3]], $("chart-load"));
    return { queue, load };
  }

  function drawCharts() {
    charts = charts || makeCharts();
    if (!charts) return;
    charts.queue.setData([series[0], series[1], series[4]]);
    charts.load.setData([series[0], series[2], series[3]]);
  }

  // ------------------------------------------------------------------ monitoring

  function watch(id) {
    if (watching) wire.send({ type: "unwatch", conversation_id: watching });
    watching = id;
    watchSeq = 0;
    $("monitor").hidden = false;
    $("monitor-title").textContent = id;
    $("monitor-log").replaceChildren();
    $("monitor-error").textContent = "";
    wire.send({ type: "watch", conversation_id: id, after_seq: 0 });
    loadTargets();
  }

  function onWatched(f) {
    if (f.conversation_id !== watching || f.seq <= watchSeq) return;
    watchSeq = f.seq;
    const li = el("li", { class: "item " + f.author + (f.type === "event" ? " event" : ""), dataset: { seq: f.seq } });
    const who = f.author === "agent" ? f.author_name || "Agent" : f.author;
    li.append(el("span", { class: "who" }, who + ": "));
    li.append(el("span", { class: "text" }, f.type === "message" ? f.text : f.event + (f.data && f.data.summary ? " — " + f.data.summary : "")));
    $("monitor-log").append(li);
    $("monitor-log").scrollTop = $("monitor-log").scrollHeight;
  }

  async function loadTargets() {
    const select = $("monitor-target");
    select.replaceChildren();
    try {
      const data = await api("GET", "/api/desk/agents");
      for (const a of data.agents) select.append(el("option", { value: "agent:" + a.id }, a.name + " (" + a.load + "/" + a.cap + ")"));
      for (const t of data.teams) select.append(el("option", { value: "team:" + t }, "Team " + t));
    } catch (err) {
      $("monitor-error").textContent = err.message;
    }
  }

  $("monitor-takeover").addEventListener("click", async () => {
    try {
      await api("POST", "/api/desk/conversations/" + encodeURIComponent(watching) + "/takeover", {});
      $("monitor-error").textContent = "Taken over: it is in your console now.";
    } catch (err) {
      $("monitor-error").textContent = err.message;
    }
  });

  $("monitor-transfer").addEventListener("click", async () => {
    const [kind, value] = $("monitor-target").value.split(/:(.*)/s);
    const body = { note: "moved by a supervisor", override: true };
    if (kind === "agent") body.to_agent = Number(value); else body.to_team = value;
    if (kind === "team") delete body.override;
    try {
      await api("POST", "/api/desk/conversations/" + encodeURIComponent(watching) + "/transfer", body);
      $("monitor-error").textContent = "Transferred.";
    } catch (err) {
      $("monitor-error").textContent = err.message;
    }
  });

  $("monitor-stop").addEventListener("click", () => {
    if (watching) wire.send({ type: "unwatch", conversation_id: watching });
    watching = null;
    $("monitor").hidden = true;
  });

  // ------------------------------------------------------------------ reports

  async function loadReports() {
    try {
      const tags = await api("GET", "/api/desk/reports/tags");
      const body = $("tags-report").tBodies[0];
      body.replaceChildren();
      for (const t of tags.tags) {
        const tr = el("tr");
        tr.append(el("td", {}, t.tag), el("td", {}, String(t.conversations)), el("td", {}, secs(t.resolution_p50_s)), el("td", {}, t.csat_avg === null ? "–" : String(t.csat_avg)));
        body.append(tr);
      }
      const trend = await api("GET", "/api/desk/reports/trend");
      const tbody = $("trend-report").tBodies[0];
      tbody.replaceChildren();
      for (const d of trend.days) {
        const tr = el("tr");
        tr.append(el("td", {}, d.day), el("td", {}, String(d.closed)), el("td", {}, secs(d.resolution_p50_s)), el("td", {}, secs(d.resolution_p90_s)), el("td", {}, d.csat_avg === null ? "–" : String(d.csat_avg)));
        tbody.append(tr);
      }
    } catch (err) {
      $("tags-report").after(el("p", { class: "error" }, err.message));
    }
  }

  const wire = socket("/ws/supervisor", {
    onopen() {
      if (watching) wire.send({ type: "watch", conversation_id: watching, after_seq: watchSeq });
    },
    onframe(f) {
      if (f.type === "board") onBoard(f);
      else if (f.type === "message" || f.type === "event") onWatched(f);
      else if (f.type === "error") $("monitor-error").textContent = f.message;
    },
    onstate(state) {
      $("link").textContent = state === "ended" ? "session ended — log in again" : state;
      $("link").dataset.state = state;
    },
  });
  loadReports();
  setInterval(loadReports, 60000);
})();
