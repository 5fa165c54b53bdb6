// The widget's pure parts, under Node's own test runner (`npm test`): no DOM, no server.
import assert from "node:assert/strict";
import { test } from "node:test";
import { backoffDelay, BACKOFF_MAX_MS, closeAction } from "../src/backoff.js";
import { chooseLang, toCyrillic, translator } from "../src/i18n.js";
import { takeResumeLink } from "../src/resume.js";
import { createSequencer } from "../src/sequencer.js";

test("backoff starts at 0.5 s, doubles, stops at 10 s, and is jittered", () => {
  assert.equal(backoffDelay(0, () => 0), 250);
  assert.equal(backoffDelay(0, () => 1), 500);
  assert.equal(backoffDelay(3, () => 1), 4000);
  assert.equal(backoffDelay(30, () => 1), BACKOFF_MAX_MS);
  assert.notEqual(backoffDelay(2, () => 0.1), backoffDelay(2, () => 0.9));
});

test("close codes: 4100 means a new session, 4101-4199 stop, the rest reconnect", () => {
  assert.equal(closeAction(4100), "reauth");
  assert.equal(closeAction(4103), "stop");
  assert.equal(closeAction(4199), "stop");
  for (const code of [1000, 1006, 1008, 1009, 1011, 1012, 4000, 4099]) assert.equal(closeAction(code), "retry");
});

test("the sequencer shows each seq once and in order, holding items past a gap", () => {
  const seq = createSequencer();
  seq.reset("c1");
  const f = (n) => ({ conversation_id: "c1", seq: n });
  assert.deepEqual(seq.push(f(1)).ready, [f(1)]);
  assert.deepEqual(seq.push(f(1)).ready, []); // duplicate
  const gap = seq.push(f(3));
  assert.deepEqual(gap, { ready: [], gap: true });
  assert.deepEqual(seq.push(f(3)).ready, []); // duplicate while waiting
  assert.deepEqual(seq.push(f(2)), { ready: [f(2), f(3)], gap: false });
  assert.equal(seq.last, 3);
  seq.reset("c2", 0);
  assert.equal(seq.push({ conversation_id: "c2", seq: 1 }).ready.length, 1);
});

test("plural forms follow each language's rules", () => {
  const ru = translator("ru");
  assert.deepEqual(
    [1, 3, 5, 11, 21, 22].map((n) => ru("wait", { n })),
    ["примерно 1 минута", "примерно 3 минуты", "примерно 5 минут", "примерно 11 минут", "примерно 21 минута", "примерно 22 минуты"],
  );
  assert.equal(translator("sl")("ahead", { n: 2 }), "Pred vami sta 2 osebi");
  assert.equal(translator("lt")("wait", { n: 10 }), "apie 10 minučių");
  assert.equal(translator("ro")("wait", { n: 20 }), "aproximativ 20 de minute");
  assert.equal(translator("sr-Cyrl")("ahead", { n: 3 }), "Испред вас су 3 особе");
  assert.equal(translator("en")("unread", { n: 1 }), "1 unread message");
});

test("language: data-lang, then <html lang>, then the browser, then English", () => {
  assert.equal(chooseLang("ru", "sl", ["lt"]), "ru");
  assert.equal(chooseLang("", "sl-SI", ["lt"]), "sl");
  assert.equal(chooseLang(null, "de", ["xx", "lt-LT"]), "lt");
  assert.equal(chooseLang(null, null, ["de-DE"]), "en");
  assert.equal(chooseLang("sr", null, []), "sr-Cyrl");
  assert.equal(chooseLang("sr-Latn-RS", null, []), "sr-Latn");
  assert.equal(chooseLang("sr-ME", null, []), "sr-Latn");
});

test("Serbian Latin to Cyrillic keeps digraphs and placeholders", () => {
  assert.equal(toCyrillic("Ljubljana, Njegoš, džem"), "Љубљана, Његош, џем");
  assert.equal(toCyrillic("{name} piše…"), "{name} пише…");
});

test("a mail's resume link hands its token over, forgets the old visitor and leaves the address", () => {
  const data = { token: "old", conv: "c-old", outbox: [{ cmid: "x", text: "typed" }], open: false };
  const storage = { set: (patch) => Object.assign(data, patch) };
  const moved = [];
  const history = { state: null, replaceState: (_s, _t, url) => moved.push(url) };
  const location = { href: "https://shop.example/help?from=mail&livedesk_resume=abc.def#top" };
  assert.equal(takeResumeLink(storage, location, history), true);
  assert.deepEqual(moved, ["/help?from=mail#top"]);
  assert.equal(data.token, "abc.def");
  assert.equal(data.conv, null);
  assert.deepEqual(data.outbox, []);
  assert.equal(data.open, true);
  const plain = { href: "https://shop.example/help" };
  assert.equal(takeResumeLink(storage, plain, history), false);
  assert.equal(moved.length, 1);
});

test("pre-chat fields: saved questions kept in order, unknown and repeated ones dropped, name and e-mail by default", async () => {
  const { prechatFields, missingRequired, sessionAnswers, DEFAULT_FIELDS } = await import("../src/prechat.js");
  assert.deepEqual(prechatFields(null), DEFAULT_FIELDS);
  assert.deepEqual(prechatFields([{ name: "bogus" }, { name: "custom" }]), DEFAULT_FIELDS);
  const fields = prechatFields([
    { name: "phone", required: true },
    { name: "phone", required: false },
    { name: "custom", label: " Which shop? ", required: "yes" },
    { name: "email" },
  ]);
  assert.deepEqual(fields, [
    { name: "phone", required: true },
    { name: "custom", required: false, label: "Which shop?" },
    { name: "email", required: false },
  ]);
  assert.deepEqual(missingRequired(fields, { phone: "  ", email: "" }), ["phone"]);
  assert.deepEqual(missingRequired(fields, { phone: "+386 1 234" }), []);
  assert.deepEqual(sessionAnswers(fields, { phone: "+386", custom: "Ljubljana", email: "a@b.si" }), {
    phone: "+386", custom: "Ljubljana", custom_label: "Which shop?",
  });
});

test("site languages: the browser's first offered language, else the site's first", async () => {
  const { pickLang } = await import("../src/prechat.js");
  assert.equal(pickLang(["sl", "en"], ["de-DE", "en-GB"]), "en");
  assert.equal(pickLang(["sl", "lt"], ["de", "fr"]), "sl");
  assert.equal(pickLang(["ru", "sr-Latn"], ["sr-Latn-RS"]), "sr-Latn");
  assert.equal(pickLang(["sr-Cyrl"], ["sr-Latn"]), "sr-Cyrl");
  assert.equal(pickLang([], ["en"]), null);
  assert.equal(pickLang(undefined, ["en"]), null);
});

test("the saved look: languages and fields apply unless the tag set data-lang", async () => {
  globalThis.navigator ??= { languages: ["en"] };
  const { applyLook } = await import("../src/config.js");
  const base = { lang: "en", fields: [], browserLangs: ["lt-LT", "en"], given: { lang: false } };
  const look = { langs: ["sl", "lt"], fields: [{ name: "phone", required: true }] };
  const out = applyLook(base, look);
  assert.equal(out.lang, "lt");
  assert.deepEqual(out.fields, [{ name: "phone", required: true }]);
  assert.equal(applyLook({ ...base, lang: "ru", given: { lang: true } }, look).lang, "ru");
  assert.equal(applyLook({ ...base, browserLangs: ["fr"] }, look).lang, "sl");
});
