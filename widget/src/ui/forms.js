// The three small forms: who are you (pre-chat), leave a message (nobody online) and how did
// we do (after the chat). Each hands its values to a callback and shows the outcome itself.
import { MAX_LENGTH, missingRequired } from "../prechat.js";
import { h } from "./dom.js";

let uid = 0;
function field(label, attrs) {
  const id = "ld-f" + ++uid;
  const control = attrs.rows ? h("textarea", { id, ...attrs }) : h("input", { id, ...attrs });
  return { control, el: h("label", { for: id }, label, control) };
}

const FIELD_ATTRS = {
  name: { autocomplete: "name" },
  email: { type: "email", autocomplete: "email" },
  phone: { type: "tel", autocomplete: "tel" },
  order: {},
  custom: {},
};

/** The questions the site asks before a chat (prechat.js `prechatFields`): the built-in ones
 * labelled in the visitor's language, the site's own question by its label (as text). */
export function prechatForm(t, fields, onSubmit) {
  const controls = fields.map((f) => {
    const label = f.name === "custom" ? f.label : t(f.name);
    const attrs = { name: f.name, maxlength: String(MAX_LENGTH[f.name]), ...FIELD_ATTRS[f.name] };
    if (f.required) attrs.required = true;
    return { field: f, ...field(label, attrs) };
  });
  const problem = h("p", { role: "alert", className: "problem" });
  const form = h(
    "form",
    { className: "form prechat", "aria-label": t("prechat") },
    h("h3", {}, t("prechat")),
    ...controls.map((c) => c.el),
    problem,
    h("button", { type: "submit", className: "primary" }, t("start")),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const values = Object.fromEntries(controls.map((c) => [c.field.name, c.control.value.trim()]));
    const missing = missingRequired(fields, values);
    if (missing.length) {
      // Blank answers that only spaces filled get past the browser's own check: not past this.
      problem.textContent = t("required");
      controls.find((c) => c.field.name === missing[0])?.control.focus();
      return;
    }
    problem.textContent = "";
    onSubmit(values);
  });
  return { el: form, focus: () => controls[0]?.control.focus() };
}

export function offlineForm(t, onSubmit, known = {}) {
  const name = field(t("name"), { name: "name", autocomplete: "name", maxlength: "200" });
  const email = field(t("email"), { name: "email", type: "email", autocomplete: "email", required: true, maxlength: "320" });
  // What the site or the pre-chat form already told us need not be typed again.
  name.control.value = known.name || "";
  email.control.value = known.email || "";
  const text = field(t("message"), { name: "text", rows: "4", required: true, maxlength: "4000" });
  const outcome = h("p", { role: "status" });
  const button = h("button", { type: "submit", className: "primary" }, t("sendMessage"));
  const form = h(
    "form",
    { className: "form offline", "aria-label": t("away") },
    h("h3", {}, t("away")),
    h("p", {}, t("awayText")),
    name.el,
    email.el,
    text.el,
    button,
    outcome,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    button.disabled = true;
    outcome.className = "";
    try {
      await onSubmit({ name: name.control.value.trim(), email: email.control.value.trim(), text: text.control.value.trim() });
      for (const part of [name.el, email.el, text.el, button]) part.hidden = true;
      outcome.textContent = t("sent");
      outcome.className = "sent";
    } catch {
      button.disabled = false;
      outcome.textContent = t("sendFailed");
      outcome.className = "error";
    }
  });
  return { el: form, focus: () => name.control.focus() };
}

export function ratingForm(t, onSubmit) {
  const stars = h("fieldset", { className: "stars" }, h("legend", { className: "sr" }, t("rate")));
  const labels = [];
  for (let n = 1; n <= 5; n++) {
    const input = h("input", { type: "radio", name: "score", value: String(n), "aria-label": t("stars", { n }) });
    const label = h("label", { title: t("stars", { n }) }, input, h("span", { "aria-hidden": "true" }, "★"));
    input.addEventListener("change", () => labels.forEach((l, i) => l.classList.toggle("on", i < n)));
    labels.push(label);
    stars.append(label);
  }
  const comment = field(t("comment"), { name: "comment", rows: "2", maxlength: "1000" });
  const button = h("button", { type: "submit", className: "primary" }, t("submitRating"));
  const outcome = h("p", { role: "status" });
  const form = h("form", { className: "form rating", "aria-label": t("rate") }, h("h3", {}, t("rate")), stars, comment.el, button, outcome);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const picked = form.querySelector("input[name=score]:checked");
    if (!picked) return;
    button.disabled = true;
    onSubmit(Number(picked.value), comment.control.value.trim());
  });
  return {
    el: form,
    done() {
      stars.hidden = true;
      comment.el.hidden = true;
      button.hidden = true;
      outcome.textContent = t("thanks");
      outcome.className = "thanks";
    },
  };
}
