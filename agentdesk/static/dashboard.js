// The supervisor dashboard: one socket, one frame a second carrying only what changed
// (the first frame carries everything). Silent monitoring rides the same socket.
(() => {
  "use strict";
  const { el, api, duration, socket, userText, describeEvent, _, ngettext, time } = window.Desk;
  const STATUS = { online: _("online"), away: _("away"), offline: _("offline") };
  const statusName = (status) => STATUS[status] || status;
  const agents = new Map(); // id -> row
  const series = [[], [], [], [], []]; // ts, queued, load, capacity, oldest wait
  const MAX_POINTS = 6 * 720;
  let charts = null;
  let watching = null;
  let watchSeq = 0;
  const names = new Map(); // conversation id -> the visitor's name (or a promise of it)
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
    if (f.breach !== undefined && window.Lookahead) window.Lookahead.showBreach(f.breach);
    if (f.series) { for (const s of series) s.length = 0; for (const p of f.series) addPoint(p); drawCharts(); }
    if (f.point) { addPoint(f.point); drawCharts(); }
    document.body.dataset.points = String(series[0].length);
    $("updated").textContent = _("updated %(time)s", { time: time(f.ts) });
    document.body.dataset.ticks = String(Number(document.body.dataset.ticks || 0) + 1);
  }

  function renderAgents() {
    const body = $("agents").tBodies[0];
    const rows = [...agents.values()].sort((a, b) => a.name.localeCompare(b.name));
    body.replaceChildren();
    // The Load tile is about who can take chats now: chats held by available agents against
    // their seats. Chats still held by away agents are counted apart, not against seats
    // that are not there (which read 8/5).
    let load = 0;
    let cap = 0;
    let online = 0;
    let elsewhere = 0;
    for (const a of rows) {
      const tr = el("tr", { dataset: { agentId: a.id }, class: a.status });
      tr.append(userText("td", {}, a.name));
      tr.append(el("td", { class: "status " + a.status }, (a.connected ? statusName(a.status) : _("%(status)s (disconnected)", { status: statusName(a.status) }))));
      const loadCell = el("td", { class: "load" + (a.cap_warning ? " over" : "") });
      const bar = el("span", { class: "bar" });
      bar.style.setProperty("--fill", Math.min(1, a.load / Math.max(1, a.cap)));
      loadCell.append(el("span", { class: "n", "data-testid": "load-" + a.id }, a.load + "/" + a.cap), bar);
      tr.append(loadCell);
      const chatsCell = el("td", { class: "chats" });
      for (const id of a.chats) {
        const chip = el("button", { type: "button", class: "chip", dataset: { conversationId: id }, onclick: () => watch(id) });
        labelChip(chip, id);
        chatsCell.append(chip);
      }
      tr.append(chatsCell);
      body.append(tr);
      if (a.status === "online") { load += a.load; cap += a.cap; online += 1; } else elsewhere += a.load;
    }
    // Names are kept for the chats on the board (and the one watched) only.
    const shown = new Set(rows.flatMap((a) => a.chats));
    for (const id of names.keys()) if (!shown.has(id) && id !== watching) names.delete(id);
    $("load-total").textContent = load + "/" + cap;
    $("load-hint").textContent = elsewhere ? _("+%(num)s held by agents away", { num: elsewhere }) : _("chats held / seats of available agents");
    $("agents-online").textContent = String(online);
  }

  function pairs(list, obj) {
    list.replaceChildren();
    const entries = Object.entries(obj || {});
    if (!entries.length) list.append(el("li", { class: "muted" }, _("none")));
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
  // Each channel against its own target (e-mail's is hours): "–" when none came that way.
  const channelWithin = (s, channel) => {
    const c = (s.by_channel || {})[channel];
    if (!c) return "–";
    return ngettext("%(share)s of %(num)d (≤%(target)s)", "%(share)s of %(num)d (≤%(target)s)", c.conversations,
      { share: pct(c.within_target), target: duration(c.target_s) });
  };
  const SLA_ROWS = [
    [_("Conversations"), (s) => String(s.conversations)],
    [_("First response p50"), (s) => secs(s.frt_p50_s)],
    [_("First response p90"), (s) => secs(s.frt_p90_s)],
    [_("Average response"), (s) => secs(s.avg_response_s)],
    [_("Answered within target"), (s) => pct(s.within_target) + " (≤" + s.target_s + " s)"],
    [_("Chats within target"), (s) => channelWithin(s, "chat")],
    [_("E-mail within target"), (s) => channelWithin(s, "email")],
    [_("Abandoned"), (s) => pct(s.abandonment)],
    [_("CSAT"), (s) => (s.csat_avg === null ? "–" : s.csat_avg.toFixed(2) + " (" + s.csat_count + ")")],
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
      _("%(rate)s/h, handle %(handle)s, cap %(cap)s, %(online)s online", {
        rate: s.arrivals_per_hour, handle: duration(s.handle_s), cap: s.cap, online: s.online,
      });
  }

  // ------------------------------------------------------------------ charts

  function addPoint(p) {
    for (let i = 0; i < 5; i++) series[i].push(p[i]);
    if (series[0].length > MAX_POINTS) for (const s of series) s.shift();
  }

  // uPlot gives every axis a fixed 50 px, which clips labels such as "12,000"; size each
  // axis to its widest label instead.
  function axisSize(self, values, axisIdx, cycleNum) {
    const axis = self.axes[axisIdx];
    if (cycleNum > 1) return axis._size;
    let size = axis.ticks.size + axis.gap;
    if (axis.side % 2 === 1) { // vertical: the labels' width
      const longest = (values || []).reduce((a, v) => (String(v).length > a.length ? String(v) : a), "");
      self.ctx.font = axis.font[0];
      size += self.ctx.measureText(longest).width / (window.devicePixelRatio || 1);
    } else {
      size += 2 * 14; // horizontal: two lines of 12 px text (time, and the date under it)
    }
    return Math.ceil(size + 4);
  }

  function chartWidth() {
    const panel = $("chart-queue");
    return Math.max(280, panel.clientWidth || 600);
  }

  function makeCharts() {
    if (!window.uPlot) return null;
    const width = chartWidth();
    const y = { size: axisSize };
    const queue = new uPlot({
      width, height: 180, title: _("Queue and oldest wait"),
      series: [{ label: _("Time") }, { label: _("queued"), stroke: "#c2410c" }, { label: _("oldest wait (s)"), stroke: "#7c3aed", scale: "s" }],
      axes: [{ size: axisSize }, y, { scale: "s", side: 1, grid: { show: false }, size: axisSize }],
    }, [series[0], series[1], series[4]], $("chart-queue"));
    const load = new uPlot({
      width, height: 180, title: _("Load and capacity"),
      series: [{ label: _("Time") }, { label: _("chats held"), stroke: "#0369a1" }, { label: _("seats online"), stroke: "#16a34a" }],
      axes: [{ size: axisSize }, y],
    }, [series[0], series[2], series[3]], $("chart-load"));
    // The panel's width changes with the window and with the monitor opening beside it.
    if (window.ResizeObserver) {
      let last = width;
      new ResizeObserver(() => {
        const now = chartWidth();
        if (Math.abs(now - last) < 2) return;
        last = now;
        queue.setSize({ width: now, height: 180 });
        load.setSize({ width: now, height: 180 });
      }).observe($("chart-queue").parentElement);
    }
    return { queue, load };
  }

  function drawCharts() {
    charts = charts || makeCharts();
    if (!charts) return;
    charts.queue.setData([series[0], series[1], series[4]]);
    charts.load.setData([series[0], series[2], series[3]]);
  }

  // ------------------------------------------------------------------ monitoring

  // Conversations are shown by who is in them, not by id; the id stays in the tooltip.
  function visitorName(id) {
    if (!names.has(id)) {
      names.set(id, api("GET", "/api/desk/conversations/" + encodeURIComponent(id)).then(
        // The name the console shows too: given, else the visitor's stable alias.
        (d) => (d.customer && (d.customer.name || d.customer.alias)) || _("Visitor %(id)s", { id: id.slice(0, 4) }),
        () => _("Visitor %(id)s", { id: id.slice(0, 4) }),
      ));
    }
    return names.get(id);
  }

  function labelChip(chip, id) {
    chip.title = _("Watch conversation %(id)s", { id });
    chip.textContent = _("Visitor %(id)s", { id: id.slice(0, 4) });
    visitorName(id).then((name) => {
      chip.replaceChildren(userText("bdi", {}, name));
      chip.setAttribute("aria-label", _("Watch the chat with %(name)s", { name }));
    });
  }

  function say(text, ok) {
    $("monitor-error").textContent = ok ? "" : text;
    $("monitor-status").textContent = ok ? text : "";
    $("monitor-confirm").hidden = true;
  }

  function watch(id) {
    if (watching) wire.send({ type: "unwatch", conversation_id: watching });
    watching = id;
    watchSeq = 0;
    $("monitor").hidden = false;
    $("monitor-title").replaceChildren(el("span", {}, _("Visitor %(id)s", { id: id.slice(0, 4) })));
    $("monitor-title").title = id;
    visitorName(id).then((name) => { if (watching === id) $("monitor-title").replaceChildren(userText("bdi", {}, name)); });
    $("monitor-log").replaceChildren();
    say("", true);
    wire.send({ type: "watch", conversation_id: id, after_seq: 0 });
    loadTargets();
  }

  function onWatched(f) {
    if (f.conversation_id !== watching || f.seq <= watchSeq) return;
    watchSeq = f.seq;
    const li = el("li", { class: "item " + f.author + (f.type === "event" ? " event" : ""), dataset: { seq: f.seq } });
    const conv = f.conversation_id;
    if (f.type === "message") {
      const who = el("span", { class: "who" });
      if (f.author === "visitor") {
        who.append(_("Visitor"));
        visitorName(conv).then((name) => who.replaceChildren(userText("bdi", {}, name)));
      } else if (f.author === "agent") who.append(userText("bdi", {}, f.author_name || _("Agent")));
      else who.append(f.author === "bot" ? _("Bot") : _("System"));
      li.append(who, el("span", {}, ": "), userText("span", { class: "text" }, f.text, { links: true }));
    } else {
      li.append(el("span", { class: "text" }, describeEvent(f)));
      const d = f.data || {};
      if (d.summary || d.note) li.append(el("span", {}, " — "), userText("span", { class: "text" }, d.summary || d.note));
    }
    $("monitor-log").append(li);
    $("monitor-log").scrollTop = $("monitor-log").scrollHeight;
  }

  async function loadTargets() {
    const select = $("monitor-target");
    select.replaceChildren();
    try {
      const data = await api("GET", "/api/desk/agents");
      for (const a of data.agents) {
        const why = a.status !== "online" ? " — " + statusName(a.status) : a.load >= a.cap ? " — " + _("full") : "";
        select.append(el("option", { value: "agent:" + a.id, disabled: a.status !== "online" }, a.name + " (" + a.load + "/" + a.cap + ")" + why));
      }
      for (const t of data.teams) select.append(el("option", { value: "team:" + t }, _("Team %(team)s", { team: t })));
    } catch (err) {
      say(err.message, false);
    }
  }

  $("monitor-takeover").addEventListener("click", async () => {
    try {
      await api("POST", "/api/desk/conversations/" + encodeURIComponent(watching) + "/takeover", {});
      say(_("Taken over: it is in your console now."), true);
    } catch (err) {
      say(err.message, false);
    }
  });

  // Beyond an agent's cap only when the supervisor says so, after being told: the server
  // refuses a full agent (`agent_full`) unless the request carries `override`.
  async function transfer(override) {
    const [kind, value] = $("monitor-target").value.split(/:(.*)/s);
    const body = { note: "moved by a supervisor" };
    if (kind === "agent") body.to_agent = Number(value); else body.to_team = value;
    if (override) body.override = true;
    try {
      await api("POST", "/api/desk/conversations/" + encodeURIComponent(watching) + "/transfer", body);
      say(_("Transferred."), true);
      loadTargets();
    } catch (err) {
      say(err.message, false);
      if (err.code === "agent_full") {
        $("monitor-error").textContent = err.message + ". " + _("Transfer anyway, beyond the cap?");
        $("monitor-confirm").hidden = false;
        $("monitor-override").focus();
      }
    }
  }

  $("monitor-transfer").addEventListener("click", () => transfer(false));
  $("monitor-override").addEventListener("click", () => transfer(true));
  $("monitor-cancel").addEventListener("click", () => say("", true));

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

  const LINK_STATE = {
    connecting: _("connecting"), online: _("online"), offline: _("offline"),
    ended: _("session ended — log in again"),
  };
  const wire = socket("/ws/supervisor", {
    onopen() {
      if (watching) wire.send({ type: "watch", conversation_id: watching, after_seq: watchSeq });
    },
    onframe(f) {
      if (f.type === "board") onBoard(f);
      else if (f.type === "message" || f.type === "event") onWatched(f);
      else if (f.type === "breach_warning" && window.Lookahead) window.Lookahead.showBreach(f);
      else if (f.type === "error") say(f.message, false);
    },
    onstate(state) {
      $("link").textContent = LINK_STATE[state] || state;
      $("link").dataset.state = state;
    },
  });
  loadReports();
  setInterval(loadReports, 60000);
})();
