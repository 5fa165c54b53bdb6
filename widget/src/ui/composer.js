// Where the visitor writes. Enter sends, Shift+Enter breaks the line. While they write, the
// draft goes to the server as a typing preview at most every ~300 ms, so the agent sees it
// live and the knowledge base can suggest answers before the question is finished.
import { h, icon, ICONS } from "./dom.js";

const TYPING_DEBOUNCE_MS = 300;
const PREVIEW_CHARS = 500;

export function createComposer(t, { onSend, onTyping, maxChars }) {
  let timer = 0;
  let typing = false;
  const input = h("textarea", { rows: "1", "aria-label": t("message"), placeholder: t("placeholder"), maxlength: maxChars() });
  const button = h("button", { type: "submit", className: "send", "aria-label": t("send") }, icon(ICONS.send));
  const form = h("form", { className: "composer" }, input, button);

  function report() {
    const text = input.value;
    const active = text.trim().length > 0;
    if (!active && !typing) return;
    typing = active;
    onTyping(active, text.slice(0, PREVIEW_CHARS));
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(report, TYPING_DEBOUNCE_MS);
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    clearTimeout(timer);
    if (typing) {
      typing = false;
      onTyping(false, "");
    }
    onSend(text);
    input.focus();
  });

  return { el: form, input };
}
