// The admin screens: each form with data-api is sent as JSON (with the session's CSRF
// token, by Desk.api) and the outcome is announced in the #status live region. The server
// checks everything again; this only turns form text into the JSON types it expects.
(() => {
  "use strict";
  const { api } = window.Desk;
  const status = document.getElementById("status");

  // The page's own words, rendered by the server in the agent's language.
  const words = status.dataset;

  function say(text, failed) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(failed));
  }

  // A setting's form control → its JSON value (see KINDS in chatserver/web/admin.py).
  function settingValue(field) {
    const kind = field.dataset.kind;
    const input = field.querySelector("input, select, textarea");
    const raw = input.type === "checkbox" ? input.checked : input.value;
    switch (kind) {
      case "bool": return raw;
      case "int": return parseInt(raw, 10);
      case "number": return Number(raw);
      case "optional-number": return raw.trim() === "" ? null : Number(raw);
      case "optional-text": return raw.trim() === "" ? null : raw.trim();
      case "lines": return raw.split("\n").map((s) => s.trim()).filter(Boolean);
      case "packs": {
        // "SKU = credits" a line; what is not a whole number goes as typed and the server says why.
        const packs = {};
        for (const line of raw.split("\n")) {
          if (!line.trim()) continue;
          const at = line.lastIndexOf("=");
          const sku = (at < 0 ? line : line.slice(0, at)).trim();
          const credits = at < 0 ? "" : line.slice(at + 1).trim();
          packs[sku] = /^\d+$/.test(credits) ? Number(credits) : credits;
        }
        return packs;
      }
      default: return raw.trim();
    }
  }

  function payload(form) {
    if (form.dataset.kind === "settings") {
      const values = {};
      for (const field of form.querySelectorAll(".field[data-kind]")) {
        if (field.querySelector(":disabled")) continue;
        values[field.dataset.name] = settingValue(field);
      }
      return { values };
    }
    if (form.dataset.kind === "team") {
      const members = [...form.querySelectorAll('input[name="members"]:checked')].map((box) => Number(box.value));
      return { name: form.elements.name.value.trim(), members };
    }
    const body = {};
    for (const input of form.elements) {
      if (!input.name) continue;
      body[input.name] = input.type === "number" ? parseInt(input.value, 10) : input.value.trim();
    }
    return body;
  }

  // Show what the server now holds; the page says `done` again after the reload.
  function reloadSaying(done) {
    location.assign(location.pathname + "?done=" + done);
  }

  async function send(url, body, done, method = "POST") {
    say(words.saving);
    try {
      await api(method, url, body);
      say(done);
      return true;
    } catch (error) {
      say(words.failed + " " + error.message, true);
      return false;
    }
  }

  // The widget form's pre-chat questions (the rows asked, in order) and offered languages.
  function prechatFields(f) {
    const out = [];
    for (const row of document.querySelectorAll("#w-fields tr[data-field]")) {
      const name = row.dataset.field;
      const asked = f["ask_" + name].value;
      if (!asked) continue;
      const field = { name, required: asked === "required" };
      if (name === "custom") {
        const label = f.custom_label.value.trim();
        if (!label) continue; // a question without words is not asked
        field.label = label;
      }
      out.push(field);
    }
    return out;
  }
  function checkedLangs() {
    return [...document.querySelectorAll('#w-langs input[name="langs"]:checked')].map((box) => box.value);
  }

  // The widget page: the embed tag and the preview follow the form as it changes.
  const widgetForm = document.getElementById("widget-form");
  if (widgetForm) {
    let previewTimer = null;
    const look = () => {
      const f = widgetForm.elements;
      const fields = prechatFields(f).map((q) => q.name + ":" + (q.required ? "required" : "optional")).join(",");
      const attrs = {
        color: f.color.value, position: f.position.value === "left" ? "left" : "", title: f.title.value.trim(),
        langs: checkedLangs().join(","), prechat: f.prechat.checked ? "true" : "", fields,
        custom_label: f.custom_label.value.trim(), team: f.team.value,
      };
      return Object.fromEntries(Object.entries(attrs).filter(([, v]) => v));
    };
    const quote = (v) => v.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;");
    const update = () => {
      const attrs = look();
      const { hub, site } = widgetForm.dataset;
      // The look is saved on the server: the tag carries only the site and the team.
      const extra = attrs.team ? ` data-team="${quote(attrs.team)}"` : "";
      document.getElementById("embed-code").value = `<script src="${quote(hub)}/widget.js" data-site="${quote(site)}"${extra} defer></script>`;
      clearTimeout(previewTimer);
      // Typing in the title reloads the preview once the typing pauses.
      previewTimer = setTimeout(() => {
        document.getElementById("widget-preview").src = "/admin/widget/preview?" + new URLSearchParams(attrs);
      }, 300);
    };
    widgetForm.addEventListener("input", update);
    widgetForm.addEventListener("change", update);
    update();
  }

  // The knowledge-base editor: the preview is Markdown rendered by the server with raw
  // HTML off (so its output is safe markup); the "try a question" box asks the same search
  // the widget does, and shows the titles as text.
  const articleForm = document.getElementById("article-form");
  if (articleForm) {
    const preview = document.getElementById("article-preview");
    const results = document.getElementById("try-results");
    const question = document.getElementById("try-question");
    let previewTimer = null;
    let tryTimer = null;
    let asked = 0;
    const renderPreview = async () => {
      try {
        const { html } = await api("POST", "/api/admin/kb/preview", { body: articleForm.elements.body.value });
        preview.innerHTML = html;
      } catch (error) {
        preview.textContent = error.message;
      }
    };
    articleForm.elements.body.addEventListener("input", () => {
      clearTimeout(previewTimer);
      previewTimer = setTimeout(renderPreview, 250);
    });
    renderPreview();
    const ask = async () => {
      const mine = ++asked;
      const q = question.value.trim();
      if (!q) { results.replaceChildren(); return; }
      const lang = articleForm.elements.lang.value;
      const found = await api("GET", "/api/kb/search?" + new URLSearchParams({ q, lang, limit: "5" }));
      if (mine !== asked) return; // a later question's answer wins
      results.replaceChildren(...found.results.map((r) => window.Desk.el("li", {}, r.title + " (" + r.id + ")")));
    };
    question.addEventListener("input", () => {
      clearTimeout(tryTimer);
      tryTimer = setTimeout(ask, 200);
    });
  }

  document.addEventListener("submit", async (event) => {
    if (event.target.id === "widget-form") {
      event.preventDefault();
      const f = event.target.elements;
      const look = {
        color: f.color.value, position: f.position.value === "left" ? "left" : "right",
        title: f.title.value.trim() || null, lang: null, prechat: f.prechat.checked,
        langs: checkedLangs().length ? checkedLangs() : null, fields: prechatFields(f),
      };
      if (await send("/api/admin/settings", { values: { widget_look: look } }, words.saved)) reloadSaying("saved");
      return;
    }
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    if (!form.reportValidity()) return;
    const kind = form.dataset.kind;
    if (kind === "invite-agent") {
      say(words.saving);
      try {
        const made = await api("POST", form.dataset.api, payload(form));
        const result = document.getElementById("invite-result");
        document.getElementById("invite-link").value = made.link;
        result.hidden = false;
        say(words.invited);
        document.getElementById("invite-link").select();
      } catch (error) {
        say(words.failed + " " + error.message, true);
      }
      return;
    }
    if (kind === "article") {
      const f = form.elements;
      const article = {
        lang: f.lang.value, title: f.title.value.trim(), body: f.body.value, answer: f.answer.value.trim(),
        tags: f.tags.value.split(",").map((t) => t.trim()).filter(Boolean), group: f.group.value,
      };
      if (await send(form.dataset.api + encodeURIComponent(f.id.value.trim()), article, words.saved, "PUT")) {
        location.assign("/admin/kb?done=saved&id=" + encodeURIComponent(f.id.value.trim()));
      }
      return;
    }
    if (kind === "invite") {
      // The invitation link itself is the credential: it is posted back to its own address.
      if (await send(location.pathname, payload(form), words.passwordSet)) {
        form.hidden = true;
        document.querySelector("main").append(Object.assign(document.createElement("a"), { href: "/login", textContent: words.logIn }));
      }
      return;
    }
    const ok = await send(form.dataset.api, payload(form), words.saved);
    if (ok && kind !== "agent") reloadSaying("saved");
  });

  document.addEventListener("click", async (event) => {
    const reset = event.target.closest("[data-reset]");
    if (reset) {
      if (await send("/api/admin/settings", { reset: [reset.dataset.reset] }, words.reset)) reloadSaying("reset");
      return;
    }
    const off = event.target.closest("[data-deactivate]");
    if (off) {
      if (!confirm(off.dataset.name + ": " + words.confirmDeactivate)) return;
      if (await send("/api/desk/agents/" + off.dataset.deactivate + "/deactivate", {}, words.deactivated)) reloadSaying("deactivated");
      return;
    }
    const copy = event.target.closest("[data-copy]");
    if (copy) {
      const field = document.getElementById(copy.dataset.copy);
      field.select();
      try {
        await navigator.clipboard.writeText(field.value);
        say(words.copied);
      } catch {
        say(words.copyByHand);
      }
      return;
    }
    const edit = event.target.closest("[data-edit-canned]");
    if (edit) {
      const form = document.getElementById("canned-form");
      form.elements.shortcut.value = edit.dataset.shortcut;
      form.elements.lang.value = edit.dataset.lang;
      form.elements.text.value = edit.dataset.text;
      form.elements.text.focus();
    }
  });
})();
