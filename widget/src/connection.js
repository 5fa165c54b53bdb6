// One visitor socket that keeps coming back. Every attempt first renews the session over HTTP
// (the same visitor while the stored token is valid), because a refused websocket handshake
// looks exactly like a network failure to a browser: the HTTP answer tells them apart.
import { backoffDelay, closeAction } from "./backoff.js";
import { decodeFrame, encodeFrame, JSON_PROTOCOL, MSGPACK } from "./codec.js";

const PING_EVERY_MS = 20000;
const PONG_WITHIN_MS = 10000;
const REAUTH_WINDOW_MS = 30000;

export function createConnection({ server, storage, sessionBody, onFrame, onState, team = null }) {
  let ws = null;
  let attempt = 0;
  let timer = 0;
  let pingTimer = 0;
  let lastRx = 0;
  let stopped = false;
  let lastReauth = 0;
  let protocol = MSGPACK;
  let busy = false; // an attempt is between its session request and its socket

  function state(name, detail) {
    onState(name, detail);
  }

  async function session(withToken) {
    const token = withToken ? storage.get("token", null) : null;
    const body = { ...sessionBody(), ...(token ? { token } : {}) };
    const response = await fetch(server + "/api/visitor/session", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
      credentials: "omit",
    });
    if (response.status === 403) throw Object.assign(new Error("forbidden"), { fatal: true });
    if (!response.ok) throw new Error("session " + response.status);
    const answer = await response.json();
    storage.set({ token: answer.token, visitorId: answer.visitor_id });
    return answer;
  }

  function schedule() {
    clearTimeout(timer);
    if (stopped) return;
    state(navigator.onLine === false ? "offline" : "reconnecting");
    timer = setTimeout(open, backoffDelay(attempt++));
  }

  async function open(fresh = false) {
    clearTimeout(timer);
    if (stopped || busy || (ws && ws.readyState <= 1)) return;
    state("connecting");
    busy = true;
    try {
      await session(!fresh);
    } catch (error) {
      if (error.fatal) return stop("forbidden");
      return schedule();
    } finally {
      busy = false;
    }
    if (stopped || ws) return;
    const url = server.replace(/^http/, "ws") + "/ws/visitor" + (team ? "?team=" + encodeURIComponent(team) : "");
    // The token rides in the subprotocol offer: browsers cannot set headers on a websocket and
    // a token in the URL would land in access logs.
    const socket = new WebSocket(url, [MSGPACK, JSON_PROTOCOL, "livedesk.token." + storage.get("token")]);
    socket.binaryType = "arraybuffer";
    ws = socket;
    socket.onopen = () => {
      protocol = socket.protocol || MSGPACK;
      lastRx = Date.now();
      heartbeat();
    };
    socket.onmessage = (event) => {
      lastRx = Date.now();
      let frame;
      try {
        frame = decodeFrame(event.data);
      } catch {
        return;
      }
      if (frame && frame.type === "welcome") {
        attempt = 0;
        state("open");
      }
      if (frame && typeof frame.type === "string") onFrame(frame);
    };
    socket.onclose = (event) => {
      if (ws !== socket) return;
      ws = null;
      clearInterval(pingTimer);
      const action = closeAction(event.code);
      if (action === "stop") return stop("ended");
      if (action === "reauth") {
        // The token was revoked or expired: a new session once; twice in a row means the
        // visitor has to act (the "Reconnect" button), as the close-code table asks.
        storage.set({ token: null });
        if (Date.now() - lastReauth < REAUTH_WINDOW_MS) return stop("ended");
        lastReauth = Date.now();
        return open(true);
      }
      schedule();
    };
  }

  function heartbeat() {
    clearInterval(pingTimer);
    // A socket can stay "open" on a dead network for minutes; a missing pong finds out sooner.
    pingTimer = setInterval(() => {
      if (!ws || ws.readyState !== 1) return;
      if (Date.now() - lastRx > PING_EVERY_MS + PONG_WITHIN_MS) return drop();
      send({ type: "ping" });
    }, PING_EVERY_MS);
  }

  function drop() {
    const socket = ws;
    if (!socket) return;
    ws = null;
    clearInterval(pingTimer);
    try {
      socket.close();
    } catch {
      /* already closing */
    }
    schedule();
  }

  function stop(reason) {
    stopped = true;
    clearTimeout(timer);
    state("stopped", reason);
  }

  function send(frame) {
    if (!ws || ws.readyState !== 1) return false;
    ws.send(encodeFrame(protocol, frame));
    return true;
  }

  window.addEventListener("offline", () => {
    state("offline");
    drop();
  });
  window.addEventListener("online", () => {
    if (stopped || ws) return;
    attempt = 0;
    open();
  });

  return {
    start: () => open(),
    send,
    isOpen: () => !!ws && ws.readyState === 1,
    /** The visitor pressed "Reconnect" after the session ended. */
    restart() {
      stopped = false;
      attempt = 0;
      lastReauth = 0;
      storage.set({ token: null });
      open(true);
    },
    /**
     * New visitor details (the pre-chat form): renew the session with them and open a new
     * socket, because the hub reads the visitor's name and e-mail when a socket attaches.
     */
    reconnect() {
      const socket = ws;
      ws = null;
      clearInterval(pingTimer);
      socket?.close();
      attempt = 0;
      open();
    },
  };
}
