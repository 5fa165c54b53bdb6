// Shared by the console and the dashboard: the CSRF-carrying fetch, a websocket that
// reconnects with backoff, and DOM helpers that only ever set user text as text.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content || "";

  // The page's language, the agent's time zone and this page's strings in that language,
  // from the server's catalogs (a JSON island; see chatserver/web/i18n.py). The scripts
  // write their strings in English inside _() and ngettext(), which Babel extracts.
  const I18N = (() => {
    const node = document.getElementById("desk-i18n");
    try { if (node) return JSON.parse(node.textContent); } catch { /* English, then */ }
    return { lang: "en", timeZone: null, messages: {} };
  })();
  const pluralRules = new Intl.PluralRules(I18N.lang);

  // %(name)s and %(num)d, as the catalogs write placeholders (and %% for a percent sign
  // in a string that has placeholders, as Python's % does).
  function fill(text, values) {
    if (!values) return text;
    return text.replace(/%(?:\((\w+)\)[sd]|%)/g, (whole, key) => (key === undefined ? "%" : key in values ? String(values[key]) : whole));
  }

  function _(msgid, values) {
    const text = I18N.messages[msgid];
    return fill(typeof text === "string" && text ? text : msgid, values);
  }

  // The plural form for n by the browser's CLDR rules; the server gave one text per category.
  function ngettext(singular, plural, n, values) {
    const forms = I18N.messages[singular];
    let text;
    if (forms && typeof forms === "object") text = forms[pluralRules.select(n)] || forms.other;
    if (!text) text = n === 1 ? singular : plural;
    return fill(text, Object.assign({ num: n }, values));
  }

  // Moments in the agent's locale and time zone (their setting; else the browser's zone).
  // A zone this browser does not know (or a language it lacks) falls back to its own.
  function formatter(options) {
    for (const zone of [I18N.timeZone, undefined]) {
      try { return new Intl.DateTimeFormat(I18N.lang, { ...options, ...(zone ? { timeZone: zone } : {}) }); } catch { /* next */ }
    }
    return new Intl.DateTimeFormat(undefined, options);
  }
  const timeFormat = formatter({ timeStyle: "medium" });
  const dateTimeFormat = formatter({ dateStyle: "medium", timeStyle: "short" });
  const time = (moment) => timeFormat.format(new Date(moment));
  const dateTime = (moment) => dateTimeFormat.format(new Date(moment));

  // Conversation states and authors in the agent's words, for the console and its inbox
  // alike (the wire's names stay in data attributes).
  const STATE_NAME = {
    bot: _("with the bot"), offered: _("offered"), active: _("active"), offline: _("offline form"),
    closed: _("closed"), rated: _("rated"), abandoned: _("abandoned"),
  };
  const stateName = (state) => STATE_NAME[state] || state;
  const AUTHOR_NAME = { visitor: _("visitor"), agent: _("agent"), bot: _("bot"), system: _("system") };
  const authorName = (author) => AUTHOR_NAME[author] || author;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  // Characters that change how text looks without showing themselves (bidi overrides and
  // isolates, zero-width spaces, the BOM): shown as a visible code instead, so what a person
  // reads is what was stored. ZWJ/ZWNJ stay: emoji and several scripts need them.
  const FORMAT_CHARS = /[\u00AD\u061C\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;
  const URL_RE = /\bhttps?:\/\/[^\s<>"'\u00AD\u061C\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]+/gi;

  function appendPlain(node, text) {
    let at = 0;
    for (const m of text.matchAll(FORMAT_CHARS)) {
      if (m.index > at) node.append(text.slice(at, m.index));
      const code = "U+" + m[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
      node.append(el("span", { class: "cf", title: _("invisible character %(code)s", { code }) }, code));
      at = m.index + m[0].length;
    }
    if (at < text.length) node.append(text.slice(at));
  }

  // Only http(s) becomes a link, built as an element (never markup), opened without a
  // window.opener and without a referrer.
  function appendLinked(node, text) {
    let at = 0;
    for (const m of text.matchAll(URL_RE)) {
      let raw = m[0].replace(/[.,;:!?)\]}'"]+$/, "");
      let href = null;
      try {
        const url = new URL(raw);
        if (url.protocol === "http:" || url.protocol === "https:") href = url.href;
      } catch { href = null; }
      if (!href || !raw) continue;
      if (m.index > at) appendPlain(node, text.slice(at, m.index));
      node.append(el("a", { href, target: "_blank", rel: "noopener noreferrer nofollow", class: "ut-link" }, raw));
      at = m.index + raw.length;
    }
    if (at < text.length) appendPlain(node, text.slice(at));
  }

  // Text a visitor (or anyone outside the desk) wrote: isolated from the text around it
  // (dir=auto; <bdi> inline), format characters made visible, links optional.
  function userText(tag, attrs, text, { links = false } = {}) {
    const node = el(tag, attrs);
    node.setAttribute("dir", "auto");
    node.classList.add("ut");
    const value = text === undefined || text === null ? "" : String(text);
    if (links) appendLinked(node, value); else appendPlain(node, value);
    return node;
  }

  // Stored events in words, for the console's transcript and the dashboard's monitor.
  function requeueReason(reason) {
    switch (reason) {
      case "agent_gone": return _("the agent went away");
      case "accept_timeout": return _("the offer was not answered");
      case "declined": return _("the offer was declined");
      case "no_first_reply": return _("no first reply in time");
      case "transfer": return _("transferred");
      case "ledger_full": return _("no room on the desk");
      default: return reason || _("no reason given");
    }
  }

  function describeEvent(frame) {
    const d = frame.data || {};
    switch (frame.event) {
      case "assigned":
        return d.agent && d.agent.name ? _("Assigned to %(name)s", { name: d.agent.name }) : _("Assigned to an agent");
      case "requeued": return _("Back in the queue: %(reason)s", { reason: requeueReason(d.reason) });
      case "agent_left": return _("The agent left");
      case "transferred": {
        const text = d.to_team ? _("Transferred to team %(team)s", { team: d.to_team })
          : d.to_agent ? _("Transferred") : _("Transferred back to the queue");
        return text + (d.note ? ":" : "");
      }
      case "closed":
        switch (d.by || "agent") {
          case "agent": return _("Closed by the agent");
          case "visitor": return _("Closed by the visitor");
          case "supervisor": return _("Closed by a supervisor");
          case "bot": return _("Closed by the bot");
          case "system": return _("Closed by the system");
          default: return _("Closed by %(who)s", { who: d.by });
        }
      case "human_requested": return _("The visitor asked for a person");
      case "handoff": return _("The bot handed over");
      case "offline": return _("Nobody available: the visitor was offered the offline form");
      case "no_credits": return _("The customer has no credits left");
      case "order": return _("Paid-support order");
      default: return _("Event: %(name)s", { name: String(frame.event).replace(/_/g, " ") });
    }
  }

  async function api(method, url, body) {
    const init = { method, headers: { accept: "application/json" }, credentials: "same-origin" };
    if (method !== "GET") {
      init.headers["x-csrf-token"] = csrf;
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body || {});
    }
    const response = await fetch(url, init);
    if (response.status === 401) {
      location.href = "/login";
      throw new Error("logged out");
    }
    const type = response.headers.get("content-type") || "";
    const data = type.includes("json") ? await response.json() : await response.text();
    if (!response.ok) {
      const message = typeof data === "string" ? data : data.message || data.error;
      const error = new Error(message || "HTTP " + response.status);
      error.code = typeof data === "string" ? null : data.error || null;
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "–";
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600);
    const m = Math.floor((seconds % 3600) / 60);
    const s = seconds % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return h ? h + ":" + pad(m) + ":" + pad(s) : m + ":" + pad(s);
  }

  // Close codes 4100–4199: the session is over; reconnecting would only fail again.
  function socket(path, { onopen, onframe, onstate }) {
    let ws = null;
    let backoff = 500;
    let stopped = false;
    function connect() {
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
      ws = new WebSocket(url, ["livedesk.v1.json"]);
      onstate && onstate("connecting");
      ws.onopen = () => {
        backoff = 500;
        onstate && onstate("online");
        onopen && onopen();
      };
      ws.onmessage = (event) => {
        let frame;
        try { frame = JSON.parse(event.data); } catch { return; }
        onframe(frame);
        // Other modules of the page (the inbox) hear the same socket without owning it.
        document.dispatchEvent(new CustomEvent("desk:frame", { detail: frame }));
      };
      ws.onclose = (event) => {
        if (event.code >= 4100 && event.code < 4200) {
          stopped = true;
          onstate && onstate("ended");
          return;
        }
        if (stopped) return;
        onstate && onstate("offline");
        const wait = backoff * (0.75 + Math.random() * 0.5);
        backoff = Math.min(backoff * 2, 10000);
        setTimeout(connect, wait);
      };
    }
    connect();
    return {
      send(frame) {
        if (ws && ws.readyState === WebSocket.OPEN) { ws.send(JSON.stringify(frame)); return true; }
        return false;
      },
      get open() { return !!ws && ws.readyState === WebSocket.OPEN; },
      drop() { ws && ws.close(); },
    };
  }

  window.Desk = {
    el, api, duration, socket, csrf, userText, describeEvent,
    _, ngettext, lang: I18N.lang, timeZone: I18N.timeZone, time, dateTime, formatter, stateName, authorName,
  };
})();
