// The admin screens: each form with data-api is sent as JSON (with the session's CSRF
// token, by Desk.api) and the outcome is announced in the #status live region. The server
// checks everything again; this only turns form text into the JSON types it expects.
(() => {
  "use strict";
  const { api } = window.Desk;
  const status = document.getElementById("status");

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
    const body = {};
    for (const input of form.elements) {
      if (!input.name) continue;
      body[input.name] = input.type === "number" ? parseInt(input.value, 10) : input.value;
    }
    return body;
  }

  // Show what the server now holds; the page says `done` again after the reload.
  function reloadSaying(done) {
    location.assign(location.pathname + "?done=" + done);
  }

  async function send(url, body, done) {
    say("Saving…");
    try {
      await api("POST", url, body);
      say(done);
      return true;
    } catch (error) {
      say("Not saved: " + error.message, true);
      return false;
    }
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-api]");
    if (!form) return;
    event.preventDefault();
    if (!form.reportValidity()) return;
    const ok = await send(form.dataset.api, payload(form), "Saved.");
    if (ok && form.dataset.kind !== "agent") reloadSaying("saved");
  });

  document.addEventListener("click", async (event) => {
    const reset = event.target.closest("[data-reset]");
    if (reset) {
      if (await send("/api/admin/settings", { reset: [reset.dataset.reset] }, "Back to the default.")) reloadSaying("reset");
      return;
    }
    const off = event.target.closest("[data-deactivate]");
    if (off) {
      if (!confirm("Deactivate " + off.dataset.name + "? Their sessions end at once.")) return;
      if (await send("/api/desk/agents/" + off.dataset.deactivate + "/deactivate", {}, "Deactivated.")) reloadSaying("deactivated");
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
