// Message text with its web links made clickable. Only http(s) URLs become links; anything
// else (javascript:, data:, a bare "www.") stays plain text.
import { h } from "./dom.js";

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?)\]}»”’]+$/;

export function safeHref(candidate) {
  try {
    const url = new URL(candidate);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : null;
  } catch {
    return null;
  }
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
    out.append(document.createTextNode(text.slice(at, match.index)));
    out.append(h("a", { href, target: "_blank", rel: "noopener noreferrer" }, raw));
    at = match.index + raw.length;
  }
  out.append(document.createTextNode(text.slice(at)));
  return out;
}
