// Desktop notifications and sound for the console: offers, new chats and visitor messages
// in a chat that is not in front of the agent (another tab, or the window in the
// background). The agent turns them on or off (kept per agent in this browser); the
// browser asks for permission on that click. When the browser holds sound back after a
// reload (autoplay policy), one click on "Enable sound" lets it ring again. It hears the
// console's socket through the "desk:frame" event; notification text is plain text.
(() => {
  "use strict";
  const { _ } = window.Desk;
  const me = document.getElementById("me");
  const agentId = me.dataset.agentId;
  const key = "livedesk.notify." + agentId;
  const toggle = document.getElementById("notify-toggle");
  const soundBtn = document.getElementById("sound-enable");
  const names = new Map(); // conversation_id -> visitor's name, from `assigned`
  const supported = "Notification" in window;

  function wanted() {
    const saved = localStorage.getItem(key);
    return saved === null ? supported && Notification.permission === "granted" : saved === "on";
  }

  function show() {
    const on = wanted() && supported && Notification.permission === "granted";
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? _("Notifications on") : _("Notifications off");
    toggle.hidden = !supported;
  }

  toggle.addEventListener("click", async () => {
    if (wanted() && Notification.permission === "granted") {
      localStorage.setItem(key, "off");
    } else {
      const answer = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
      localStorage.setItem(key, answer === "granted" ? "on" : "off");
    }
    show();
  });

  function notify(title, body, tag) {
    if (!supported || !wanted() || Notification.permission !== "granted") return;
    try {
      const n = new Notification(title, { body: String(body || "").slice(0, 200), tag, renotify: true });
      n.onclick = () => { window.focus(); n.close(); };
    } catch { /* a browser that only notifies from a service worker: nothing to do here */ }
  }

  function inFront(convId) {
    if (document.hidden || !document.hasFocus()) return false;
    const pane = document.querySelector('.chat[data-conversation-id="' + CSS.escape(convId) + '"]');
    const inbox = document.getElementById("inbox");
    return !!pane && !pane.hidden && (!inbox || inbox.hidden);
  }

  // Sound: an AudioContext made before any click starts suspended after a reload; offer a
  // one-click way to let it ring (the click is the gesture the browser waits for).
  let ctx = null;
  function checkSound() {
    try {
      ctx = ctx || new AudioContext();
    } catch { return; }
    soundBtn.hidden = ctx.state !== "suspended";
  }
  soundBtn.addEventListener("click", async () => {
    try { await ctx.resume(); } catch { /* keep the button: the browser still refuses */ }
    document.dispatchEvent(new CustomEvent("desk:sound-enabled"));
    soundBtn.hidden = ctx && ctx.state === "suspended";
  });

  document.addEventListener("desk:frame", (event) => {
    const f = event.detail || {};
    switch (f.type) {
      case "offer":
        checkSound();
        notify(_("New chat offered"), _("Accept it in the console"), "offer-" + f.conversation_id);
        break;
      case "assigned": {
        const c = f.conversation || {};
        const name = (c.visitor && c.visitor.name) || _("A visitor");
        names.set(c.conversation_id, name);
        checkSound();
        if (!inFront(c.conversation_id)) notify(_("New chat: %(name)s", { name }), "", "chat-" + c.conversation_id);
        break;
      }
      case "message":
        if (f.author === "visitor" && !inFront(f.conversation_id)) {
          notify(names.get(f.conversation_id) || _("Visitor"), f.text, "chat-" + f.conversation_id);
        }
        break;
      default:
        break;
    }
  });
  show();
  checkSound();
})();
