// Everything the embedding page says about the widget, read from its one script tag:
//   <script src="https://desk.example/widget.js" data-site="shop" data-lang="sl"
//           data-color="#0a7" data-prechat="true" data-team="billing" defer></script>
// (data-langs="sl,en": the languages the site offers; data-fields: the pre-chat questions.)
import { chooseLang } from "./i18n.js";
import { DEFAULT_FIELDS, pickLang, prechatFields } from "./prechat.js";

export function readConfig(script) {
  const d = script ? script.dataset : {};
  const src = script && script.src ? new URL(script.src, location.href).origin : location.origin;
  const flag = (v) => v !== undefined && v !== "false" && v !== "0";
  return {
    server: (d.server || src).replace(/\/+$/, ""),
    site: d.site || "default",
    lang:
      (!d.lang && d.langs && pickLang(d.langs.split(","), navigator.languages || [navigator.language])) ||
      chooseLang(d.lang, document.documentElement.lang, navigator.languages || [navigator.language]),
    color: d.color || null,
    position: d.position === "left" ? "left" : "right",
    title: d.title || null,
    prechat: flag(d.prechat),
    // The pre-chat questions (data-fields: JSON, as the admin screen's preview sets them).
    fields: d.fields ? prechatFields(parseJson(d.fields)) : DEFAULT_FIELDS,
    // The browser's languages, for the site's list of languages (applyLook).
    browserLangs: navigator.languages || [navigator.language],
    // The team this page's chats go to: its business hours say whether a person may answer.
    team: d.team || null,
    // A logged-in customer, vouched for by the site's server (HMAC of the e-mail).
    name: d.name || null,
    email: d.email || null,
    identityHash: d.identityHash || null,
    // What the tag itself set wins over the look the admins saved on the server.
    given: {
      color: !!d.color, position: d.position !== undefined, title: !!d.title,
      prechat: d.prechat !== undefined, lang: !!(d.lang || d.langs), fields: !!d.fields,
    },
  };
}

// The look saved on the server (GET /api/widget/config) where the tag says nothing.
export function applyLook(config, look) {
  const out = { ...config };
  if (!look || typeof look !== "object") return out;
  if (!config.given.color && typeof look.color === "string") out.color = look.color;
  if (!config.given.position && (look.position === "left" || look.position === "right")) out.position = look.position;
  if (!config.given.title && typeof look.title === "string" && look.title) out.title = look.title;
  if (!config.given.prechat && typeof look.prechat === "boolean") out.prechat = look.prechat;
  if (!config.given.lang) {
    // The site's languages: the visitor's own if offered, else the site's first.
    const picked = pickLang(look.langs, config.browserLangs);
    if (picked) out.lang = picked;
    else if (typeof look.lang === "string") out.lang = chooseLang(look.lang, null, []);
  }
  if (!config.given.fields && Array.isArray(look.fields)) out.fields = prechatFields(look.fields);
  return out;
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return null; // a broken attribute: the default questions
  }
}
