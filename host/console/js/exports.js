// Asking for a tenant export and downloading it: the console's tenant page and the portal's
// "Your data" screen both show this panel. The bundle is encrypted to an age public key or a
// passphrase; the server keeps neither, and only whoever asked may download it.

import { api, download } from "./api.js";
import { errorBox, field, formError, h, show } from "./dom.js";

/** The panel for exports under `base` (`…/tenants/{id}/exports` or `/v1/portal/me/exports`). */
export function exportPanel(base) {
  const kind = h(
    "select",
    { name: "kind" },
    h("option", { value: "passphrase" }, "a passphrase"),
    h("option", { value: "recipient" }, "an age public key (age1…)"),
  );
  const secret = h("input", { id: "f-export-secret", name: "passphrase", type: "password", autocomplete: "new-password", required: true, minlength: 12 });
  const secretField = field("Passphrase (12 characters or more)", secret);
  const label = secretField.querySelector("label");
  const error = secretField.querySelector(".field-error");
  kind.addEventListener("change", () => {
    const key = kind.value === "recipient";
    // The API names the field it refuses: `recipient` or `passphrase`.
    secret.name = key ? "recipient" : "passphrase";
    error.dataset.field = secret.name;
    secret.type = key ? "text" : "password";
    secret.minLength = key ? 0 : 12;
    label.textContent = key ? "Public key (age1…)" : "Passphrase (12 characters or more)";
  });
  const status = h("div", { id: "export-status", role: "status", "aria-live": "polite" });
  const form = h(
    "form",
    { class: "inline", id: "export-form" },
    h("div", { class: "form-error" }),
    field("Encrypt to", kind),
    secretField,
    h("button", { type: "submit" }, "Export data"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    try {
      const e = await api("POST", base, { [kind.value]: secret.value });
      secret.value = "";
      await follow(base, e, status);
    } catch (err) {
      formError(form, err);
    }
  });
  return h(
    "div",
    {},
    h("p", { class: "muted" }, "One encrypted file with everything stored for this restaurant. It is kept 7 days for you alone to download; open it with age or nova export decrypt."),
    form,
    status,
  );
}

/** Show an export's progress until it is ready (then offer the file) or failed. */
async function follow(base, e, status) {
  const path = `${base}/${encodeURIComponent(e.id)}`;
  for (;;) {
    if (e.status === "ready") break;
    if (e.status !== "pending") {
      show(status, errorBox({ code: e.status.toUpperCase(), message: e.error || `the export is ${e.status}` }));
      return;
    }
    show(status, h("p", { class: "notice" }, "Building the export…"));
    // The worker's progress is only visible by asking again.
    await new Promise((r) => setTimeout(r, 1000));
    e = await api("GET", path);
  }
  const save = h("button", { type: "button", id: "export-download" }, `Download (${Math.max(1, Math.round(e.bytes / 1024))} KiB)`);
  save.addEventListener("click", async () => {
    try {
      await download(`${path}/download`, `nova-export-${e.tenantId}-${e.id}.tar.gz.age`);
      show(status, h("p", { class: "notice" }, `Downloaded. The file is kept until ${e.expiresAt.slice(0, 10)}.`));
    } catch (err) {
      show(status, errorBox(err));
    }
  });
  show(status, h("p", { class: "notice" }, `The export is ready, until ${e.expiresAt.slice(0, 10)}. `, save));
}
