// Desktop notifications and sound for the console: offers, new chats and visitor messages
// in a chat that is not in front of the agent (another tab, or the window in the
// background). The agent turns them on or off (kept with the agent on the server, so the
// choice follows them to any browser); the browser asks for permission on that click, and
// where it can, subscribes to Web Push (service worker push-sw.js) so that an offer reaches
// a background or closed tab. The console tells the server while it is in front of the
// agent (then offers ring here and are not pushed). When the browser holds sound back after
// a reload (autoplay policy), one click on "Enable sound" lets it ring again. It hears the
// console's socket through the "desk:frame" event; notification text is plain text.
(() => {
  "use strict";
  const { _ } = window.Desk;
  const me = document.getElementById("me");
  const agentId = me.dataset.agentId;
  const toggle = document.getElementById("notify-toggle");
  const soundBtn = document.getElementById("sound-enable");
  const names = new Map(); // conversation_id -> visitor's name, from `assigned`
  const supported = "Notification" in window;
  const pushable = supported && "serviceWorker" in navigator && "PushManager" in window;
  let chosen = null; // the agent's stored choice: true, false or null (not chosen yet)

  function wanted() {
    return chosen === null ? supported && Notification.permission === "granted" : chosen;
  }

  let clicked = false; // a choice made on this page wins over the stored one still loading
  async function choose(on) {
    clicked = true;
    chosen = on;
    try {
      await Desk.api("POST", "/api/push/preference", { desktop: on });
    } catch { /* kept for this page; saved on the next click */ }
    await (on ? subscribe() : unsubscribe());
  }

  function b64urlBytes(text) {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4);
    return Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  }

  async function registration() {
    return navigator.serviceWorker.register("/static/desk/push-sw.js");
  }

  // Web Push: a browser without a reachable push service (or none at all) still gets the
  // in-page notifications; a failure here is logged, never shown as an error.
  async function subscribe() {
    if (!pushable || Notification.permission !== "granted") return;
    try {
      const reg = await registration();
      const { public_key: key } = await Desk.api("GET", "/api/push/key");
      const sub = (await reg.pushManager.getSubscription())
        || await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: b64urlBytes(key) });
      await Desk.api("POST", "/api/push/subscription", sub.toJSON());
    } catch (err) {
      console.info("Web Push unavailable here:", err && err.message);
    }
  }

  async function unsubscribe() {
    if (!pushable) return;
    try {
      const reg = await navigator.serviceWorker.getRegistration("/static/desk/push-sw.js");
      const sub = reg && await reg.pushManager.getSubscription();
      if (!sub) return;
      await Desk.api("DELETE", "/api/push/subscription", { endpoint: sub.endpoint });
      await sub.unsubscribe();
    } catch (err) {
      console.info("Web Push unsubscribe failed:", err && err.message);
    }
  }

  // In front of the agent: renewed while it stays so (the server lets it lapse after 45 s).
  let focusTimer = null;
  function reportFocus() {
    const front = !document.hidden && document.hasFocus();
    clearInterval(focusTimer);
    focusTimer = front ? setInterval(() => send(true), 20000) : null;
    send(front);
    function send(focused) {
      Desk.api("POST", "/api/push/focus", { focused }).catch(() => {});
    }
  }
  window.addEventListener("focus", reportFocus);
  window.addEventListener("blur", reportFocus);
  document.addEventListener("visibilitychange", reportFocus);

  function show() {
    const on = wanted() && supported && Notification.permission === "granted";
    toggle.setAttribute("aria-pressed", String(on));
    toggle.textContent = on ? _("Notifications on") : _("Notifications off");
    toggle.hidden = !supported;
  }

  toggle.addEventListener("click", async () => {
    if (wanted() && Notification.permission === "granted") {
      await choose(false);
    } else {
      const answer = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
      await choose(answer === "granted");
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
    soundBtn.hidden = !ctx || ctx.state !== "suspended";
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
  reportFocus();
  Desk.api("GET", "/api/push/preference").then((data) => {
    if (clicked) return;
    chosen = data.desktop;
    show();
    if (wanted()) subscribe();
  }).catch(() => {});
})();
