import { api, session } from "../api.js";
import { errorBox, field, formError, h, show } from "../dom.js";

/** The sign-in form; `notice` says why the operator is here (session expired, signed out). */
export function login(main, { notice } = {}) {
  const email = h("input", { name: "email", type: "email", autocomplete: "username", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h(
    "form",
    { class: "card narrow", id: "login" },
    h("h1", {}, "Sign in"),
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
      if (s.user.role !== "superadmin") {
        // A restaurant's user: nothing here is theirs. The token is not kept.
        show(
          form.querySelector(".form-error"),
          errorBox({
            code: "TENANT_USER",
            message: "This console is for Nova's operators. Restaurant staff sign in to the tenant portal at /app.",
          }),
        );
        return;
      }
      session.start(s.token, s.user.email);
      location.hash = "#/tenants";
    } catch (err) {
      formError(form, err);
    }
  });
  show(main, form);
  email.focus();
}
