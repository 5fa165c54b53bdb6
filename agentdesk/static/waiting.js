// The supervisor's waiting list: every queued chat with its wait, language, team, whether
// the customer pays and their first message, longest waiting first, and an Assign that
// goes through the router (never past the agent's cap). Refreshed on the board's frames
// (the dashboard's socket, heard through "desk:frame"), at most every two seconds.
(() => {
  "use strict";
  const { el, api, duration, userText, _ } = window.Desk;
  const rows = document.getElementById("waiting-rows");
  const count = document.getElementById("waiting-count");
  const error = document.getElementById("waiting-error");
  let agents = [];
  let items = [];
  let last = 0;
  let pending = null;

  async function refresh() {
    last = Date.now();
    try {
      const [list, staff] = await Promise.all([
        api("GET", "/api/inbox?view=waiting&limit=100"),
        api("GET", "/api/desk/agents"),
      ]);
      items = list.items;
      agents = staff.agents;
      count.textContent = "(" + list.total + ")";
    } catch (e) { error.textContent = e.message; return; }
    render();
  }

  function render() {
    rows.replaceChildren(...items.map((item) => {
      const select = el("select", { "aria-label": _("Assign to") });
      for (const a of agents) {
        if (a.status === "offline") continue;
        select.append(el("option", { value: String(a.id) }, a.name + " (" + a.load + "/" + a.cap + ")"));
      }
      const assign = el("button", {
        type: "button",
        onclick: async () => {
          error.textContent = "";
          try {
            await api("POST", "/api/inbox/" + encodeURIComponent(item.id) + "/assign", { agent_id: Number(select.value) });
          } catch (e) { error.textContent = e.message; return; }
          refresh();
        },
      }, _("Assign"));
      const tr = el("tr", { dataset: { id: item.id } });
      const cell = el("td");
      cell.append(select, assign);
      tr.append(
        el("td", { class: "wait", dataset: { since: String(item.created_ms) } }, duration((Date.now() - item.created_ms) / 1000)),
        userText("td", {}, item.visitor_name || item.email || item.alias),
        el("td", {}, item.language || "–"),
        el("td", {}, item.team || "–"),
        el("td", {}, item.paying ? _("paying") : "–"),
        userText("td", { class: "first" }, item.first_message || ""),
        cell,
      );
      return tr;
    }));
  }

  function soon() {
    if (pending) return;
    pending = setTimeout(() => { pending = null; refresh(); }, Math.max(0, 2000 - (Date.now() - last)));
  }

  document.addEventListener("desk:frame", (event) => {
    const kind = event.detail && event.detail.type;
    if (kind === "board" || kind === "queue_changed") soon();
  });
  setInterval(() => {
    for (const td of rows.querySelectorAll("td.wait")) td.textContent = duration((Date.now() - Number(td.dataset.since)) / 1000);
  }, 1000);
  refresh();
})();
