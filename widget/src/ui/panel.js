// The frame of the widget: a shadow root on one host element, the launcher with its unread
// badge, and the chat dialog with a header, a live status line and a body that shows one view
// at a time. Escape closes the dialog and focus goes back to the launcher.
import { h, icon, ICONS } from "./dom.js";
import { STYLES } from "./styles.js";

export function createPanel(t, config) {
  const host = h("div", { id: "livedesk-widget" });
  if (config.color && cssSupports("color", config.color)) host.style.setProperty("--ld-accent", config.color);
  const shadow = host.attachShadow({ mode: "open" });
  const listeners = { open: [], close: [], help: [] };

  const badge = h("span", { className: "badge", hidden: true, "aria-hidden": "true" });
  const launcher = h(
    "button",
    { type: "button", className: "launcher", "aria-label": t("open"), "aria-expanded": "false", "aria-controls": "ld-panel" },
    icon(ICONS.chat),
    badge,
  );
  const title = h("h2", { id: "ld-title" }, config.title || t("title"));
  const helpButton = h("button", { type: "button", className: "icon-btn help", "aria-label": t("help"), title: t("help") }, icon(ICONS.help));
  const closeButton = h("button", { type: "button", className: "icon-btn close", "aria-label": t("close"), title: t("close") }, icon(ICONS.close));
  const status = h("div", { className: "status", role: "status", "aria-live": "polite" });
  const banner = h("div", { className: "banner", role: "alert", hidden: true });
  const body = h("div", { className: "view-host", style: "display:contents" });
  const panel = h(
    "section",
    { id: "ld-panel", className: "panel", role: "dialog", "aria-modal": "false", "aria-labelledby": "ld-title", hidden: true, lang: config.lang },
    h("header", {}, title, helpButton, closeButton),
    banner,
    status,
    body,
  );
  const root = h("div", { className: "root" + (config.position === "left" ? " left" : "") }, panel, launcher);
  shadow.append(h("style", {}, STYLES), root);

  let unread = 0;

  function isOpen() {
    return !panel.hidden;
  }
  function open({ focus = true } = {}) {
    panel.hidden = false;
    root.classList.add("open");
    launcher.setAttribute("aria-expanded", "true");
    launcher.setAttribute("aria-label", t("close"));
    listeners.open.forEach((fn) => fn(focus));
  }
  function close() {
    panel.hidden = true;
    root.classList.remove("open");
    launcher.setAttribute("aria-expanded", "false");
    setUnread(unread);
    listeners.close.forEach((fn) => fn());
    launcher.focus();
  }
  function setUnread(n) {
    unread = n;
    badge.hidden = n <= 0;
    badge.textContent = n > 99 ? "99+" : String(n);
    if (!isOpen()) launcher.setAttribute("aria-label", n > 0 ? `${t("open")} (${t("unread", { n })})` : t("open"));
  }

  launcher.addEventListener("click", () => (isOpen() ? close() : open()));
  closeButton.addEventListener("click", close);
  helpButton.addEventListener("click", () => listeners.help.forEach((fn) => fn()));
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      event.stopPropagation();
      close();
    }
  });

  return {
    host,
    shadow,
    status,
    banner,
    body,
    isOpen,
    open,
    close,
    setUnread,
    on(name, fn) {
      listeners[name].push(fn);
    },
    mount() {
      document.body.append(host);
    },
  };
}

function cssSupports(prop, value) {
  try {
    return CSS.supports(prop, value);
  } catch {
    return false;
  }
}
