// The widget's controller: wires the connection, the sequencer and the views together and
// keeps the few facts that must outlive the page (storage.js).
import { createApi } from "./api.js";
import { createConnection } from "./connection.js";
import { translator } from "./i18n.js";
import { newId } from "./ids.js";
import { createSequencer } from "./sequencer.js";
import { takeResumeLink } from "./resume.js";
import { openStorage } from "./storage.js";
import { createComposer } from "./ui/composer.js";
import { h } from "./ui/dom.js";
import { offlineForm, prechatForm, ratingForm } from "./ui/forms.js";
import { sessionAnswers } from "./prechat.js";
import { createKb } from "./ui/kb.js";
import { safeHref } from "./ui/linkify.js";
import { createLog } from "./ui/log.js";
import { createNotifier } from "./ui/notify.js";
import { createPanel } from "./ui/panel.js";

const AGENT_TYPING_TIMEOUT_MS = 8000;
const RETRY_SEND_MS = 1500;

export function startWidget(config) {
  const t = translator(config.lang);
  const storage = openStorage(config.site);
  takeResumeLink(storage);
  const api = createApi(config.server);
  const notifier = createNotifier(t);
  const seq = createSequencer();
  const panel = createPanel(t, config);

  let limits = { max_text_chars: 4000 };
  let convState = null; // bot | offered | active | closed | null (none yet)
  let agentName = null;
  let available = true;
  let nobodyComing = null; // the conversation the server said no human will answer (offline event)
  let resuming = false;
  let everOpen = false;
  let lastSeenSent = 0;
  let agentSeen = 0;
  let unread = 0;
  let typingTimer = 0;
  let retryTimer = 0;
  let outbox = storage.get("outbox", []);
  let rating = null;
  let agentJoined = false; // has the visitor seen a person join since the chat last waited?
  let replyEtaS = null; // the hub's estimate of how soon a person answers a new chat
  const forms = {};
  const status = { queue: [], credits: null };

  // ---------------------------------------------------------------- views
  const log = createLog(t, {
    onArticle: (id) => {
      showKb();
      kb.open(id);
    },
    onHuman: () => sendText(t("human")),
    onQuickReply: (q) => (q.action === "end" ? endChat() : q.text && sendText(String(q.text))),
  });
  const composer = createComposer(t, { onSend: sendText, onTyping, maxChars: () => limits.max_text_chars });
  const typingLine = h("div", { className: "typing", "aria-hidden": "true" });
  const footer = h("div", { className: "footer" });
  const intro = h("p", { className: "intro" });
  const endBar = h("div", { className: "endbar", hidden: true });
  const chatView = h("div", { className: "view chat" }, intro, log.el, typingLine, footer, endBar);
  const kb = createKb(t, api, config.lang, { onBack: showChat });
  const kbView = h("div", { className: "view kbview", hidden: true }, kb.el);
  panel.body.append(chatView, kbView);

  /** The welcome line: who answers and how soon, before the visitor has written anything. */
  function renderIntro() {
    let when = "";
    if (available && typeof replyEtaS === "number" && replyEtaS >= 0) {
      when = replyEtaS < 60 ? t("replySoon") : t("replyIn", { eta: t("wait", { n: Math.round(replyEtaS / 60) }) });
    }
    intro.textContent = when ? t("welcome") + " " + when : t("welcome");
  }

  /** "End chat" under the composer while a conversation is open (it asks once before ending);
   * the welcome line only before. */
  function renderEndBar() {
    const open = Boolean(seq.id) && convState !== null && convState !== "closed";
    endBar.hidden = !open;
    intro.hidden = open; // once chatting, the status line tells the wait
    if (!open || endBar.dataset.asking) return;
    endBar.replaceChildren(h("button", { type: "button", className: "link end", onclick: askEnd }, t("endChat")));
  }

  function askEnd() {
    endBar.dataset.asking = "1";
    const no = h("button", { type: "button", className: "link cancel", onclick: () => stopAsking(true) }, t("cancel"));
    endBar.replaceChildren(
      h("span", { id: "ld-end-ask" }, t("endAsk")),
      " ",
      h("button", { type: "button", className: "link confirm", "aria-describedby": "ld-end-ask", onclick: () => endChat() }, t("endChat")),
      " ",
      no,
    );
    no.focus();
  }

  function stopAsking(refocus) {
    delete endBar.dataset.asking;
    renderEndBar();
    if (refocus) endBar.querySelector("button")?.focus();
  }

  function endChat() {
    if (!seq.id || convState === "closed") return;
    conn.send({ type: "close", conversation_id: seq.id });
    log.hideQuick();
    stopAsking(false);
  }

  function showChat() {
    kbView.hidden = true;
    chatView.hidden = false;
    focusFirst();
  }
  function showKb() {
    chatView.hidden = true;
    kbView.hidden = false;
    kb.show();
  }
  function focusFirst() {
    const target = footer.querySelector("input, textarea");
    target?.focus();
  }

  /** What sits under the log: the composer, or a form instead of it. */
  function renderFooter() {
    const open = convState && convState !== "closed";
    const profile = storage.get("profile", null);
    let node;
    const offline = (!open && !available) || (open && nobodyComing === seq.id);
    if (offline && !outbox.length) {
      // Built once: a re-render on the next frame must not wipe what the visitor typed.
      const known = { name: config.name || profile?.name, email: config.email || profile?.email };
      forms.offline ||= offlineForm(t, (values) => api.offline({ token: storage.get("token", null), ...values }), known);
      node = forms.offline.el;
    } else if (!open && config.prechat && !profile && !config.email && !outbox.length) {
      forms.prechat ||= prechatForm(t, config.fields, (values) => {
        const { name, email } = values;
        storage.set({ profile: { name, email, answers: sessionAnswers(config.fields, values) } });
        renderFooter();
        focusFirst();
        conn.reconnect();
      });
      node = forms.prechat.el;
    } else node = composer.el;
    if (footer.firstChild === node) return;
    // Swapping the form under the visitor's caret must not drop focus to the page's body
    // (keyboard users would lose their place, and Escape would stop closing the dialog).
    const hadFocus = footer.contains(panel.shadow.activeElement);
    footer.replaceChildren(node);
    if (hadFocus) focusFirst();
  }

  function renderStatus() {
    const lines = status.queue.map((text) => h("p", { className: "queue" }, text));
    if (status.credits !== null) {
      const href = safeHref(status.shop || "");
      lines.push(
        h(
          "p",
          { className: "credits" },
          t("credits", { n: status.credits }),
          href ? [" · ", h("a", { href, target: "_blank", rel: "noopener noreferrer" }, t("buy"))] : null,
        ),
      );
    }
    panel.status.replaceChildren(...lines);
  }

  function queueText(position, etaS) {
    const ahead = position - 1;
    const lines = [ahead <= 0 ? t("next") : t("ahead", { n: ahead })];
    if (typeof etaS === "number" && etaS >= 0) {
      const eta = etaS < 60 ? t("soon") : t("wait", { n: Math.round(etaS / 60) });
      lines.push(t("waitLabel", { eta }));
    }
    return lines;
  }

  function banner(text, withRetry) {
    panel.banner.hidden = !text;
    panel.banner.replaceChildren(
      text || "",
      withRetry ? h("button", { type: "button", className: "link", onclick: () => conn.restart() }, " ", t("retry")) : "",
    );
  }

  function setUnread(n) {
    unread = n;
    panel.setUnread(n);
  }

  // ---------------------------------------------------------------- sending
  function persistOutbox() {
    storage.set({ outbox });
  }

  function flush() {
    clearTimeout(retryTimer);
    for (const entry of outbox) {
      const sent = conn.send({ type: "send", text: entry.text, client_msg_id: entry.cmid });
      log.pending(entry.cmid, entry.text, sent ? "sending" : "queued");
    }
  }

  function sendText(text) {
    log.hideQuick(); // the visitor answered (typed or pressed): the old question's buttons go
    const entry = { cmid: newId(), text: text.slice(0, limits.max_text_chars) };
    outbox.push(entry);
    persistOutbox();
    const sent = conn.send({ type: "send", text: entry.text, client_msg_id: entry.cmid });
    log.pending(entry.cmid, entry.text, sent ? "sending" : "queued");
    if (footer.firstChild !== composer.el) renderFooter();
  }

  function settled(cmid, state) {
    const before = outbox.length;
    outbox = outbox.filter((e) => e.cmid !== cmid);
    if (outbox.length !== before) persistOutbox();
    log.setPending(cmid, state);
  }

  function onTyping(active, preview) {
    if (!seq.id || convState === "closed" || convState === null) return;
    conn.send(active ? { type: "typing", active, preview } : { type: "typing", active: false });
  }

  function markSeen() {
    if (!panel.isOpen() || document.hidden || !seq.id || seq.last <= lastSeenSent) return;
    if (conn.send({ type: "seen", conversation_id: seq.id, seq: seq.last })) lastSeenSent = seq.last;
    storage.set({ readConv: seq.id, readSeq: seq.last });
    setUnread(0);
  }

  // ---------------------------------------------------------------- receiving
  function adopt(convId) {
    // A conversation we are not showing yet: ours is new (first send, or the old one closed).
    if (seq.id === convId) return true;
    if (seq.id && convState && convState !== "closed") return false;
    seq.reset(convId, 0);
    convState = convState === "closed" || !convState ? "bot" : convState;
    agentJoined = false;
    lastSeenSent = 0;
    agentSeen = 0;
    storage.set({ conv: convId });
    return true;
  }

  function resume() {
    if (!seq.id || resuming) return;
    resuming = conn.send({ type: "resume", conversation_id: seq.id, after_seq: seq.last });
  }

  function eventNote(frame) {
    const data = frame.data || {};
    switch (frame.event) {
      case "assigned":
        return t("joined", { name: (data.agent && data.agent.name) || t("agent") });
      case "requeued":
        // Only someone who saw a person join is "back" in the queue: an offer an agent let
        // lapse or declined was never shown to the visitor.
        return agentJoined ? t("requeued") : null;
      case "agent_left":
        return agentJoined ? t("left") : null;
      case "transferred":
        return t("transferred");
      case "closed":
        return t("closed");
      case "no_credits": {
        const href = safeHref(data.shop_url || status.shop || "");
        return [t("noCredits"), href && [" ", h("a", { href, target: "_blank", rel: "noopener noreferrer" }, t("buy"))]];
      }
      default:
        return null;
    }
  }

  function applyEvent(frame) {
    const data = frame.data || {};
    if (frame.event === "assigned") {
      convState = "active";
      nobodyComing = null;
      agentName = (data.agent && data.agent.name) || agentName;
      agentJoined = true;
      status.queue = [];
      log.hideHuman();
    } else if (frame.event === "requeued" || frame.event === "agent_left") {
      convState = "bot";
      agentJoined = false;
    } else if (frame.event === "closed") {
      convState = "closed";
      status.queue = [];
      typingLine.textContent = "";
      log.hideQuick();
      showRating(frame.conversation_id);
    } else if (frame.event === "no_credits") {
      status.credits = 0;
    } else if (frame.event === "offline") {
      available = false;
      nobodyComing = frame.conversation_id;
    }
    renderStatus();
    renderFooter();
    renderEndBar();
  }

  function show(frame) {
    if (frame.type === "own") return; // already on screen, confirmed by its ack
    const fresh = log.add(frame, frame.type === "event" ? eventNote(frame) : null);
    if (frame.type === "event") return applyEvent(frame);
    if (frame.author === "visitor" && frame.client_msg_id) settled(frame.client_msg_id, "sent");
    if (!fresh || frame.author === "visitor") return;
    if (frame.author === "agent") typingLine.textContent = "";
    const readSeq = storage.get("readConv", null) === frame.conversation_id ? storage.get("readSeq", 0) : 0;
    if (frame.seq > readSeq) {
      if (!panel.isOpen()) setUnread(unread + 1);
      if (!resuming) notifier.reply();
    }
  }

  function onItem(frame) {
    if (!adopt(frame.conversation_id)) return;
    const { ready, gap } = seq.push(frame);
    ready.forEach(show);
    if (gap) resume();
    markSeen();
    log.seen(agentSeen);
  }

  function showRating(convId) {
    if (storage.get("rated", null) === convId) return;
    const form = ratingForm(t, (score, comment) => {
      conn.send({ type: "rate", conversation_id: convId, score, ...(comment ? { comment } : {}) });
    });
    rating = { convId, form };
    log.card(form.el);
  }

  function summary(s) {
    if (!s) return;
    convState = s.state || convState;
    agentName = (s.agent && s.agent.name) || agentName;
    agentSeen = Math.max(agentSeen, s.agent_seen_seq || 0);
  }

  function onFrame(frame) {
    switch (frame.type) {
      case "welcome": {
        limits = { ...limits, ...(frame.limits || {}) };
        available = frame.available !== false;
        replyEtaS = typeof frame.reply_eta_s === "number" ? frame.reply_eta_s : null;
        if (frame.credits && typeof frame.credits.balance === "number") status.credits = frame.credits.balance;
        status.shop = frame.shop_url || null;
        resuming = false;
        const s = frame.conversation;
        if (s) {
          if (seq.id !== s.conversation_id) {
            seq.reset(s.conversation_id, 0);
            lastSeenSent = 0;
            storage.set({ conv: s.conversation_id });
          }
          summary(s);
          resume();
        } else if (convState && convState !== "closed") {
          convState = null; // it closed while we were away
        }
        flush();
        renderStatus();
        renderFooter();
        renderIntro();
        renderEndBar();
        break;
      }
      case "message":
      case "event":
        onItem(frame);
        break;
      case "ack":
        if (frame.conversation_id) adopt(frame.conversation_id);
        log.confirm(frame.client_msg_id, frame.seq);
        // The server does not echo our own message back: its ack's seq is its place.
        if (!frame.duplicate && frame.conversation_id) onItem({ type: "own", conversation_id: frame.conversation_id, seq: frame.seq });
        settled(frame.client_msg_id, "sent");
        renderEndBar();
        break;
      case "resumed":
        resuming = false;
        if (seq.waiting) resume(); // items past a hole the replay did not fill: ask again
        summary(frame.conversation);
        log.seen(agentSeen);
        markSeen();
        renderFooter();
        renderEndBar();
        break;
      case "typing":
        if (frame.who !== "agent" || frame.conversation_id !== seq.id) break;
        clearTimeout(typingTimer);
        typingLine.textContent = frame.active ? t("typing", { name: agentName || t("agent") }) : "";
        // A lost "stopped typing" must not leave the line up forever.
        if (frame.active) typingTimer = setTimeout(() => (typingLine.textContent = ""), AGENT_TYPING_TIMEOUT_MS);
        break;
      case "seen":
        if (frame.who !== "agent" || frame.conversation_id !== seq.id) break;
        agentSeen = Math.max(agentSeen, frame.seq);
        log.seen(agentSeen);
        break;
      case "queue":
        if (frame.conversation_id !== seq.id && seq.id) break;
        status.queue = convState === "active" ? [] : queueText(frame.position, frame.eta_s);
        renderStatus();
        break;
      case "balance":
        status.credits = frame.balance;
        renderStatus();
        break;
      case "offline":
        available = false;
        renderFooter();
        renderIntro();
        break;
      case "rated":
        if (rating && rating.convId === frame.conversation_id) {
          rating.form.done();
          storage.set({ rated: frame.conversation_id });
        }
        break;
      case "error":
        onError(frame);
        break;
    }
  }

  function onError(frame) {
    const cmid = frame.ref;
    if (!cmid || !outbox.some((e) => e.cmid === cmid)) return;
    if (frame.retryable) {
      // rate_limited or unavailable: nothing was stored, the same frame is safe to send again.
      clearTimeout(retryTimer);
      retryTimer = setTimeout(flush, RETRY_SEND_MS);
    } else settled(cmid, "failed");
  }

  function onState(name, reason) {
    if (name === "open") {
      everOpen = true;
      banner(null);
    } else if (name === "offline") banner(t("netOffline"));
    else if (name === "stopped") banner(t("ended"), reason !== "forbidden");
    else if (everOpen) banner(t("reconnecting"));
    if (name !== "open") {
      resuming = false;
      for (const entry of outbox) log.setPending(entry.cmid, "queued");
    }
  }

  const conn = createConnection({
    server: config.server,
    team: config.team,
    storage,
    sessionBody() {
      const profile = storage.get("profile", null) || {};
      const body = { site: config.site, language: config.lang };
      const name = config.name || profile.name;
      const email = config.email || profile.email;
      if (name) body.name = name;
      if (email) body.email = email;
      if (profile.answers && Object.keys(profile.answers).length) body.answers = profile.answers;
      if (config.identityHash && config.email) body.identity_hash = config.identityHash;
      // The page the visitor is on, for the agent's customer panel.
      if (/^https?:/.test(location.href)) {
        body.page = { url: location.href.slice(0, 2000), title: document.title.slice(0, 300) || undefined };
        if (/^https?:/.test(document.referrer)) body.page.referrer = document.referrer.slice(0, 2000);
      }
      try {
        const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
        if (zone) body.time_zone = zone;
      } catch { /* no Intl time zones: nothing to report */ }
      return body;
    },
    onFrame,
    onState,
  });

  // ---------------------------------------------------------------- wiring
  panel.on("open", (focus) => {
    storage.set({ open: true });
    markSeen();
    if (focus) focusFirst();
  });
  panel.on("close", () => storage.set({ open: false }));
  panel.on("help", () => (kbView.hidden ? showKb() : showChat()));
  document.addEventListener("visibilitychange", markSeen);

  for (const entry of outbox) log.pending(entry.cmid, entry.text, "queued");
  renderIntro();
  renderFooter();
  panel.mount();
  if (storage.get("open", false)) panel.open({ focus: false });
  conn.start();
}
