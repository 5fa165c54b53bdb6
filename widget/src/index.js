// Entry point of the bundle: find our own script tag, read its settings, start once.
import { startWidget } from "./app.js";
import { readConfig } from "./config.js";

(() => {
  if (window.__livedeskWidget) return; // the tag was pasted twice
  window.__livedeskWidget = true;
  const script = document.currentScript || document.querySelector("script[src*='widget.js']");
  const config = readConfig(script);
  const start = () => startWidget(config);
  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start, { once: true });
})();
