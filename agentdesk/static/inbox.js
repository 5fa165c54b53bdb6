// The inbox, over the console: views (Mine, Waiting, All open, Offline messages, Closed)
// with filters and live counts, any conversation opened in full, and its actions (take,
// pick, assign, reply to an offline message, close). It shares the console's socket
// through the "desk:frame" event and never touches agent.js's state: a taken chat reaches
// the console as the usual `assigned` frame. User text is only ever set as text.
(() => {
  "use strict";
  const { el, api, duration, userText, describeEvent, _, ngettext, dateTime, stateName, authorName } = window.Desk;
  const root = document.getElementById("inbox");
  const toggle = document.getElementById("inbox-toggle");
  const badge = document.getElementById("inbox-badge");
  const viewsNav = document.getElementById("inbox-views");
  const filters = document.getElementById("inbox-filters");
  const list = document.getElementById("inbox-list");
  const total = document.getElementById("inbox-total");
  const more = document.getElementById("inbox-more");
  const detail = document.getElementById("inbox-detail");
  const searchForm = document.getElementById("inbox-search");
  const supervisor = root.dataset.supervisor === "yes";
  const VIEWS = [
    ["mine", _("Mine")],
    ["waiting", _("Waiting")],
    ...(supervisor ? [["open", _("All open")]] : []),
    ["offline", _("Offline messages")],
    ["closed", _("Closed")],
  ];
  // A colleague's presence in the assign list, in the words the console uses for it.
  const AGENT_STATUS = { online: _("online"), away: _("away"), offline: _("offline") };
  let view = "mine";
  let counts = {};
  let items = [];
  let openId = null;
  let agents = [];
  let refreshTimer = null;

  function renderViews() {
    viewsNav.replaceChildren(
      ...VIEWS.map(([key, label]) =>
        el("button", {
          type: "button",
          dataset: { view: key },
          "aria-pressed": String(key === view),
          onclick: () => { view = key; openId = null; searchQuery = null; detail.replaceChildren(); load(false); renderViews(); },
        }, label + " (" + (counts[key] ?? "…") + ")"),
      ),
    );
    const waiting = (counts.offline || 0) + (counts.waiting || 0);
    badge.textContent = waiting ? String(waiting) : "";
    badge.hidden = !waiting;
  }

  async function loadCounts() {
    try {
      counts = (await api("GET", "/api/inbox/counts")).counts;
    } catch { return; }
    renderViews();
  }

  function query(offset) {
    const params = new URLSearchParams({ view, offset: String(offset), limit: "50" });
    for (const [k, v] of new FormData(filters)) if (v) params.set(k, String(v));
    return "/api/inbox?" + params;
  }

  async function load(append) {
    const data = await api("GET", query(append ? items.length : 0));
    items = append ? items.concat(data.items) : data.items;
    total.textContent = ngettext("%(num)d conversation", "%(num)d conversations", data.total);
    more.hidden = items.length >= data.total;
    list.replaceChildren(...items.map(row));
  }

  function waited(item) {
    const end = item.closed_ms || Date.now();
    return duration((end - item.created_ms) / 1000);
  }

  function row(item) {
    const who = item.visitor_name || item.email || item.alias;
    const hours = item.in_hours === false ? _("outside hours") : null;
    const bits = [stateName(item.state), waited(item), hours, item.language, item.team, item.paying ? _("paying") : null, item.agent_name]
      .filter(Boolean).join(" · ");
    const li = el("li", { dataset: { id: item.id } });
    const b = el("button", { type: "button", "aria-current": String(item.id === openId), onclick: () => open(item.id) });
    b.append(userText("strong", {}, who), el("span", { class: "muted" }, bits),
      userText("span", { class: "inbox-item-first" }, item.first_message || ""));
    li.append(b);
    return li;
  }

  // A snippet's highlights are [start, end) ranges into its text: <mark> elements built
  // around text nodes, never markup.
  function highlighted(snip) {
    const node = el("span", { class: "inbox-item-first", dir: "auto" });
    let at = 0;
    for (const [a, b] of snip.highlights) {
      if (a > at) node.append(userText("span", {}, snip.text.slice(at, a)));
      node.append(userText("mark", {}, snip.text.slice(a, b)));
      at = b;
    }
    if (at < snip.text.length) node.append(userText("span", {}, snip.text.slice(at)));
    return node;
  }

  let searchQuery = null;
  async function runSearch(append) {
    const params = new URLSearchParams({ q: searchQuery.q, kind: searchQuery.kind, limit: "20", offset: String(append ? items.length : 0) });
    let data;
    try {
      data = await api("GET", "/api/inbox/search?" + params);
    } catch (error) { total.textContent = error.message; return; }
    items = append ? items.concat(data.items) : data.items;
    total.textContent = _("Results for “%(q)s”: %(num)s", { q: searchQuery.q, num: data.total + (data.total_is_lower_bound ? "+" : "") });
    more.hidden = items.length >= data.total && !data.total_is_lower_bound;
    list.replaceChildren(...items.map((item) => {
      const li = el("li", { class: "search-hit", dataset: { id: item.conversation_id || item.visitor_id } });
      const label = item.conversation_id
        ? [item.author_name || authorName(item.author), stateName(item.state), dateTime(item.created_ms)].join(" · ")
        : [item.name, item.email || item.customer_email].filter(Boolean).join(" · ");
      const b = el("button", { type: "button", onclick: item.conversation_id ? () => open(item.conversation_id) : undefined });
      b.append(userText("strong", {}, label), highlighted(item.snippet));
      li.append(b);
      return li;
    }));
  }

  function fmtTime(ms) {
    return ms ? dateTime(ms) : "–";
  }

  // Who changed a state, by name where the page knows it: the events say "agent:7",
  // "supervisor:7" or "visitor:<id>" (a bare "bot" or "system" in the agent's words).
  function actorName(actor, c) {
    const [kind, id] = actor.split(":");
    if (kind === "visitor") return c.visitor_name || c.alias;
    const agent = (kind === "agent" || kind === "supervisor") ? agents.find((a) => String(a.id) === id) : null;
    return agent ? agent.name : authorName(actor);
  }

  async function open(id) {
    openId = id;
    for (const b of list.querySelectorAll("li button")) b.setAttribute("aria-current", String(b.parentNode.dataset.id === id));
    let data;
    try {
      data = await api("GET", "/api/inbox/" + encodeURIComponent(id));
    } catch (error) {
      detail.replaceChildren(el("p", { class: "inbox-error" }, error.message));
      return;
    }
    const c = data.conversation;
    const facts = el("dl");
    const fact = (label, v) => facts.append(el("dt", {}, label), userText("dd", {}, v ?? "–"));
    fact(_("State"), stateName(c.state));
    fact(_("Visitor"), c.visitor_name || c.alias);
    fact(_("E-mail"), c.email);
    fact(_("Handled by"), c.handled_by.join(", ") || _("nobody yet"));
    fact(_("Language"), c.language);
    fact(_("Team"), c.team);
    fact(_("Opened"), fmtTime(c.created_ms));
    fact(_("Closed"), fmtTime(c.closed_ms));
    fact(_("Tags"), c.tags.join(", "));
    fact(_("Outcome"), c.outcome);
    fact(_("CSAT"), c.csat_score === null ? null : c.csat_score + (c.csat_comment ? " — " + c.csat_comment : ""));
    fact(_("Credits used"), String(c.credits_used));
    const v = data.visit;
    if (v) {
      fact(_("Page"), v.current_page ? (v.current_page.title ? v.current_page.title + " — " : "") + v.current_page.url : null);
      fact(_("Referrer"), v.referrer);
      fact(_("Browser"), [v.browser, v.os, v.device].filter(Boolean).join(" · ") || null);
      fact(_("Local time"), v.time_zone ? (v.local_time ? new Date(v.local_time).toLocaleTimeString(window.Desk.lang, { timeZone: v.time_zone, hour: "2-digit", minute: "2-digit" }) : "") + " (" + v.time_zone + ")" : null);
      fact(_("Visits"), String(v.visits));
      fact(_("Pages this visit"), v.pages.map((p) => p.title || p.url).join(" ← ") || null);
    }
    const transcript = el("ol", { class: "transcript", "aria-label": _("Transcript") });
    for (const item of data.items) {
      if (item.type === "message") {
        const li = el("li", { class: "message", dataset: { author: item.author } });
        li.append(el("strong", {}, (item.author_name || authorName(item.author)) + ": "), userText("span", {}, item.text, { links: true }));
        transcript.append(li);
      } else {
        transcript.append(el("li", { class: "event" }, describeEvent(item)));
      }
    }
    const history = el("ol", { class: "transcript", "aria-label": _("State changes") });
    for (const e of data.events) {
      const change = _("%(from)s → %(to)s by %(actor)s", { from: e.from_state ? stateName(e.from_state) : "–", to: stateName(e.to_state), actor: actorName(e.actor, c) });
      history.append(el("li", { class: "event" }, fmtTime(e.created_ms) + " " + change));
    }
    detail.replaceChildren(
      userText("h2", {}, c.visitor_name || c.email || c.alias),
      actions(c),
      facts,
      el("h3", {}, _("Transcript")),
      transcript,
      el("h3", {}, _("History")),
      history,
    );
  }

  function actions(c) {
    const box = el("div", { class: "inbox-actions" });
    const error = el("p", { class: "inbox-error", role: "alert" });
    const act = (label, path, body) =>
      el("button", {
        type: "button",
        onclick: async () => {
          error.textContent = "";
          try {
            await api("POST", "/api/inbox/" + encodeURIComponent(c.id) + path, body ? body() : {});
          } catch (e) { error.textContent = e.message; return; }
          refreshSoon(0);
        },
      }, label);
    if (["closed", "rated", "abandoned", "offline"].includes(c.state)) box.append(act(c.state === "offline" ? _("Take as chat") : _("Reopen and take"), "/take"));
    if (c.state === "bot") box.append(act(_("Pick"), "/take"));
    if (c.state === "offline") box.append(act(_("Close"), "/close"));
    if (supervisor && (c.state === "offline" || c.state === "bot")) {
      const select = el("select", { "aria-label": _("Assign to") });
      for (const a of agents) select.append(el("option", { value: String(a.id) }, a.name + " (" + (AGENT_STATUS[a.status] || a.status) + ", " + a.load + "/" + a.cap + ")"));
      box.append(select, act(_("Assign"), "/assign", () => ({ agent_id: Number(select.value) })));
    }
    const wrap = el("div", {}, null);
    wrap.append(box, error);
    if (c.state === "offline") {
      const text = el("textarea", { rows: "3", maxlength: "4000", "aria-label": _("Reply by e-mail") });
      const send = act(_("Reply by e-mail"), "/reply", () => ({ text: text.value }));
      const form = el("div", { class: "inbox-reply" });
      form.append(text, send);
      wrap.append(form);
    }
    return wrap;
  }

  function refreshSoon(delay = 300) {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(async () => {
      await loadCounts();
      if (!root.hidden && !searchQuery) {
        await load(false).catch(() => {});
        if (openId) await open(openId);
      }
    }, delay);
  }

  async function loadAgents() {
    try {
      agents = (await api("GET", "/api/desk/agents")).agents;
    } catch { return; }
    const select = filters.elements.agent;
    for (const a of agents) select.append(el("option", { value: String(a.id) }, a.name));
  }

  toggle.addEventListener("click", () => {
    root.hidden = !root.hidden;
    toggle.setAttribute("aria-expanded", String(!root.hidden));
    if (!root.hidden) { load(false).catch(() => {}); loadCounts(); }
  });
  filters.addEventListener("submit", (event) => { event.preventDefault(); load(false); });
  more.addEventListener("click", () => (searchQuery ? runSearch(true) : load(true)));
  searchForm.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = searchForm.elements.q.value.trim();
    searchQuery = q ? { q, kind: searchForm.elements.kind.value } : null;
    if (searchQuery) runSearch(false); else load(false);
  });
  document.addEventListener("desk:frame", (event) => {
    const kind = event.detail && event.detail.type;
    if (kind === "inbox_changed" || kind === "assigned" || kind === "unassigned" || kind === "welcome") refreshSoon();
  });
  renderViews();
  loadCounts();
  loadAgents();
})();
