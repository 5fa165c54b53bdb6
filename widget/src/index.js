// Entry point of the bundle: find our own script tag, read its settings, fetch the look
// the admins saved (what the tag does not set), start once.
import { startWidget } from "./app.js";
import { applyLook, readConfig } from "./config.js";

const LOOK_TIMEOUT_MS = 3000;

async function savedLook(server) {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), LOOK_TIMEOUT_MS);
  try {
    const response = await fetch(server + "/api/widget/config", { signal: stop.signal, credentials: "omit" });
    return response.ok ? await response.json() : {};
  } catch {
    return {}; // the tag's own settings and the defaults, then
  } finally {
    clearTimeout(timer);
  }
}

(() => {
  if (window.__livedeskWidget) return; // the tag was pasted twice
  window.__livedeskWidget = true;
  const script = document.currentScript || document.querySelector("script[src*='widget.js']");
  const config = readConfig(script);
  const look = savedLook(config.server);
  const start = async () => startWidget(applyLook(config, await look));
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
