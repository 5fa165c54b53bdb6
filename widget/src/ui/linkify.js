// Message text with its web links made clickable. Only http(s) URLs become links; anything
// else (javascript:, data:, a bare "www.") stays plain text.
import { h } from "./dom.js";

// Characters that change how text looks without showing themselves (bidi overrides and
// isolates, zero-width spaces, the BOM) are shown as a visible code, so what is read is what
// was stored; ZWJ/ZWNJ stay (emoji and several scripts need them).
const FORMAT_CHARS = /[\u00AD\u061C\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;
const URL_RE = /\bhttps?:\/\/[^\s<>"'`\u00AD\u061C\u180E\u200B\u200E\u200F\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]+/gi;
const TRAILING = /[.,;:!?)\]}»”’]+$/;

export function safeHref(candidate) {
  try {
    const url = new URL(candidate);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
}

export function visible(text) {
  const out = document.createDocumentFragment();
  let at = 0;
  for (const match of text.matchAll(FORMAT_CHARS)) {
    out.append(document.createTextNode(text.slice(at, match.index)));
    const code = "U+" + match[0].codePointAt(0).toString(16).toUpperCase().padStart(4, "0");
    out.append(h("span", { className: "cf", title: code }, code));
    at = match.index + match[0].length;
  }
  out.append(document.createTextNode(text.slice(at)));
  return out;
}

export function linkify(text) {
  const out = document.createDocumentFragment();
  let at = 0;
  for (const match of text.matchAll(URL_RE)) {
    let raw = match[0];
    const tail = raw.match(TRAILING);
    if (tail) raw = raw.slice(0, -tail[0].length);
    const href = safeHref(raw);
    if (!href) continue;
    out.append(visible(text.slice(at, match.index)));
    out.append(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, raw));
    at = match.index + raw.length;
  }
  out.append(visible(text.slice(at)));
  return out;
}
