// Self-service help: search the knowledge base and read an article, before or during a chat.
// Article bodies are text from the server and are shown as text, paragraph by paragraph.
import { h, icon, ICONS } from "./dom.js";
import { linkify } from "./linkify.js";

const SEARCH_DEBOUNCE_MS = 250;

export function createKb(t, api, lang, { onBack }) {
  let timer = 0;
  let asked = 0;
  const input = h("input", { type: "search", "aria-label": t("search"), placeholder: t("search") });
  const results = h("ul", { "aria-label": t("help") });
  const article = h("article", { className: "article", hidden: true });
  const back = h("button", { type: "button", className: "link back" }, icon(ICONS.back), t("back"));
  const el = h("div", { className: "kb" }, back, input, results, article);

  back.addEventListener("click", () => {
    if (!article.hidden && results.childElementCount) return showResults();
    onBack();
  });

  function showResults() {
    article.hidden = true;
    input.hidden = false;
    results.hidden = false;
    input.focus();
  }

  async function search() {
    const q = input.value.trim();
    const mine = ++asked;
    if (!q) {
      results.textContent = "";
      return;
    }
    let found = [];
    try {
      found = (await api.searchKb(q, lang)).results || [];
    } catch {
      found = null;
    }
    if (mine !== asked) return; // a newer query is on its way
    results.textContent = "";
    if (!found || !found.length) {
      results.append(h("li", { className: found ? "empty" : "error" }, found ? t("noResults") : t("sendFailed")));
      return;
    }
    for (const hit of found) {
      results.append(
        h(
          "li",
          {},
          h(
            "button",
            { type: "button", className: "result", onclick: () => open(hit.id) },
            h("strong", {}, String(hit.title ?? "")),
            h("span", {}, String(hit.snippet ?? "")),
          ),
        ),
      );
    }
  }

  async function open(id) {
    article.hidden = false;
    input.hidden = true;
    results.hidden = true;
    article.textContent = "";
    try {
      const data = await api.article(id);
      const title = h("h3", { tabindex: "-1" }, String(data.title ?? ""));
      article.append(title);
      for (const para of String(data.body ?? "").split(/\n\s*\n/)) {
        const p = h("p");
        p.append(linkify(para.trim()));
        article.append(p);
      }
      title.focus();
    } catch {
      article.append(h("p", { className: "error" }, t("sendFailed")));
    }
  }

  input.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(search, SEARCH_DEBOUNCE_MS);
  });

  return { el, open, show: showResults };
}
