// The sign-in form both sites use (the console and the tenant portal serve this same file).
// `refuse(user)` says why this site is not for that user (the token is then not kept).

import { api, session } from "./api.js";
import { errorBox, field, formError, h, show } from "./dom.js";

/** Show the form in `main`; on success keep the session and go to `home`. */
export function signIn(main, { title, notice, refuse, home }) {
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h(
    "form",
    { class: "card narrow", id: "login" },
    h("h1", {}, title),
    notice ? h("p", { class: "notice", role: "status" }, notice) : null,
    h("div", { class: "form-error" }),
    field("Email", email),
    field("Password", password),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    form.querySelector(".notice")?.remove();
    try {
      const s = await api("POST", "/auth/login", { email: email.value, password: password.value });
      const refused = refuse(s.user);
      if (refused) {
        show(form.querySelector(".form-error"), errorBox(refused));
        return;
      }
      session.start(s.token, s.user.email);
      location.hash = home;
    } catch (err) {
      formError(form, err);
    }
  });
  show(main, form);
  email.focus();
}
