// Minimal agent console: one card per chat, history resumed from the last seq seen.
// User text is only ever set with textContent.
(() => {
  "use strict";
  const chats = new Map(); // conversation_id -> {el, log, lastSeq}
  const root = document.getElementById("chats");
  const link = document.getElementById("link");
  let ws = null;
  let backoff = 500;

  function send(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(frame));
  }

  function card(id) {
    let chat = chats.get(id);
    if (chat) return chat;
    const el = document.createElement("section");
    el.className = "chat";
    el.setAttribute("aria-label", "Conversation " + id);
    const title = document.createElement("h2");
    title.textContent = "Conversation " + id.slice(0, 6);
    const log = document.createElement("ol");
    log.className = "log";
    log.setAttribute("aria-live", "polite");
    const form = document.createElement("form");
    const input = document.createElement("input");
    input.placeholder = "Reply…";
    input.setAttribute("aria-label", "Reply");
    const sendBtn = document.createElement("button");
    sendBtn.textContent = "Send";
    const closeBtn = document.createElement("button");
    closeBtn.type = "button";
    closeBtn.textContent = "Close";
    form.append(input, sendBtn, closeBtn);
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const text = input.value.trim();
      if (!text) return;
      send({ type: "send", conversation_id: id, text, client_msg_id: crypto.randomUUID().replace(/-/g, "") });
      input.value = "";
    });
    let typingSent = false;
    input.addEventListener("input", () => {
      const active = input.value.length > 0;
      if (active !== typingSent) { typingSent = active; send({ type: "typing", conversation_id: id, active }); }
    });
    closeBtn.addEventListener("click", () => send({ type: "close", conversation_id: id }));
    el.append(title, log, form);
    root.append(el);
    chat = { el, log, lastSeq: 0 };
    chats.set(id, chat);
    return chat;
  }

  function show(frame) {
    const chat = card(frame.conversation_id);
    if (frame.seq <= chat.lastSeq) return; // already shown (resume overlap)
    if (frame.seq > chat.lastSeq + 1) { send({ type: "resume", conversation_id: frame.conversation_id, after_seq: chat.lastSeq }); return; }
    chat.lastSeq = frame.seq;
    const li = document.createElement("li");
    if (frame.type === "message") {
      const who = document.createElement("span");
      who.className = "who";
      who.textContent = frame.author === "visitor" ? "Visitor" : (frame.author_name || frame.author);
      li.append(who, document.createTextNode(frame.text));
    } else {
      li.className = "event";
      li.textContent = frame.event;
    }
    chat.log.append(li);
    chat.log.scrollTop = chat.log.scrollHeight;
    send({ type: "seen", conversation_id: frame.conversation_id, seq: frame.seq });
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/ws/agent", ["livedesk.v1.json"]);
    ws.onopen = () => { link.textContent = "connected"; backoff = 500; };
    ws.onclose = (e) => {
      link.textContent = "reconnecting…";
      if (e.code === 4100) { location.href = "/login"; return; }
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 10000);
    };
    ws.onmessage = (e) => {
      const f = JSON.parse(e.data);
      if (f.type === "welcome") {
        for (const c of f.conversations) { const chat = card(c.conversation_id); send({ type: "resume", conversation_id: c.conversation_id, after_seq: chat.lastSeq }); }
      } else if (f.type === "assigned") {
        const chat = card(f.conversation.conversation_id);
        send({ type: "resume", conversation_id: f.conversation.conversation_id, after_seq: chat.lastSeq });
      } else if (f.type === "message" || f.type === "event") {
        show(f);
      } else if (f.type === "unassigned") {
        const chat = chats.get(f.conversation_id);
        if (chat) { chat.el.remove(); chats.delete(f.conversation_id); }
      }
    };
  }
  document.getElementById("status").addEventListener("change", (e) => send({ type: "status", status: e.target.value }));
  connect();
})();
