// The pre-chat form's questions and the site's languages as the admins saved them
// (GET /api/widget/config): checked here, so a bad saved look never breaks the widget.
import { matchLang } from "./i18n.js";

export const FIELD_NAMES = ["name", "email", "phone", "order", "custom"];
// Without saved fields the form asks what it always asked: a name and an e-mail.
export const DEFAULT_FIELDS = [
  { name: "name", required: false },
  { name: "email", required: true },
];
// The longest answer the server stores for each question (chatserver/core/prechat.py).
export const MAX_LENGTH = { name: 200, email: 320, phone: 40, order: 60, custom: 500 };

/** The saved questions, each known one once and in order; the default when none are usable. */
export function prechatFields(saved) {
  if (!Array.isArray(saved)) return DEFAULT_FIELDS;
  const seen = new Set();
  const out = [];
  for (const f of saved) {
    if (!f || !FIELD_NAMES.includes(f.name) || seen.has(f.name)) continue;
    if (f.name === "custom" && !(typeof f.label === "string" && f.label.trim())) continue;
    seen.add(f.name);
    const field = { name: f.name, required: f.required === true };
    if (f.name === "custom") field.label = f.label.trim().slice(0, 80);
    out.push(field);
  }
  return out.length ? out : DEFAULT_FIELDS;
}

/** The names of the required questions left blank in `values`. */
export function missingRequired(fields, values) {
  return fields.filter((f) => f.required && !String(values[f.name] || "").trim()).map((f) => f.name);
}

/** The visitor's language among the site's: the first browser language offered, else the
 * site's first; null when the site offers none the widget speaks. */
export function pickLang(offered, browserLangs) {
  const site = (Array.isArray(offered) ? offered : []).map(matchLang).filter(Boolean);
  if (!site.length) return null;
  for (const tag of browserLangs || []) {
    const found = matchLang(tag);
    if (found && site.includes(found)) return found;
  }
  return site[0];
}

/** What the form's answers send with the session: name and e-mail apart, the rest as answers. */
export function sessionAnswers(fields, values) {
  const answers = {};
  for (const f of fields) {
    if (f.name === "name" || f.name === "email") continue;
    const v = String(values[f.name] || "").trim();
    if (!v) continue;
    answers[f.name] = v.slice(0, MAX_LENGTH[f.name]);
    if (f.name === "custom") answers.custom_label = f.label;
  }
  return answers;
}
