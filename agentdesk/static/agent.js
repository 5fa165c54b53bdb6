// The agent console: every chat as a tab, each with its own transcript, draft, suggestions
// and customer panel. Nothing is lost across reconnects: every chat remembers the highest
// seq it has shown and resumes from there; unacknowledged sends are retried with the same
// client_msg_id, which the hub stores once. User text is only ever set with textContent.
// With manual accept on, offered chats wait above the tabs as "incoming" cards with a
// countdown until the agent accepts or declines them, or the hub withdraws them.
(() => {
  "use strict";
  const { el, api, duration, socket, userText, describeEvent, _, ngettext, time, dateTime, stateName, authorName } = window.Desk;
  const me = document.getElementById("me");
  const myId = Number(me.dataset.agentId);
  const tabs = document.getElementById("tabs");
  const stage = document.getElementById("stage");
  const empty = document.getElementById("empty");
  const link = document.getElementById("link");
  const statusBtn = document.getElementById("status");
  const offersBox = document.getElementById("offers");
  const offerList = document.getElementById("offer-list");
  const offerCount = document.getElementById("offer-count");
  const announcer = document.getElementById("announce");
  const baseTitle = document.title;
  const chats = new Map(); // conversation_id -> chat
  const outbox = new Map(); // client_msg_id -> send frame, until acked
  const offers = new Map(); // conversation_id -> offer, oldest (most urgent) first
  const settled = new Map(); // conversation_id -> "accept" | "decline" | "lapsed", until the hub says
  let order = []; // conversation ids in tab order
  let active = null;
  let wire = null;
  let audio = null;

  // ------------------------------------------------------------------ kept in this browser

  // What must survive a reload: the last seq the agent has read per chat (so a replay does
  // not count old messages as unread) and unsent drafts. Per agent, in localStorage.
  const READ_KEY = "livedesk.read." + myId;
  const DRAFT_PREFIX = "livedesk.draft." + myId + ".";

  function stored(key, fallback) {
    try { const v = localStorage.getItem(key); return v === null ? fallback : JSON.parse(v); } catch { return fallback; }
  }

  function store(key, value) {
    try {
      if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, JSON.stringify(value));
    } catch { /* storage full or blocked: the console still works, it only forgets more */ }
  }

  function readSeqOf(id) {
    return Number(stored(READ_KEY, {})[id] || 0);
  }

  function rememberRead(chat) {
    if (chat.lastSeq <= chat.readSeq) return;
    chat.readSeq = chat.lastSeq;
    const all = stored(READ_KEY, {});
    all[chat.id] = chat.readSeq;
    store(READ_KEY, all);
  }

  function pruneRead() {
    const all = stored(READ_KEY, {});
    for (const id of Object.keys(all)) if (!chats.has(id)) delete all[id];
    store(READ_KEY, all);
  }

  function forgetChat(id, keepDraft = false) {
    const all = stored(READ_KEY, {});
    if (id in all) { delete all[id]; store(READ_KEY, all); }
    if (!keepDraft) store(DRAFT_PREFIX + id, null);
  }

  // ------------------------------------------------------------------ notifications

  function beep() {
    try {
      audio = audio || new AudioContext();
      // Made before any click after a reload, it starts suspended: notify.js's "Enable
      // sound" click gives the gesture, and this lets it ring from then on.
      if (audio.state === "suspended") audio.resume().catch(() => {});
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.08, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.0001, audio.currentTime + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start();
      osc.stop(audio.currentTime + 0.25);
    } catch { /* no audio device: the title badge still tells */ }
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
  }

  // The badge counts what waits for the agent: unread messages and unanswered offers.
  function updateTitle() {
    let unread = 0;
    for (const chat of chats.values()) unread += chat.unread;
    const waiting = unread + offers.size;
    document.title = waiting ? "(" + waiting + ") " + baseTitle : baseTitle;
    document.body.dataset.unread = String(unread);
    document.body.dataset.offers = String(offers.size);
  }

  function announce(text) {
    announcer.textContent = "";
    setTimeout(() => { announcer.textContent = text; }, 50); // a fresh change is read out
  }

  function isWatched(chat) {
    return chat.id === active && !document.hidden;
  }

  // The connection in the agent's words (states and authors: common.js's stateName and
  // authorName).
  const LINK_STATE = {
    connecting: _("connecting"), online: _("online"), offline: _("offline"),
    ended: _("session ended — log in again"),
  };

  // ------------------------------------------------------------------ chats

  function visitorName(chat) {
    return (chat.visitor && (chat.visitor.name || chat.visitor.alias)) || _("Visitor %(id)s", { id: chat.id.slice(0, 4) });
  }

  function makeChat(id, visitor) {
    const chat = {
      id, visitor: visitor || null, state: "active", lastSeq: 0, seenSent: 0, unread: 0,
      readSeq: readSeqOf(id), pinned: true,
      waitingSince: null, resuming: false, early: new Map(), suggestions: [], suggestAt: 0, detail: null,
      canned: [], cannedAt: 0, typingTimer: null, lastTyping: 0,
    };
    chat.tab = el("button", {
      class: "tab", role: "tab", type: "button", "aria-selected": "false",
      dataset: { conversationId: id }, onclick: () => activate(id),
    });
    chat.tabName = el("span", { class: "tab-name" });
    chat.tabWait = el("span", { class: "tab-wait", title: _("waiting for your reply") });
    chat.tabUnread = el("span", { class: "badge", "aria-label": _("unread") });
    chat.tab.append(chat.tabName, chat.tabWait, chat.tabUnread);

    chat.pane = el("section", { class: "chat", hidden: true, dataset: { conversationId: id } });
    const head = el("header", { class: "chat-head" });
    chat.title = el("h2");
    chat.stateLabel = el("span", { class: "state" });
    const actions = el("div", { class: "actions" });
    actions.append(
      el("button", { type: "button", class: "transfer", onclick: () => openTransfer(chat) }, _("Transfer")),
      el("button", { type: "button", class: "close", onclick: () => openClose(chat) }, _("Close")),
    );
    head.append(chat.title, chat.stateLabel, actions);
    chat.log = el("ol", { class: "log", "aria-live": "polite" });
    chat.typing = el("p", { class: "typing", hidden: true }, _("typing…"));
    chat.warning = el("p", { class: "reply-warning", role: "alert", hidden: true });
    const form = el("form", { class: "composer" });
    chat.input = el("textarea", {
      rows: 3, "aria-label": _("Reply"), placeholder: _("Reply… (/ for canned replies)"),
      maxlength: 4000,
    });
    chat.cannedList = el("ul", { class: "canned", role: "listbox", hidden: true });
    form.append(chat.cannedList, chat.input, el("button", { type: "submit" }, _("Send")));
    form.addEventListener("submit", (e) => { e.preventDefault(); sendReply(chat); });
    chat.input.addEventListener("keydown", (e) => composerKey(chat, e));
    chat.input.addEventListener("input", () => composerInput(chat));
    chat.input.value = stored(DRAFT_PREFIX + id, "") || "";
    // The log follows new items only while the agent reads its end.
    chat.log.addEventListener("scroll", () => {
      if (!chat.pane.hidden) chat.pinned = chat.log.scrollHeight - chat.log.scrollTop - chat.log.clientHeight < 40;
    });
    const main = el("div", { class: "chat-main" });
    main.append(chat.warning, chat.log, chat.typing, form);

    const side = el("aside", { class: "side" });
    chat.suggestBox = el("section", { class: "suggestions", "aria-label": _("Suggestions") });
    chat.articleBox = el("section", { class: "article-view", "aria-label": _("Article"), hidden: true });
    chat.customerBox = el("section", { class: "customer", "aria-label": _("Customer") });
    side.append(chat.suggestBox, chat.articleBox, chat.customerBox);
    const body = el("div", { class: "chat-body" });
    body.append(main, side);
    chat.pane.append(head, body);
    renderSuggestions(chat);
    renderCustomer(chat);
    return chat;
  }

  function ensureChat(id, visitor) {
    let chat = chats.get(id);
    if (!chat) {
      chat = makeChat(id, visitor);
      chats.set(id, chat);
      order.push(id);
      tabs.append(chat.tab);
      stage.append(chat.pane);
      empty.hidden = true;
      if (!active) activate(id);
    } else if (visitor) {
      chat.visitor = visitor;
    }
    refreshLabels(chat);
    return chat;
  }

  // keepDraft: the chat was taken from the agent (not closed or handed on by them): its
  // unsent draft stays in this browser and comes back with the chat if it returns.
  function removeChat(id, reason, keepDraft = false) {
    const chat = chats.get(id);
    if (!chat) return;
    chats.delete(id);
    if (keepDraft && chat.input.value.trim()) store(DRAFT_PREFIX + id, chat.input.value);
    forgetChat(id, keepDraft);
    const at = order.indexOf(id);
    order = order.filter((x) => x !== id);
    chat.tab.remove();
    chat.pane.remove();
    if (active === id) {
      active = null;
      const next = order[Math.min(at, order.length - 1)];
      if (next) activate(next);
    }
    empty.hidden = chats.size > 0;
    if (reason) toast(reason);
    updateTitle();
  }

  function refreshLabels(chat) {
    const name = visitorName(chat);
    if (chat.shownName !== name) {
      chat.shownName = name;
      chat.tabName.replaceChildren(userText("bdi", {}, name));
      chat.title.replaceChildren(userText("bdi", {}, name));
    }
    chat.stateLabel.textContent = stateName(chat.state);
    chat.tab.classList.toggle("closed", chat.state === "closed");
    chat.tabUnread.textContent = chat.unread ? String(chat.unread) : "";
    chat.tabUnread.hidden = !chat.unread;
    chat.tabWait.textContent = chat.waitingSince ? duration((Date.now() - chat.waitingSince) / 1000) : "";
    chat.tab.classList.toggle("waiting", !!chat.waitingSince);
  }

  function activate(id) {
    const chat = chats.get(id);
    if (!chat) return;
    active = id;
    for (const other of chats.values()) {
      const on = other.id === id;
      other.pane.hidden = !on;
      other.tab.setAttribute("aria-selected", on ? "true" : "false");
      other.tab.classList.toggle("active", on);
    }
    chat.unread = 0;
    // A chat filled while hidden had no height to scroll: open it at its end.
    if (chat.pinned) chat.log.scrollTop = chat.log.scrollHeight;
    refreshLabels(chat);
    updateTitle();
    markSeen(chat);
    if (!chat.detail) loadCustomer(chat);
    chat.input.focus();
  }

  function markSeen(chat) {
    if (!isWatched(chat)) return;
    rememberRead(chat);
    if (chat.lastSeq <= chat.seenSent || !wire) return;
    if (wire.send({ type: "seen", conversation_id: chat.id, seq: chat.lastSeq })) chat.seenSent = chat.lastSeq;
  }

  function resume(chat) {
    if (!wire) return;
    chat.resuming = true;
    wire.send({ type: "resume", conversation_id: chat.id, after_seq: chat.lastSeq });
  }

  // ------------------------------------------------------------------ transcript

  const LABEL = { visitor: null, bot: _("Bot"), system: _("System") };

  function addItem(chat, frame) {
    chat.lastSeq = frame.seq;
    const li = el("li", { class: "item " + frame.author, dataset: { seq: frame.seq, author: frame.author } });
    const who = frame.author === "visitor" ? visitorName(chat)
      : frame.author === "agent" ? (frame.author_name || _("Agent")) : LABEL[frame.author];
    const meta = el("div", { class: "meta" });
    const whoEl = frame.author === "visitor" || frame.author === "agent" ? userText("bdi", { class: "who" }, who) : el("span", { class: "who" }, who);
    meta.append(whoEl, el("time", { datetime: new Date(frame.ts).toISOString() }, time(frame.ts)));
    li.append(meta);
    if (frame.type === "message") {
      li.append(userText("p", { class: "text" }, frame.text, { links: true }));
      if (frame.client_msg_id) {
        const pending = chat.log.querySelector('li.pending[data-cmid="' + CSS.escape(frame.client_msg_id) + '"]');
        if (pending) pending.remove();
      }
    } else {
      li.classList.add("event");
      li.append(el("p", { class: "text" }, describeEvent(frame)));
      const d = frame.data || {};
      if ((frame.event === "transferred" || frame.event === "order") && d.note) li.append(userText("p", { class: "note" }, d.note, { links: true }));
      if (frame.event === "handoff" && d.summary) {
        li.classList.add("handoff");
        li.append(userText("blockquote", { class: "summary" }, d.summary));
      }
    }
    const pendings = chat.log.querySelector("li.pending");
    chat.log.insertBefore(li, pendings);
    if (chat.pinned) chat.log.scrollTop = chat.log.scrollHeight;
    return true;
  }

  // Items are shown strictly in seq order: one that runs ahead waits in `early` while
  // the missing ones are fetched with resume; repeats (replay overlap) are dropped.
  function onItem(frame) {
    const chat = chats.get(frame.conversation_id);
    if (!chat || frame.seq <= chat.lastSeq) return;
    if (frame.seq > chat.lastSeq + 1) {
      chat.early.set(frame.seq, frame);
      if (!chat.resuming) resume(chat);
      return;
    }
    applyItem(chat, frame);
    let next;
    while ((next = chat.early.get(chat.lastSeq + 1))) {
      chat.early.delete(next.seq);
      applyItem(chat, next);
    }
    for (const seq of chat.early.keys()) if (seq <= chat.lastSeq) chat.early.delete(seq);
    refreshLabels(chat);
    updateTitle();
    markSeen(chat);
  }

  function applyItem(chat, frame) {
    addItem(chat, frame);
    if (frame.type === "message") {
      if (frame.author === "visitor") {
        chat.waitingSince = chat.waitingSince || frame.ts || Date.now();
        chat.typing.hidden = true;
        if (!isWatched(chat) && frame.seq > chat.readSeq) {
          chat.unread += 1;
          if (!chat.resuming) beep(); // a replay after reconnect counts, but rings once
        }
      } else if (frame.author === "agent") {
        chat.waitingSince = null;
      }
    } else if (frame.event === "closed") {
      chat.state = "closed";
      chat.waitingSince = null;
    }
  }

  // ------------------------------------------------------------------ composer

  function newId() {
    return "a" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);
  }

  function sendReply(chat) {
    const text = chat.input.value.trim();
    if (!text || chat.state === "closed") return;
    const frame = { type: "send", conversation_id: chat.id, text, client_msg_id: newId() };
    outbox.set(frame.client_msg_id, frame);
    const li = el("li", { class: "item agent pending", dataset: { cmid: frame.client_msg_id } });
    li.append(el("div", { class: "meta" }, _("sending…")), userText("p", { class: "text" }, text, { links: true }));
    chat.log.append(li);
    chat.pinned = true;
    chat.log.scrollTop = chat.log.scrollHeight;
    chat.input.value = "";
    store(DRAFT_PREFIX + chat.id, null);
    hideCanned(chat);
    wire && wire.send(frame);
    wire && wire.send({ type: "typing", conversation_id: chat.id, active: false });
  }

  function composerInput(chat) {
    store(DRAFT_PREFIX + chat.id, chat.input.value || null);
    const now = Date.now();
    if (wire && chat.state !== "closed" && now - chat.lastTyping > 2000) {
      chat.lastTyping = now;
      wire.send({ type: "typing", conversation_id: chat.id, active: true });
    }
    const value = chat.input.value;
    const match = /^\/(\S*)$/.exec(value);
    if (!match) { hideCanned(chat); return; }
    clearTimeout(chat.cannedTimer);
    chat.cannedTimer = setTimeout(() => lookupCanned(chat, match[1]), 120);
  }

  async function lookupCanned(chat, prefix) {
    const lang = (chat.visitor && chat.visitor.language) || "";
    let results = [];
    try {
      const data = await api("GET", "/api/canned?prefix=" + encodeURIComponent(prefix) + "&lang=" + encodeURIComponent(lang));
      results = data.results || [];
    } catch (err) {
      toast(_("Canned replies unavailable: %(error)s", { error: err.message }));
    }
    if (!/^\/\S*$/.test(chat.input.value)) return; // typed on meanwhile
    chat.canned = results;
    chat.cannedAt = 0;
    renderCanned(chat);
  }

  function renderCanned(chat) {
    chat.cannedList.replaceChildren();
    chat.canned.forEach((c, i) => {
      const li = el("li", {
        role: "option", "aria-selected": i === chat.cannedAt ? "true" : "false",
        class: i === chat.cannedAt ? "picked" : "",
        onmousedown: (e) => { e.preventDefault(); pickCanned(chat, i); },
      });
      li.append(el("code", {}, "/" + c.shortcut), el("span", {}, " " + c.text));
      chat.cannedList.append(li);
    });
    chat.cannedList.hidden = chat.canned.length === 0;
  }

  function hideCanned(chat) {
    chat.canned = [];
    chat.cannedList.hidden = true;
  }

  function pickCanned(chat, index) {
    const c = chat.canned[index];
    if (!c) return;
    chat.input.value = c.text;
    store(DRAFT_PREFIX + chat.id, c.text);
    hideCanned(chat);
    chat.input.focus();
  }

  function composerKey(chat, e) {
    const cannedOpen = !chat.cannedList.hidden && chat.canned.length;
    if (cannedOpen && (e.key === "ArrowDown" || e.key === "ArrowUp")) {
      e.preventDefault();
      const n = chat.canned.length;
      chat.cannedAt = (chat.cannedAt + (e.key === "ArrowDown" ? 1 : n - 1)) % n;
      renderCanned(chat);
    } else if (cannedOpen && (e.key === "Tab" || (e.key === "Enter" && !e.shiftKey))) {
      e.preventDefault();
      pickCanned(chat, chat.cannedAt);
    } else if (cannedOpen && e.key === "Escape") {
      hideCanned(chat);
    } else if (e.key === "Enter" && !e.shiftKey && !e.altKey) {
      e.preventDefault();
      sendReply(chat);
    }
  }

  // ------------------------------------------------------------------ suggestions

  function renderSuggestions(chat) {
    const box = chat.suggestBox;
    box.replaceChildren(el("h3", {}, _("Suggestions")));
    if (!chat.suggestions.length) {
      box.append(el("p", { class: "muted" }, _("Suggestions from the knowledge base appear as the visitor writes.")));
      return;
    }
    const list = el("ol", { class: "suggest-list" });
    chat.suggestions.forEach((s, i) => {
      const li = el("li", { class: "suggestion", dataset: { articleId: s.article_id } });
      li.append(
        el("strong", {}, s.title),
        el("p", {}, s.snippet),
        el("button", { type: "button", onclick: () => insertSuggestion(chat, i), title: i === 0 ? "Alt+I" : "" }, _("Insert")),
        " ",
        el("button", { type: "button", class: "open-article", onclick: () => openArticle(chat, s.article_id) }, _("Open")),
      );
      list.append(li);
    });
    box.append(list);
  }

  function insertSuggestion(chat, index) {
    const s = chat.suggestions[index];
    if (!s) return;
    insertText(chat, s.reply || s.snippet); // the whole reply; the snippet is only a preview
    chat.suggestAt = (index + 1) % chat.suggestions.length;
  }

  function insertText(chat, text) {
    const current = chat.input.value.trim();
    chat.input.value = current ? current + " " + text : text;
    store(DRAFT_PREFIX + chat.id, chat.input.value);
    chat.input.focus();
  }

  // The full article beside the chat, as text (its body is never parsed as HTML).
  async function openArticle(chat, articleId) {
    const box = chat.articleBox;
    const close = el("button", { type: "button", class: "close-article", onclick: () => closeArticle(chat) }, _("Close"));
    box.replaceChildren(el("h3", {}, _("Article")), el("p", { class: "muted" }, _("Loading…")));
    box.hidden = false;
    let article;
    let visitorArticle;
    try {
      // In the agent's language when the article has a translation in it; what is inserted
      // stays the visitor's article (the one suggested).
      article = await api("GET", "/api/kb/articles/" + encodeURIComponent(articleId) + "?lang=" + encodeURIComponent(window.Desk.lang));
      visitorArticle = article.translation_of
        ? await api("GET", "/api/kb/articles/" + encodeURIComponent(article.translation_of)) : article;
    } catch (err) {
      box.replaceChildren(el("h3", {}, _("Article")), el("p", { class: "error" }, err.message), close);
      return;
    }
    const title = el("h4", { tabindex: "-1" }, article.title);
    const text = el("div", { class: "article-text" });
    for (const para of String(article.body || "").split(/\n\s*\n/)) {
      if (para.trim()) text.append(el("p", {}, para.trim()));
    }
    const note = visitorArticle !== article
      ? el("p", { class: "muted translation-note" }, _("In your language (%(lang)s); Insert answer sends the visitor's version (%(visitor)s).", { lang: article.lang, visitor: visitorArticle.lang }))
      : "";
    box.replaceChildren(
      el("h3", {}, _("Article")),
      title,
      note,
      text,
      el("div", { class: "article-actions" }),
    );
    box.lastChild.append(
      el("button", { type: "button", class: "insert-article", onclick: () => insertText(chat, visitorArticle.reply || visitorArticle.body) }, _("Insert answer")),
      " ",
      close,
    );
    box.dataset.articleId = visitorArticle.id;
    box.dataset.shownId = article.id;
    title.focus();
  }

  function closeArticle(chat) {
    chat.articleBox.hidden = true;
    chat.articleBox.replaceChildren();
    delete chat.articleBox.dataset.articleId;
    chat.input.focus();
  }

  // ------------------------------------------------------------------ customer panel

  async function loadCustomer(chat) {
    try {
      chat.detail = await api("GET", "/api/desk/conversations/" + encodeURIComponent(chat.id));
    } catch (err) {
      chat.detail = null;
      chat.customerBox.replaceChildren(el("h3", {}, _("Customer")), el("p", { class: "error" }, err.message));
      return;
    }
    renderCustomer(chat);
  }

  function renderCustomer(chat) {
    const box = chat.customerBox;
    box.replaceChildren(el("h3", {}, _("Customer")));
    const c = chat.detail && chat.detail.customer;
    if (!c) { box.append(el("p", { class: "muted" }, _("Loading…"))); return; }
    const dl = el("dl", { class: "facts" });
    const fact = (k, v, cls) => dl.append(el("dt", {}, k), el("dd", { class: cls || "" }, v));
    const said = (k, v) => dl.append(el("dt", {}, k), v ? userText("dd", {}, v) : el("dd", {}, "–"));
    said(_("Name"), c.name);
    said(_("E-mail"), c.email);
    fact(_("Identity"), c.verified ? _("verified") : _("not verified"), c.verified ? "ok" : "warn");
    fact(_("Language"), c.language || "–");
    if (!c.name && c.alias) fact(_("Known as"), c.alias);
    // Paid support counts each channel: what was written here, came in by mail, went out.
    const conv = chat.detail.conversation;
    if (conv && conv.messages_by_channel) {
      const m = conv.messages_by_channel;
      fact(_("Channel"), conv.channel === "email" ? _("e-mail") : _("chat"));
      const counts = [
        ngettext("%(num)d in chat", "%(num)d in chat", m.chat),
        ngettext("%(num)d mail in", "%(num)d mail in", m.email_in),
        ngettext("%(num)d mail out", "%(num)d mail out", m.email_out),
      ];
      fact(_("Messages"), counts.join(" · "), "channel-counts");
    }
    renderVisit(c.visit, said);
    if (c.credits) {
      fact(_("Credits left"), String(c.credits.balance), "credits-left");
      fact(_("Credits used"), String(c.credits.used));
    } else {
      fact(_("Credits"), c.verified ? _("none") : _("unknown (not verified)"));
    }
    box.append(dl);
    if (c.orders && c.orders.length) {
      box.append(el("h4", {}, _("Orders")));
      const ul = el("ul", { class: "orders" });
      for (const o of c.orders) ul.append(el("li", {}, "#" + o.number + " · " + o.status));
      box.append(ul);
    }
    box.append(el("h4", {}, _("Past conversations")));
    if (!c.past || !c.past.length) box.append(el("p", { class: "muted" }, _("None.")));
    for (const p of c.past || []) {
      const details = el("details", { class: "past" });
      const label = dateTime(p.created_ms) + " · " + stateName(p.state) + (p.tags ? " · " + p.tags : "");
      details.append(el("summary", {}, label));
      details.addEventListener("toggle", () => loadPast(details, p.id), { once: true });
      box.append(details);
    }
    box.append(el("h4", {}, _("Team notes")));
    const notes = el("ul", { class: "notes", "aria-label": _("Team notes") });
    for (const n of c.notes || []) {
      const li = el("li");
      li.append(userText("bdi", {}, n.body, { links: true }), el("span", { class: "muted" }, " — " + n.author_name + ", " + dateTime(n.created_ms)));
      notes.append(li);
    }
    box.append(notes);
    const form = el("form", { class: "note-form" });
    const input = el("input", { type: "text", maxlength: 1000, placeholder: _("Note for the team…"), "aria-label": _("New team note") });
    form.append(input, el("button", { type: "submit" }, _("Add note")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const body = input.value.trim();
      if (!body) return;
      try {
        const saved = await api("POST", "/api/desk/conversations/" + encodeURIComponent(chat.id) + "/notes", { body });
        const li = el("li");
        li.append(userText("bdi", {}, saved.body, { links: true }), el("span", { class: "muted" }, " — " + saved.author_name + ", " + dateTime(Date.now())));
        notes.prepend(li);
        input.value = "";
      } catch (err) {
        form.append(el("p", { class: "error" }, err.message));
      }
    });
    box.append(form);
  }

  // Where the visitor is and what they run: the page (as text, links only http(s)), how they
  // came, browser/OS/device, their local time. Everything here comes from the visitor's side.
  function renderVisit(v, said) {
    if (!v) return;
    const page = v.current_page;
    said(_("Page"), page ? (page.title ? page.title + " — " : "") + page.url : null);
    said(_("Came from"), v.referrer);
    said(_("Browser"), [v.browser, v.os, v.device].filter(Boolean).join(" · ") || null);
    if (v.time_zone) {
      const at = v.local_time ? new Date(v.local_time) : new Date();
      let local = "";
      try {
        local = new Intl.DateTimeFormat(window.Desk.lang, { timeZone: v.time_zone, hour: "2-digit", minute: "2-digit" }).format(at) + " ";
      } catch (err) { /* an unknown zone: show its name alone */ }
      said(_("Local time"), local + "(" + v.time_zone + ")");
    }
    said(_("Visits"), v.visits ? String(v.visits) : null);
    // The pre-chat form's other answers; the site's own question by its label, as text.
    const answers = v.answers || {};
    if (answers.phone) said(_("Phone"), answers.phone);
    if (answers.order) said(_("Order number"), answers.order);
    if (answers.custom) said(answers.custom_label || _("Your own question"), answers.custom);
    const pages = (v.pages || []).map((p) => p.title || p.url);
    said(_("Pages this visit"), pages.length ? pages.join(" ← ") : null);
  }

  async function loadPast(details, id) {
    try {
      const data = await api("GET", "/api/desk/conversations/" + encodeURIComponent(id) + "/transcript");
      const ol = el("ol", { class: "log mini" });
      for (const item of data.items) {
        if (item.type !== "message") continue;
        const li = el("li", { class: "item " + item.author });
        li.append(el("span", { class: "who" }, authorName(item.author) + ": "), userText("bdi", {}, item.text, { links: true }));
        ol.append(li);
      }
      details.append(ol);
    } catch (err) {
      details.append(el("p", { class: "error" }, err.message));
    }
  }

  // ------------------------------------------------------------------ transfer, close

  const transferDialog = document.getElementById("transfer-dialog");
  const closeDialog = document.getElementById("close-dialog");
  let dialogChat = null;

  async function openTransfer(chat) {
    dialogChat = chat;
    const select = document.getElementById("transfer-target");
    document.getElementById("transfer-error").textContent = "";
    document.getElementById("transfer-note").value = "";
    select.replaceChildren(el("option", { value: "queue:" }, _("Back to the queue (the next free colleague)")));
    try {
      const data = await api("GET", "/api/desk/agents");
      // Colleagues who can take it now come first; the others are listed, greyed, with why.
      const colleagues = data.agents.filter((a) => a.id !== myId).map((a) => ({ ...a, why: unavailable(a) }));
      colleagues.sort((a, b) => (!a.why - !b.why) * -1 || a.name.localeCompare(b.name));
      const group = el("optgroup", { label: _("Colleagues") });
      for (const a of colleagues) {
        const label = a.name + (a.why ? " — " + a.why : " (" + a.load + "/" + a.cap + ")");
        group.append(el("option", { value: "agent:" + a.id, disabled: !!a.why, dataset: { why: a.why || "" } }, label));
      }
      if (colleagues.length) select.append(group);
      if (data.teams.length) {
        const teams = el("optgroup", { label: _("Teams") });
        for (const t of data.teams) teams.append(el("option", { value: "team:" + t }, _("Team %(team)s", { team: t })));
        select.append(teams);
      }
    } catch (err) {
      document.getElementById("transfer-error").textContent = err.message;
    }
    transferDialog.showModal();
  }

  function unavailable(a) {
    if (a.status !== "online") return a.status === "away" ? _("away") : a.status === "offline" ? _("offline") : a.status;
    if (a.load >= a.cap) return _("full (%(load)s/%(cap)s)", { load: a.load, cap: a.cap });
    return null;
  }

  document.getElementById("transfer-form").addEventListener("submit", async (e) => {
    if (e.submitter && e.submitter.value === "cancel") return;
    e.preventDefault();
    const chat = dialogChat;
    const [kind, value] = document.getElementById("transfer-target").value.split(/:(.*)/s);
    const body = { note: document.getElementById("transfer-note").value };
    if (kind === "agent") body.to_agent = Number(value);
    else if (kind === "team") body.to_team = value;
    else body.to_queue = true;
    try {
      await api("POST", "/api/desk/conversations/" + encodeURIComponent(chat.id) + "/transfer", body);
      transferDialog.close();
      removeChat(chat.id, _("Transferred."));
    } catch (err) {
      document.getElementById("transfer-error").textContent = err.message;
    }
  });

  function openClose(chat) {
    dialogChat = chat;
    document.getElementById("close-error").textContent = "";
    if (chat.state === "closed") { removeChat(chat.id); return; }
    closeDialog.showModal();
    document.getElementById("close-tags").focus();
  }

  document.getElementById("close-form").addEventListener("submit", async (e) => {
    if (e.submitter && e.submitter.value === "cancel") return;
    e.preventDefault();
    const chat = dialogChat;
    const tags = document.getElementById("close-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
    const outcome = document.getElementById("close-outcome").value;
    try {
      await api("POST", "/api/desk/conversations/" + encodeURIComponent(chat.id) + "/close", { tags, outcome });
      closeDialog.close();
      document.getElementById("close-tags").value = "";
      removeChat(chat.id, _("Closed."));
    } catch (err) {
      document.getElementById("close-error").textContent = err.message;
    }
  });

  // ------------------------------------------------------------------ incoming offers

  // Manual accept: the hub offers a chat with a deadline; the card shows what the offer and
  // the store tell cheaply (the offered agent may already read the conversation), a
  // countdown, and Accept / Decline. The hub's timer is the one that counts: at zero the card
  // waits a moment for `offer_withdrawn` (which says why) before it goes on its own.
  const OFFER_GRACE_MS = 3000;
  const WITHDRAWN = {
    accept_timeout: _("timeout"), declined: _("declined"), agent_gone: _("you were away"),
    closed: _("visitor left"), transfer: _("transferred"),
  };

  function offerName(offer) {
    const c = offer.detail && offer.detail.customer;
    return (c && (c.name || c.alias)) || _("Visitor %(id)s", { id: offer.id.slice(0, 4) });
  }

  function addOffer(id, deadlineS) {
    const known = offers.get(id);
    const deadline = deadlineS > 0 ? Date.now() + deadlineS * 1000 : null;
    if (known) {
      // Still offered after a reconnect: a stated deadline wins; one that ran out here while
      // the hub still holds the offer was wrong, so the time becomes unknown.
      if (deadline !== null) Object.assign(known, { deadline, total: deadlineS * 1000 });
      else if (known.expired) known.deadline = null;
      known.expired = false;
      known.card.classList.remove("expired");
      setOfferButtons(known, true);
      renderOffers();
      tickOffers();
      return;
    }
    const offer = { id, deadline, total: deadline === null ? 0 : deadlineS * 1000, expired: false, detail: null, preview: null };
    buildOffer(offer);
    offers.set(id, offer);
    settled.delete(id);
    offerList.append(offer.card);
    renderOffers();
    tickOffers();
    beep();
    announce(_("Incoming chat from %(name)s. Alt+Y accepts, Alt+N declines.", { name: offerName(offer) }));
    loadOffer(offer);
  }

  function buildOffer(offer) {
    const id = offer.id;
    offer.card = el("li", { class: "offer", dataset: { conversationId: id }, title: _("Conversation %(id)s", { id }) });
    const body = el("div", {
      class: "offer-body", role: "group",
      "aria-labelledby": "offer-name-" + id, "aria-describedby": "offer-facts-" + id + " offer-preview-" + id,
    });
    offer.name = el("strong", { class: "offer-name", id: "offer-name-" + id });
    offer.timer = el("span", { class: "offer-timer", role: "timer", "aria-label": _("time left to answer") });
    const head = el("div", { class: "offer-head" });
    head.append(offer.name, offer.timer);
    offer.facts = el("p", { class: "offer-facts", id: "offer-facts-" + id });
    offer.previewEl = el("p", { class: "offer-preview", id: "offer-preview-" + id, hidden: true });
    offer.fill = el("span");
    const bar = el("div", { class: "offer-bar", "aria-hidden": "true" });
    bar.append(offer.fill);
    offer.accept = el("button", { type: "button", class: "accept", onclick: () => answerOffer(id, true) }, _("Accept"));
    offer.decline = el("button", { type: "button", class: "decline", onclick: () => answerOffer(id, false) }, _("Decline"));
    const actions = el("div", { class: "offer-actions" });
    actions.append(offer.accept, offer.decline);
    body.append(head, offer.facts, offer.previewEl, bar, actions);
    offer.card.append(body);
    labelOffer(offer);
  }

  function labelOffer(offer) {
    const name = offerName(offer);
    if (offer.shownName !== name) {
      offer.shownName = name;
      offer.name.replaceChildren(userText("bdi", {}, name));
      offer.name.title = name; // the card truncates it
      offer.accept.setAttribute("aria-label", _("Accept chat with %(name)s", { name }));
      offer.decline.setAttribute("aria-label", _("Decline chat with %(name)s", { name }));
    }
    const facts = [];
    const conv = offer.detail && offer.detail.conversation;
    const c = offer.detail && offer.detail.customer;
    if (c) {
      if (c.language || (conv && conv.language)) facts.push((c.language || conv.language).toUpperCase());
      facts.push(c.verified ? _("verified") : _("not verified"));
      if (c.credits) facts.push(ngettext("%(num)d credit", "%(num)d credits", c.credits.balance));
      if (c.past && c.past.length) facts.push(ngettext("%(num)d earlier chat", "%(num)d earlier chats", c.past.length));
    }
    if (conv && conv.team) facts.push(_("team %(team)s", { team: conv.team }));
    if (conv && conv.created_ms) facts.push(_("waiting %(time)s", { time: duration((Date.now() - conv.created_ms) / 1000) }));
    facts.push("#" + offer.id.slice(0, 6));
    const text = facts.join(" · ");
    if (offer.facts.textContent !== text) offer.facts.textContent = text;
    if (offer.shownPreview !== (offer.preview || "")) {
      offer.shownPreview = offer.preview || "";
      offer.previewEl.replaceChildren(userText("bdi", {}, offer.shownPreview));
    }
    offer.previewEl.hidden = !offer.preview;
  }

  // Who is asking and what they wrote first: the two reads the console already makes for
  // a chat (customer panel, transcript), done once while the offer stands.
  async function loadOffer(offer) {
    const base = "/api/desk/conversations/" + encodeURIComponent(offer.id);
    const [detail, transcript] = await Promise.allSettled([api("GET", base), api("GET", base + "/transcript")]);
    if (offers.get(offer.id) !== offer) return; // answered or withdrawn meanwhile
    if (detail.status === "fulfilled") offer.detail = detail.value;
    if (transcript.status === "fulfilled") {
      const said = (transcript.value.items || []).filter((i) => i.type === "message" && i.author === "visitor");
      if (said.length) offer.preview = said[0].text + (said.length > 1 ? "  " + ngettext("(+%(num)d more)", "(+%(num)d more)", said.length - 1) : "");
    }
    labelOffer(offer);
  }

  function renderOffers() {
    offersBox.hidden = offers.size === 0;
    offerCount.textContent = String(offers.size);
    // The keyboard shortcuts act on the most urgent offer: the first one still open.
    const first = urgentOffer();
    for (const offer of offers.values()) {
      const on = offer === first;
      offer.accept.title = on ? "Alt+Y" : "";
      offer.decline.title = on ? "Alt+N" : "";
      if (on) {
        offer.accept.setAttribute("aria-keyshortcuts", "Alt+Y");
        offer.decline.setAttribute("aria-keyshortcuts", "Alt+N");
      } else {
        offer.accept.removeAttribute("aria-keyshortcuts");
        offer.decline.removeAttribute("aria-keyshortcuts");
      }
    }
    updateTitle();
  }

  function urgentOffer() {
    for (const offer of offers.values()) if (!offer.expired) return offer;
    return null;
  }

  function setOfferButtons(offer, on) {
    offer.accept.disabled = !on;
    offer.decline.disabled = !on;
  }

  function removeOffer(id, note) {
    const offer = offers.get(id);
    if (!offer) return;
    const hadFocus = offer.card.contains(document.activeElement);
    offers.delete(id);
    offer.card.remove();
    renderOffers();
    if (hadFocus) {
      // Keep the keyboard where the work is: the next offer, else the open chat.
      const next = urgentOffer();
      if (next) next.accept.focus();
      else if (chats.get(active)) chats.get(active).input.focus();
    }
    if (note) toast(note);
  }

  function answerOffer(id, accept) {
    const offer = offers.get(id);
    if (!offer || offer.expired) return;
    const type = accept ? "accept" : "decline";
    if (!wire || !wire.send({ type, conversation_id: id })) {
      toast(_("Not connected: the answer was not sent. Try again in a moment."));
      return;
    }
    settled.set(id, type);
    removeOffer(id);
  }

  function offerWithdrawn(f) {
    const id = f.conversation_id;
    const why = WITHDRAWN[f.reason] || f.reason || _("withdrawn");
    const offer = offers.get(id);
    const mine = settled.get(id);
    settled.delete(id);
    if (offer) {
      removeOffer(id, _("Offer from %(name)s moved on (%(why)s).", { name: offerName(offer), why }));
    } else if (mine === "accept") {
      // Our accept crossed the hub's timer: the chat went on without us.
      toast(_("Too late: that chat had already moved on (%(why)s).", { why }));
    }
  }

  function tickOffers() {
    const now = Date.now();
    for (const offer of [...offers.values()]) {
      labelOffer(offer); // the "waiting" time
      if (offer.deadline === null) {
        offer.timer.textContent = "–:––"; // offered before a reconnect: the hub keeps the time
        offer.timer.setAttribute("aria-label", _("time left unknown"));
        offer.fill.style.setProperty("--left", "1");
        offer.card.classList.remove("urgent");
        continue;
      }
      offer.timer.setAttribute("aria-label", _("time left to answer"));
      const left = offer.deadline - now;
      if (left <= -OFFER_GRACE_MS) {
        settled.set(offer.id, "lapsed");
        removeOffer(offer.id, _("Offer from %(name)s expired.", { name: offerName(offer) }));
        continue;
      }
      const text = duration(Math.ceil(Math.max(0, left) / 1000));
      if (offer.timer.textContent !== text) offer.timer.textContent = text;
      offer.fill.style.setProperty("--left", String(Math.max(0, Math.min(1, left / offer.total))));
      offer.card.classList.toggle("urgent", left <= Math.min(10000, offer.total / 3));
      if (left <= 0 && !offer.expired) {
        const hadFocus = offer.card.contains(document.activeElement);
        offer.expired = true;
        offer.card.classList.add("expired");
        setOfferButtons(offer, false);
        renderOffers();
        if (hadFocus) {
          const next = urgentOffer();
          if (next) next.accept.focus();
        }
      }
    }
  }

  setInterval(() => { if (offers.size) tickOffers(); }, 250);

  // ------------------------------------------------------------------ status, toasts

  // "online" already names the connection beside it: the agent's own state reads differently.
  const STATUS_LABEL = { online: _("Available"), away: _("Away") };

  function showStatus(status) {
    statusBtn.dataset.status = status;
    statusBtn.textContent = STATUS_LABEL[status] || status;
    statusBtn.setAttribute("aria-pressed", status === "online" ? "true" : "false");
  }

  statusBtn.addEventListener("click", () => {
    const next = statusBtn.dataset.status === "online" ? "away" : "online";
    if (wire && wire.send({ type: "status", status: next })) showStatus(next);
  });

  // The hub warns before a chat nobody answered moves on. A draft is work: say so at once
  // (the warning is then withdrawn); otherwise show which chat and when, until it ends.
  function replyWarning(f) {
    const chat = chats.get(f.conversation_id);
    if (!chat) return;
    if (f.moves_in_s === null || f.moves_in_s === undefined) {
      chat.warning.hidden = true;
      chat.tab.classList.remove("warned");
      return;
    }
    if (chat.input.value.trim() && wire) {
      wire.send({ type: "working", conversation_id: chat.id });
      return;
    }
    const text = ngettext(
      "Chat with %(name)s moves to a colleague in %(num)d s unless you reply or start typing.",
      "Chat with %(name)s moves to a colleague in %(num)d s unless you reply or start typing.",
      f.moves_in_s, { name: visitorName(chat) },
    );
    chat.warning.textContent = text;
    chat.warning.hidden = false;
    chat.tab.classList.add("warned");
    if (active !== chat.id) toast(text);
  }

  function toast(text) {
    const t = el("div", { class: "toast", role: "status" }, text);
    document.body.append(t);
    setTimeout(() => t.remove(), 4000);
  }

  const help = document.getElementById("help");
  const helpToggle = document.getElementById("help-toggle");
  helpToggle.addEventListener("click", () => {
    help.hidden = !help.hidden;
    helpToggle.setAttribute("aria-expanded", help.hidden ? "false" : "true");
  });
  document.addEventListener("keydown", (e) => {
    if (e.key !== "Escape" || help.hidden) return;
    help.hidden = true;
    helpToggle.setAttribute("aria-expanded", "false");
    helpToggle.focus();
  });

  // ------------------------------------------------------------------ keyboard

  document.addEventListener("keydown", (e) => {
    if (!e.altKey || e.ctrlKey || e.metaKey) return;
    const at = order.indexOf(active);
    const chat = chats.get(active);
    let handled = true;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      if (order.length) {
        const step = e.key === "ArrowDown" ? 1 : order.length - 1;
        activate(order[(at + step) % order.length]);
      }
    } else if (/^Digit[1-9]$/.test(e.code)) {
      const id = order[Number(e.code.slice(5)) - 1];
      if (id) activate(id);
    } else if (e.code === "KeyI" && chat) {
      insertSuggestion(chat, e.shiftKey ? chat.suggestAt : 0);
    } else if (e.code === "KeyT" && chat) {
      openTransfer(chat);
    } else if (e.code === "KeyC" && chat) {
      openClose(chat);
    } else if (e.code === "KeyA") {
      statusBtn.click();
    } else if ((e.code === "KeyY" || e.code === "KeyN") && !e.shiftKey && urgentOffer()) {
      answerOffer(urgentOffer().id, e.code === "KeyY");
    } else {
      handled = false;
    }
    if (handled) e.preventDefault();
  });

  document.addEventListener("visibilitychange", () => {
    const chat = chats.get(active);
    if (chat && !document.hidden) {
      chat.unread = 0;
      refreshLabels(chat);
      updateTitle();
      markSeen(chat);
    }
  });

  setInterval(() => { for (const chat of chats.values()) if (chat.waitingSince) refreshLabels(chat); }, 1000);

  // ------------------------------------------------------------------ the wire

  function onFrame(f) {
    switch (f.type) {
      case "welcome": {
        showStatus(f.agent.status || "online");
        const live = new Set();
        const offered = new Set();
        for (const summary of f.conversations) {
          if (summary.state === "offered") {
            // Still offered to us: the welcome does not say until when.
            offered.add(summary.conversation_id);
            addOffer(summary.conversation_id, null);
            continue;
          }
          live.add(summary.conversation_id);
          const chat = ensureChat(summary.conversation_id, summary.visitor);
          chat.readSeq = Math.max(chat.readSeq, summary.agent_seen_seq || 0);
          resume(chat);
        }
        // Offers that ended while we were away go quietly; so do answers nobody confirmed.
        for (const id of [...offers.keys()]) if (!offered.has(id)) removeOffer(id);
        settled.clear();
        // Chats that left us while we were away (transfer, requeue) go; closed ones stay.
        for (const chat of [...chats.values()]) {
          if (!live.has(chat.id) && chat.state !== "closed") removeChat(chat.id, _("A chat left you while offline."));
        }
        pruneRead();
        for (const frame of outbox.values()) wire.send(frame); // same ids: stored once
        break;
      }
      case "assigned": {
        const summary = f.conversation;
        const id = summary.conversation_id;
        const fresh = !chats.has(id);
        const accepted = settled.get(id) === "accept";
        settled.delete(id);
        removeOffer(id); // accepted here or in another tab
        const chat = ensureChat(id, summary.visitor);
        chat.state = summary.state;
        resume(chat);
        if (accepted) {
          if (active !== id) activate(id); // the agent just took it: go there
        } else if (fresh) {
          beep(); // an accepted one already rang as an offer
        }
        break;
      }
      case "unassigned": {
        removeOffer(f.conversation_id); // `offer_withdrawn` came first and said why
        const gone = chats.get(f.conversation_id);
        const who = gone ? visitorName(gone) : _("a visitor");
        let text = f.reason === "no_first_reply"
          ? _("Chat with %(name)s moved to a colleague (no first reply in time).", { name: who })
          : _("Chat with %(name)s moved to a colleague.", { name: who });
        if (gone && gone.input.value.trim()) text += " " + _("Your draft is kept.");
        removeChat(f.conversation_id, text, true);
        break;
      }
      case "reply_warning":
        replyWarning(f);
        break;
      case "offer":
        addOffer(f.conversation_id, Number(f.deadline_s));
        break;
      case "offer_withdrawn":
        offerWithdrawn(f);
        break;
      case "message":
      case "event":
        onItem(f);
        break;
      case "resumed": {
        const chat = chats.get(f.conversation.conversation_id);
        if (chat) {
          chat.resuming = false;
          chat.state = f.conversation.state;
          // Something committed after the replay was read: fetch it too.
          if (f.conversation.last_seq > chat.lastSeq) resume(chat);
          refreshLabels(chat);
          markSeen(chat);
        }
        break;
      }
      case "ack": {
        const sent = outbox.get(f.client_msg_id);
        outbox.delete(f.client_msg_id);
        // The hub does not echo our own text back: the ack's seq is where it stands.
        if (sent && !f.duplicate && Number.isInteger(f.seq)) {
          onItem({ type: "message", conversation_id: f.conversation_id, seq: f.seq, author: "agent", author_id: String(myId), author_name: me.textContent, text: sent.text, client_msg_id: f.client_msg_id, ts: Date.now() });
          break;
        }
        const pending = document.querySelector('li.pending[data-cmid="' + CSS.escape(f.client_msg_id) + '"] .meta');
        if (pending) pending.textContent = _("sent");
        break;
      }
      case "typing": {
        const chat = chats.get(f.conversation_id);
        if (chat && f.who === "visitor") {
          chat.typing.hidden = !f.active;
          clearTimeout(chat.typingTimer);
          if (f.active) chat.typingTimer = setTimeout(() => { chat.typing.hidden = true; }, 6000);
        }
        break;
      }
      case "suggestions": {
        const chat = chats.get(f.conversation_id);
        if (chat) {
          chat.suggestions = f.items || [];
          chat.suggestAt = 0;
          renderSuggestions(chat);
        }
        break;
      }
      case "balance": {
        const chat = chats.get(f.conversation_id);
        if (chat) {
          const credits = chat.detail && chat.detail.customer && chat.detail.customer.credits;
          if (credits && typeof f.balance === "number") {
            credits.used += credits.balance - f.balance;
            credits.balance = f.balance;
            renderCustomer(chat);
          }
          loadCustomer(chat);
        }
        else for (const c of chats.values()) if (c.detail && c.detail.customer.verified) loadCustomer(c);
        break;
      }
      case "status":
        showStatus(f.status);
        break;
      case "error":
        if (f.ref) outbox.delete(f.ref);
        toast(f.message || f.code);
        break;
      default:
        break;
    }
  }

  wire = socket("/ws/agent", {
    onframe: onFrame,
    onstate(state) {
      link.textContent = LINK_STATE[state] || state;
      link.dataset.state = state;
      if (state === "ended") setTimeout(() => { location.href = "/login"; }, 1500);
    },
  });
})();
