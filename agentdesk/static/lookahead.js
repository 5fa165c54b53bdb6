// The dashboard's look ahead: the forecast beside what arrived, the staffing plan (needed
// against online) with its CSV, the measured cap curves with a recommended cap a supervisor
// may accept, and the early warning. Charts are SVG built with DOM calls; every number is
// also on the chart as data-* so a test (or a screen reader's table) can read it.
(() => {
  "use strict";
  const { el, api, duration, csrf, _, ngettext } = window.Desk;
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const W = 640, H = 180, PAD = { l: 36, r: 8, t: 10, b: 20 };

  function svg(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    return node;
  }

  // A line chart of several series over shared x values; null values break a line.
  function lineChart(box, { xs, series, label, xLabel }) {
    const finite = series.flatMap((s) => s.values).filter((v) => v !== null && isFinite(v));
    const ymax = Math.max(1, ...finite);
    const xmin = xs[0], xmax = xs[xs.length - 1] === xmin ? xmin + 1 : xs[xs.length - 1];
    const x = (v) => PAD.l + ((v - xmin) / (xmax - xmin)) * (W - PAD.l - PAD.r);
    const y = (v) => H - PAD.b - (v / ymax) * (H - PAD.t - PAD.b);
    const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "lookahead-chart" });
    root.append(svg("line", { x1: PAD.l, y1: H - PAD.b, x2: W - PAD.r, y2: H - PAD.b, class: "axis" }));
    root.append(svg("line", { x1: PAD.l, y1: PAD.t, x2: PAD.l, y2: H - PAD.b, class: "axis" }));
    const top = svg("text", { x: PAD.l - 4, y: PAD.t + 8, "text-anchor": "end", class: "tick" });
    top.textContent = String(Math.round(ymax * 10) / 10);
    const zero = svg("text", { x: PAD.l - 4, y: H - PAD.b, "text-anchor": "end", class: "tick" });
    zero.textContent = "0";
    root.append(top, zero);
    if (xLabel) {
      for (const i of [0, Math.floor(xs.length / 2), xs.length - 1]) {
        const t = svg("text", { x: x(xs[i]), y: H - 4, "text-anchor": "middle", class: "tick" });
        t.textContent = xLabel(xs[i]);
        root.append(t);
      }
    }
    for (const s of series) {
      let d = "";
      let pen = false;
      s.values.forEach((v, i) => {
        if (v === null || !isFinite(v)) { pen = false; return; }
        d += (pen ? "L" : "M") + x(xs[i]).toFixed(1) + " " + y(v).toFixed(1);
        pen = true;
      });
      const path = svg("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: "series", "data-series": s.name });
      path.dataset.values = JSON.stringify(s.values);
      const title = svg("title");
      title.textContent = s.name;
      path.append(title);
      root.append(path);
    }
    const legend = el("p", { class: "legend" });
    for (const s of series) {
      const key = el("span", { class: "key" }, s.name);
      key.style.borderColor = s.color;
      legend.append(key);
    }
    box.replaceChildren(root, legend);
  }

  // An empty desk draws no axes over nothing: the chart's box says what is missing instead.
  function emptyState(box, text) {
    box.replaceChildren(el("p", { class: "chart-empty", role: "note" }, text));
  }

  // Why this cap, in the reader's language: the server sends the reason as a code and its
  // numbers (its English sentence stays for the CLI and for a code this page does not know).
  function capReason(rec) {
    const a = rec.reason_args || {};
    switch (rec.reason_code) {
      case "no_evidence": return _("not enough replies at one chat to judge yet");
      case "evidence_ends": return ngettext("evidence ends at %(chats)s chats (%(num)d reply)", "evidence ends at %(chats)s chats (%(num)d replies)", a.replies, { chats: a.chats });
      case "reply_over_target": return _("at %(chats)s chats the reply p90 is %(measured)s s, over the %(target)s s target", { chats: a.chats, measured: a.p90_s, target: a.target_s });
      case "csat_below_baseline": return _("at %(chats)s chats CSAT is %(csat)s, below the %(baseline)s baseline", { chats: a.chats, csat: a.csat, baseline: a.baseline });
      case "held_up_to": return _("replies within target and CSAT held up to %(chats)s chats", { chats: a.chats });
      default: return rec.reason;
    }
  }

  const hhmmFormat = window.Desk.formatter({ weekday: "short", hour: "2-digit", minute: "2-digit" });
  const hhmm = (t) => hhmmFormat.format(new Date(t));
  // The cap audit's moments: the agent's locale and zone, as the console's.
  const auditFormat = window.Desk.formatter({ dateStyle: "medium", timeStyle: "short" });

  function scope() {
    const team = $("la-team").value.trim();
    return team ? "&team=" + encodeURIComponent(team) : "";
  }

  async function loadForecast() {
    const days = $("la-days").value;
    $("la-csv").href = "/api/desk/staffing.csv?days=" + days + scope();
    try {
      const f = await api("GET", "/api/desk/forecast?days=" + days + scope());
      $("la-error").textContent = "";
      if (!f.intervals.some((iv) => iv.expected > 0 || iv.actual > 0)) {
        emptyState($("chart-forecast"), _("No chats expected or arrived in the days ahead."));
        emptyState($("chart-plan"), _("No agents needed: the forecast expects no chats."));
        $("la-plan-note").textContent = "";
        return;
      }
      const xs = f.intervals.map((iv) => Date.parse(iv.start));
      lineChart($("chart-forecast"), {
        xs, label: _("Chats per 30 minutes: forecast and arrived"), xLabel: hhmm,
        series: [
          { name: _("forecast"), color: "#0369a1", values: f.intervals.map((iv) => iv.expected) },
          { name: _("high (90%)"), color: "#93c5fd", values: f.intervals.map((iv) => iv.high) },
          { name: _("arrived"), color: "#c2410c", values: f.intervals.map((iv) => iv.actual) },
        ],
      });
      const pxs = f.plan.map((r) => Date.parse(r.start));
      lineChart($("chart-plan"), {
        xs: pxs, label: _("Agents needed and online per 30 minutes"), xLabel: hhmm,
        series: [
          { name: _("needed"), color: "#7c3aed", values: f.plan.map((r) => r.needed) },
          { name: f.rostered ? _("rostered") : _("online"), color: "#16a34a", values: f.plan.map((r) => r.scheduled) },
        ],
      });
      const short = f.plan.filter((r) => r.short > 0);
      $("la-plan-note").textContent =
        _("cap %(cap)s, handle %(handle)s, target %(share)s%% within %(target)s s", {
          cap: f.cap, handle: duration(f.handle_s), share: Math.round(f.target_share * 100), target: f.target_s,
        }) + "; " + (short.length
          ? ngettext("%(num)d interval short of agents, most by %(most)s", "%(num)d intervals short of agents, most by %(most)s",
            short.length, { most: Math.max(...short.map((r) => r.short)) })
          : _("no interval short"));
      $("la-error").textContent = "";
    } catch (err) {
      $("la-plan-note").textContent = "";
      if (err.status === 409) {
        // Not an error: a new desk (or team) has too little history to learn a week from.
        $("la-error").textContent = "";
        emptyState($("chart-forecast"), scope()
          ? _("No forecast yet: it needs at least one ordinary day of every weekday in the stored conversations of this team.")
          : _("No forecast yet: it needs at least one ordinary day of every weekday in the stored conversations."));
        emptyState($("chart-plan"), _("No staffing plan yet: it follows the forecast."));
        return;
      }
      emptyState($("chart-forecast"), _("The forecast could not be loaded."));
      emptyState($("chart-plan"), _("The staffing plan could not be loaded."));
      $("la-error").textContent = err.message;
    }
  }

  async function loadCaps() {
    try {
      const r = await api("GET", "/api/desk/caps" + (scope() ? "?" + scope().slice(1) : ""));
      const who = $("la-cap-of");
      const chosen = who.value;
      who.replaceChildren(el("option", { value: "" }, _("Everyone")));
      for (const t of r.teams) if (t.team) who.append(el("option", { value: "team:" + t.team }, _("Team %(team)s", { team: t.team })));
      for (const a of r.agents) who.append(el("option", { value: "agent:" + a.agent_id }, a.name || _("Agent %(id)s", { id: a.agent_id })));
      who.value = [...who.options].some((o) => o.value === chosen) ? chosen : "";
      const [kind, id] = who.value.split(/:(.*)/s);
      const rec = kind === "team" ? r.teams.find((t) => t.team === id)
        : kind === "agent" ? r.agents.find((a) => String(a.agent_id) === id) : r.overall;
      const levels = rec.levels;
      const xs = levels.map((l) => l.concurrency);
      if (!levels.length) {
        emptyState($("chart-caps"), ngettext(
          "No replies measured yet: the curves appear once agents have answered chats in the last %(num)d day.",
          "No replies measured yet: the curves appear once agents have answered chats in the last %(num)d days.",
          r.days));
      } else lineChart($("chart-caps"), {
        xs, label: _("Response time, handle time and CSAT by chats held"), xLabel: (k) => ngettext("%(num)d chat", "%(num)d chats", k),
        series: [
          { name: _("reply p50 (s)"), color: "#0369a1", values: levels.map((l) => l.response_p50_s) },
          { name: _("reply p90 (s)"), color: "#c2410c", values: levels.map((l) => l.response_p90_s) },
          { name: _("handle (min)"), color: "#7c3aed", values: levels.map((l) => l.handle_mean_s === null ? null : l.handle_mean_s / 60) },
          { name: _("CSAT ×10"), color: "#16a34a", values: levels.map((l) => l.csat_mean === null ? null : l.csat_mean * 10) },
        ],
      });
      $("la-cap").textContent = rec.recommended_cap === null ? "–" : String(rec.recommended_cap);
      $("la-cap-reason").textContent = capReason(rec) + " " + _("(reply target %(target)s s)", { target: r.response_target_s });
      $("la-cap-accept").disabled = rec.recommended_cap === null;
      $("la-cap-accept").dataset.cap = rec.recommended_cap === null ? "" : String(rec.recommended_cap);
      $("la-adaptive").textContent = r.adaptive ? _("adaptive caps on") : "";
    } catch (err) {
      $("la-cap-reason").textContent = err.message;
    }
  }

  $("la-cap-accept").addEventListener("click", async () => {
    const cap = Number($("la-cap-accept").dataset.cap);
    const [kind, id] = $("la-cap-of").value.split(/:(.*)/s);
    const body = { cap, recommended: cap };
    if (kind === "team") body.team = id;
    else if (kind === "agent") body.agent_ids = [Number(id)];
    else if ($("la-team").value.trim()) body.team = $("la-team").value.trim();
    try {
      const done = await api("POST", "/api/desk/caps/apply", body);
      $("la-cap-status").textContent = ngettext("Cap %(cap)s applied to %(num)d agent.", "Cap %(cap)s applied to %(num)d agents.", done.agents.length, { cap: done.cap });
      loadCapAudit();
    } catch (err) {
      $("la-cap-status").textContent = err.message;
    }
  });

  // Who accepted which cap, when, from what to what: the stored audit trail, as text.
  async function loadCapAudit() {
    try {
      const r = await api("GET", "/api/desk/caps/audit");
      const body = $("la-cap-audit").tBodies[0];
      body.replaceChildren();
      for (const e of r.entries) {
        const row = el("tr", {});
        for (const text of [auditFormat.format(new Date(e.at)), e.agent_name, e.before, e.after,
          e.recommended === null ? "–" : e.recommended, e.actor]) row.append(el("td", {}, text));
        body.append(row);
      }
    } catch (err) {
      $("la-cap-status").textContent = err.message;
    }
  }

  // A roster upload: the CSV as it is, for the team in the box; the plan then compares with it.
  $("la-roster").addEventListener("change", async () => {
    const file = $("la-roster").files[0];
    if (!file) return;
    const team = $("la-team").value.trim();
    const response = await fetch("/api/desk/roster" + (team ? "?team=" + encodeURIComponent(team) : ""), {
      method: "PUT", credentials: "same-origin",
      headers: { "content-type": "text/csv", "x-csrf-token": csrf }, body: await file.text(),
    });
    const text = await response.text();
    $("la-roster").value = "";
    if (!response.ok) {
      // The message names the line of the CSV that did not read.
      let message = text;
      try { message = JSON.parse(text).message || text; } catch { /* plain text */ }
      $("la-roster-status").textContent = "";
      $("la-error").textContent = message;
      return;
    }
    const done = JSON.parse(text);
    $("la-roster-status").textContent = ngettext("Roster stored for %(num)d interval.", "Roster stored for %(num)d intervals.", done.intervals);
    loadForecast();
  });

  // The early warning: pushed as `breach_warning`, and carried by each board frame.
  function showBreach(b) {
    const box = $("la-breach");
    if (!b) { box.hidden = true; box.replaceChildren(); return; }
    const when = b.minutes_to_breach <= 0 ? _("the wait is already past the target")
      : _("at this rate the wait passes the %(target)s s target in %(minutes)s min", {
        target: b.target_s, minutes: Math.round(b.minutes_to_breach),
      });
    const more = ngettext("%(num)d more agent would prevent it (%(rate)s chats/h).",
      "%(num)d more agents would prevent it (%(rate)s chats/h).", b.more_agents, { rate: b.arrivals_per_hour });
    box.replaceChildren(el("strong", {}, _("Early warning:") + " "), document.createTextNode(when + "; " + more));
    box.dataset.moreAgents = String(b.more_agents);
    box.hidden = false;
  }
  window.Lookahead = { showBreach };

  $("la-refresh").addEventListener("click", () => { loadForecast(); loadCaps(); });
  $("la-cap-of").addEventListener("change", loadCaps);
  loadForecast();
  loadCaps();
  loadCapAudit();
  setInterval(loadForecast, 300000);
})();
