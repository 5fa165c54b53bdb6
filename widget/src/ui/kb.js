// Self-service help: search the knowledge base and read an article, before or during a chat.
// Article bodies are text from the server and are shown as text, paragraph by paragraph.
import { h, icon, ICONS } from "./dom.js";
import { linkify } from "./linkify.js";

const SEARCH_DEBOUNCE_MS = 250;

export function createKb(t, api, lang, { onBack }) {
  let timer = 0;
  let asked = 0;
  const input = h("input", { type: "search", "aria-label": t("search"), placeholder: t("search") });
  const heading = h("h3", { className: "kb-heading", id: "ld-kb-heading" });
  const results = h("ul", { "aria-labelledby": "ld-kb-heading" });
  const article = h("article", { className: "article", hidden: true });
  const back = h("button", { type: "button", className: "link back" }, icon(ICONS.back), t("back"));
  const el = h("div", { className: "kb" }, back, input, heading, results, article);

  back.addEventListener("click", () => {
    if (!article.hidden && results.childElementCount) return showResults();
    onBack();
  });

  function showResults() {
    article.hidden = true;
    input.hidden = false;
    heading.hidden = false;
    results.hidden = false;
    input.focus();
    if (!input.value.trim()) search(); // nothing typed yet: the most read articles
  }

  async function search() {
    const q = input.value.trim();
    const mine = ++asked;
    let found = [];
    try {
      found = (q ? await api.searchKb(q, lang) : await api.topKb(lang)).results || [];
    } catch {
      found = null;
    }
    if (mine !== asked) return; // a newer query is on its way
    heading.textContent = q ? t("help") : t("popular");
    results.textContent = "";
    if (!q && found && !found.length) return; // an empty knowledge base: nothing to show yet
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
    heading.hidden = true;
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
