import { signIn } from "../signin.js";

/** The console's sign-in; `notice` says why the operator is here (session expired, signed out). */
export function login(main, { notice } = {}) {
  signIn(main, {
    title: "Sign in",
    notice,
    home: "#/tenants",
    // A restaurant's user: nothing here is theirs.
    refuse: (user) =>
      user.role === "superadmin"
        ? null
        : { code: "TENANT_USER", message: "This console is for Nova's operators. Restaurant staff sign in to the tenant portal at /app." },
  });
}
