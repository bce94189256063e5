// The page a password reset mail links to: `/app/reset.html#token=…`. The token rides in the
// fragment, so it never reaches a server log or a Referer header.

import { api } from "./api.js";
import { field, formError, h, show } from "./dom.js";

// The same error log the portal keeps, for its browser tests.
window.novaConsoleErrors = [];
window.addEventListener("error", (e) => window.novaConsoleErrors.push(`error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => window.novaConsoleErrors.push(`rejection: ${e.reason}`));
document.addEventListener("securitypolicyviolation", (e) => window.novaConsoleErrors.push(`csp: ${e.violatedDirective} ${e.blockedURI}`));

const main = document.getElementById("main");
const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";
history.replaceState(null, "", location.pathname);

if (!token) {
  show(main, h("div", { class: "card narrow" },
    h("h1", {}, "This link is incomplete"),
    h("p", {}, "Open the link from your mail again, or ask an administrator for a new one.")));
} else {
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", minlength: 8, required: true });
  const again = h("input", { name: "again", type: "password", autocomplete: "new-password", minlength: 8, required: true });
  const form = h(
    "form",
    { class: "card narrow", id: "reset" },
    h("h1", {}, "Choose a new password"),
    h("p", { class: "muted" }, "At least 8 characters. You will be signed out everywhere."),
    h("div", { class: "form-error" }),
    field("New password", password),
    field("Repeat it", again),
    h("button", { type: "submit" }, "Set password"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    if (password.value !== again.value) {
      formError(form, new Error("The two passwords differ."));
      return;
    }
    try {
      await api("POST", "/auth/password-reset", { token, password: password.value });
      show(main, h("div", { class: "card narrow", id: "done" },
        h("h1", {}, "Your password is changed"),
        h("p", {}, h("a", { href: "/app/" }, "Sign in"), " with your new password.")));
    } catch (err) {
      formError(form, err);
    }
  });
  show(main, form);
  password.focus();
}
