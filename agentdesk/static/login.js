// A failed login comes back as a fresh page (POST, redirect, GET): the e-mail typed is kept
// for this tab only, so the agent retypes just the password. The password is never kept.
(() => {
  "use strict";
  const KEY = "livedesk.login.email";
  const form = document.getElementById("login-form");
  const email = form.elements.email;
  form.addEventListener("submit", () => {
    try { sessionStorage.setItem(KEY, email.value); } catch { /* storage blocked */ }
  });
  if (!new URLSearchParams(location.search).has("failed")) return;
  let kept = "";
  try { kept = sessionStorage.getItem(KEY) || ""; } catch { kept = ""; }
  if (kept && !email.value) {
    email.value = kept;
    form.elements.password.focus();
  }
})();
