// Minimal livedesk widget (JSON subprotocol). One script tag:
//   <script src="https://desk.example/widget.js" data-site="default"></script>
// User text is only ever set with textContent.
(() => {
  "use strict";
  const script = document.currentScript;
  const server = (script.dataset.server || new URL(script.src).origin).replace(/\/$/, "");
  const site = script.dataset.site || "default";
  const key = "livedesk:" + site;
  const saved = JSON.parse(localStorage.getItem(key) || "{}");
  let token = saved.token || null;
  let conv = saved.conv || null;
  let lastSeq = saved.lastSeq || 0;
  let ws = null;
  let backoff = 500;
  const outbox = [];

  const host = document.createElement("div");
  document.body.append(host);
  const shadow = host.attachShadow({ mode: "open" });
  shadow.innerHTML = `<style>
    .panel{position:fixed;right:1rem;bottom:1rem;width:20rem;max-width:calc(100vw - 2rem);height:26rem;background:#fff;border-radius:10px;box-shadow:0 4px 16px #0003;display:flex;flex-direction:column;font:14px/1.4 system-ui,sans-serif;color:#1d2330}
    header{padding:.5rem .75rem;background:#1d5bd8;color:#fff;border-radius:10px 10px 0 0}
    ol{flex:1;overflow-y:auto;list-style:none;margin:0;padding:.5rem .75rem}
    li{margin:.25rem 0;white-space:pre-wrap;overflow-wrap:anywhere}
    .who{font-weight:600;margin-right:.35rem}.event{color:#667;font-style:italic}
    form{display:flex;gap:.25rem;padding:.5rem;border-top:1px solid #eee} input{flex:1}
  </style><section class="panel" role="region" aria-label="Chat"><header>Chat with us</header>
  <ol role="log" aria-live="polite"></ol><form><input aria-label="Message" placeholder="Type a message…"><button>Send</button></form></section>`;
  const log = shadow.querySelector("ol");
  const form = shadow.querySelector("form");
  const input = shadow.querySelector("input");

  function persist() { localStorage.setItem(key, JSON.stringify({ token, conv, lastSeq })); }
  function line(cls, who, text) {
    const li = document.createElement("li");
    if (cls) li.className = cls;
    if (who) { const w = document.createElement("span"); w.className = "who"; w.textContent = who; li.append(w); }
    li.append(document.createTextNode(text));
    log.append(li);
    log.scrollTop = log.scrollHeight;
  }
  function show(f) {
    if (f.conversation_id !== conv) { conv = f.conversation_id; lastSeq = 0; }
    if (f.seq <= lastSeq) return;
    if (f.seq > lastSeq + 1) { ws.send(JSON.stringify({ type: "resume", conversation_id: conv, after_seq: lastSeq })); return; }
    lastSeq = f.seq; persist();
    if (f.type === "message") {
      const who = f.author === "visitor" ? "You" : f.author === "bot" ? "Bot" : (f.author_name || "Agent");
      line("", who, f.text);
    } else if (f.event === "assigned") {
      line("event", "", (f.data.agent && f.data.agent.name ? f.data.agent.name : "An agent") + " joined");
    } else if (f.event === "closed") {
      line("event", "", "Conversation closed");
      conv = null; lastSeq = 0; persist();
    }
  }
  async function session() {
    const r = await fetch(server + "/api/visitor/session", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ site, token, language: navigator.language.slice(0, 2) }) });
    if (!r.ok) throw new Error("session " + r.status);
    token = (await r.json()).token; persist();
  }
  async function connect() {
    try { if (!token) await session(); } catch (e) { return retry(); }
    ws = new WebSocket(server.replace(/^http/, "ws") + "/ws/visitor", ["livedesk.v1.json", "livedesk.token." + token]);
    let opened = false;
    ws.onopen = () => { opened = true; backoff = 500; };
    ws.onclose = (e) => { if (!opened && e.code !== 1006) token = null; if (e.code === 4100 || !opened) token = null; retry(); };
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.type === "welcome") {
        if (f.conversation) { if (f.conversation.conversation_id !== conv) { conv = f.conversation.conversation_id; lastSeq = 0; log.textContent = ""; } ws.send(JSON.stringify({ type: "resume", conversation_id: conv, after_seq: lastSeq })); }
        while (outbox.length) ws.send(JSON.stringify(outbox[0])), outbox.shift();
      } else if (f.type === "message" || f.type === "event") show(f);
      else if (f.type === "queue") line("event", "", "You are number " + f.position + " in the queue");
    };
  }
  function retry() { setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 10000); }
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    const frame = { type: "send", text, client_msg_id: crypto.randomUUID().replace(/-/g, "") };
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame)); else outbox.push(frame);
    input.value = "";
  });
  connect();
})();
