// The conversation as the visitor sees it: who said what, in seq order, each item once.
// Own messages appear at once as pending bubbles (keyed by client_msg_id) and turn into the
// stored message when the server's copy or ack arrives, so nothing shows twice.
import { append, h, icon, ICONS } from "./dom.js";
import { linkify, visible } from "./linkify.js";

export function initials(name) {
  // Array.from keeps a letter outside the BMP whole; one name gives one letter.
  const parts = String(name || "").trim().split(/\s+/).filter(Boolean).map((p) => Array.from(p)[0]);
  const letters = parts.length > 1 ? parts[0] + parts[parts.length - 1] : parts[0] || "?";
  return letters.toUpperCase();
}

export function createLog(t, { onArticle, onHuman, onQuickReply }) {
  // A list that announces what is added (aria-live), not role="log": that role would take
  // the list semantics away from its <li> items.
  const el = h("ol", { className: "log", "aria-live": "polite", "aria-relevant": "additions", "aria-label": t("messages"), tabindex: "0" });
  const mine = new Map(); // client_msg_id → item
  const seqs = new Set(); // (conversation, seq) already on screen
  let seenMark = null;
  let humanChip = null;
  let quickBar = null;

  function scroll() {
    el.scrollTop = el.scrollHeight;
  }

  function whoLine(label, isBot) {
    // The name may be anyone's writing: isolated, so it cannot reorder the line around it.
    return h("span", { className: "who" }, h("bdi", {}, visible(String(label))), isBot && h("span", { className: "tag", "aria-hidden": "true" }, "bot"));
  }

  function item(kind, label, text, extra = {}) {
    const isMine = kind === "visitor";
    const isBot = kind === "bot";
    const avatar = isMine
      ? null
      : isBot
        ? h("span", { className: "avatar bot", "aria-hidden": "true" }, icon(ICONS.bot))
        : h("span", { className: "avatar", "aria-hidden": "true" }, initials(label));
    const bubble = h("div", { className: "bubble", dir: "auto" });
    bubble.append(linkify(text));
    const body = h("div", { className: "body" }, whoLine(label, isBot), bubble);
    const li = h("li", { className: "item" + (isMine ? " mine" : ""), "data-author": kind, ...extra }, avatar, body);
    return { li, body };
  }

  function pendingMeta(li, state) {
    let meta = li.querySelector(".meta.state");
    li.classList.toggle("pending", state === "queued" || state === "sending");
    li.classList.toggle("failed", state === "failed");
    if (state === "sent") {
      meta?.remove();
      return;
    }
    if (!meta) {
      meta = h("div", { className: "meta state" });
      li.querySelector(".body").append(meta);
    }
    meta.textContent = state === "failed" ? t("failed") : state === "queued" ? t("queued") : "";
  }

  function addMessage(frame) {
    const cmid = frame.client_msg_id;
    if (frame.author === "visitor" && cmid && mine.has(cmid)) {
      const li = mine.get(cmid);
      li.dataset.seq = frame.seq;
      pendingMeta(li, "sent");
      return li;
    }
    if (frame.author === "system") return addNote(frame.text);
    const label = frame.author === "visitor" ? t("you") : frame.author === "bot" ? t("bot") : frame.author_name || t("agent");
    const { li, body } = item(frame.author, label, String(frame.text ?? ""), { "data-seq": frame.seq });
    if (frame.author === "visitor" && cmid) mine.set(cmid, li);
    // Any newer message makes an older message's buttons stale (their question is past).
    quickBar?.remove();
    quickBar = null;
    if (frame.author === "bot") {
      const quick = Array.isArray(frame.quick_replies) ? frame.quick_replies : [];
      if (quick.length) {
        quickBar = h(
          "div",
          { className: "chips quick", role: "group", "aria-label": String(frame.text ?? "").split("\n").pop() },
          quick.map((q) =>
            h(
              "button",
              { type: "button", className: "chip quick-reply", "data-action": q.action === "end" ? "end" : "reply", onclick: () => onQuickReply(q) },
              String(q.label ?? ""),
            ),
          ),
        );
        body.append(quickBar);
      }
      const chips = h("div", { className: "chips" });
      for (const article of Array.isArray(frame.articles) ? frame.articles : []) {
        chips.append(
          h("button", { type: "button", className: "chip", onclick: () => onArticle(article.id) }, String(article.title ?? "")),
        );
      }
      // Only the latest bot message offers the way to a person.
      humanChip?.remove();
      humanChip = h("button", { type: "button", className: "chip human", onclick: () => onHuman() }, t("human"));
      chips.append(humanChip);
      body.append(chips);
    }
    el.append(li);
    return li;
  }

  function addNote(text) {
    const li = h("li", { className: "note" }, text);
    el.append(li);
    return li;
  }

  return {
    el,
    /** A stored item (message or event note); false when it was already shown. */
    add(frame, noteText) {
      const key = frame.conversation_id + ":" + frame.seq;
      if (seqs.has(key)) return false;
      seqs.add(key);
      if (frame.type === "message") addMessage(frame);
      else if (noteText) addNote(noteText);
      scroll();
      return true;
    },
    note(text) {
      addNote(text);
      scroll();
    },
    /** The visitor's own text, shown before the server has it. */
    pending(cmid, text, state) {
      if (!mine.has(cmid)) {
        const { li } = item("visitor", t("you"), text, { "data-cmid": cmid });
        mine.set(cmid, li);
        el.append(li);
      }
      pendingMeta(mine.get(cmid), state);
      scroll();
    },
    /** The server has stored our message as `seq` (its ack). */
    confirm(cmid, seq) {
      const li = mine.get(cmid);
      if (li && Number.isInteger(seq)) li.dataset.seq = seq;
    },
    setPending(cmid, state) {
      if (mine.has(cmid)) pendingMeta(mine.get(cmid), state);
    },
    /** "Seen" under the visitor's last message the agent has read. */
    seen(upTo) {
      const read = [...el.querySelectorAll('.mine[data-seq]')].filter((li) => Number(li.dataset.seq) <= upTo);
      const last = read[read.length - 1];
      if (!last) return;
      seenMark?.remove();
      seenMark = h("div", { className: "meta seen" }, t("seen"));
      last.querySelector(".body").append(seenMark);
    },
    hideHuman() {
      humanChip?.remove();
      humanChip = null;
    },
    hideQuick() {
      quickBar?.remove();
      quickBar = null;
    },
    card(node) {
      const li = h("li", { className: "card" }, node);
      el.append(li);
      scroll();
      return li;
    },
    clear() {
      el.textContent = "";
      mine.clear();
      seqs.clear();
      seenMark = null;
      humanChip = null;
      quickBar = null;
    },
    append: (node) => append(el, [node]),
  };
}
