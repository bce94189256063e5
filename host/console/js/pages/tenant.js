import { api, withQuery } from "../api.js";
import { confirmAction, errorBox, field, flash, formError, h, show, table } from "../dom.js";
import { exportPanel } from "../exports.js";

const base = (id) => `/v1/superadmin/tenants/${encodeURIComponent(id)}`;

/** One tenant: its modules and flags with where their state comes from, plan, users. */
export async function tenant(main, id) {
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading tenant…"));
  let row, modules, flags, plans, presets, tokens, users;
  try {
    [row, modules, flags, plans, presets, tokens, users] = await Promise.all([
      api("GET", withQuery("/v1/superadmin/tenants", { q: id, limit: 1 })).then((p) => p.tenants.find((t) => t.id === id)),
      api("GET", `${base(id)}/modules`),
      api("GET", `${base(id)}/feature-flags`),
      api("GET", "/v1/superadmin/plans"),
      api("GET", "/v1/superadmin/module-presets"),
      api("GET", `${base(id)}/service-tokens`),
      api("GET", `${base(id)}/users`),
    ]);
  } catch (err) {
    show(main, h("h1", {}, "Tenant"), errorBox(err));
    return;
  }
  if (!row) {
    show(main, h("h1", {}, "Tenant"), errorBox({ code: "TENANT_NOT_FOUND", message: `There is no tenant ${id}.` }));
    return;
  }
  const reload = () => tenant(main, id);
  show(
    main,
    h("p", {}, h("a", { href: "#/tenants" }, "← Tenants")),
    h("h1", {}, row.name),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Status"), h("dd", {}, row.status),
      h("dt", {}, "Plan"), h("dd", {}, row.plan || "none"),
      h("dt", {}, "Timezone"), h("dd", {}, row.timezone),
      h("dt", {}, "Id"), h("dd", {}, h("code", {}, id)),
    ),
    h("section", { "aria-labelledby": "modules-h" }, h("h2", { id: "modules-h" }, "Modules"), toggles(row, "modules", modules.modules, reload)),
    h("section", { "aria-labelledby": "flags-h" }, h("h2", { id: "flags-h" }, "Feature flags"), toggles(row, "feature-flags", flags.featureFlags, reload)),
    h("section", { "aria-labelledby": "preset-h" }, h("h2", { id: "preset-h" }, "Apply a preset"), presetForm(row, presets.presets, reload)),
    h("section", { "aria-labelledby": "plan-h" }, h("h2", { id: "plan-h" }, "Plan"), planForm(row, plans.plans, reload)),
    h("section", { "aria-labelledby": "users-h" }, h("h2", { id: "users-h" }, "Users"), userSection(row, users.users, reload)),
    h("section", { "aria-labelledby": "tokens-h" }, h("h2", { id: "tokens-h" }, "Service tokens"), tokenSection(row, tokens.tokens, reload)),
    h("section", { "aria-labelledby": "export-h" }, h("h2", { id: "export-h" }, "Export"), exportPanel(`${base(id)}/exports`)),
  );
}

/** Modules or flags: effective state, its source, a switch, and "back to plan". */
function toggles(row, kind, items, reload) {
  const what = kind === "modules" ? "module" : "flag";
  const status = h("div", { class: "form-error" });
  // `route` is the module's or flag's own path under the tenant (its name, maybe more).
  const act = async (method, route, body, done) => {
    show(status);
    try {
      await api(method, `${base(row.id)}/${kind}/${route}`, body);
      await reload();
      flash(done);
    } catch (err) {
      show(status, errorBox(err));
    }
  };
  const sw = (t) => {
    const next = !t.enabled;
    return h(
      "button",
      {
        type: "button",
        class: next ? "secondary" : "danger",
        "aria-label": `Switch ${t.name} ${next ? "on" : "off"} for ${row.name}`,
        onclick: async () => {
          if (!next) {
            const running =
              t.inFlight > 0
                ? `${t.inFlight} call${t.inFlight === 1 ? "" : "s"} of ${t.name} running for ${row.name} now will be interrupted.`
                : `No call of ${t.name} is running for ${row.name} now.`;
            const consequence =
              what === "module"
                ? `${row.name} loses ${t.name} from its next request. ${running} An override is kept until you go back to the plan.`
                : `${t.name} is off for ${row.name} from its next request.`;
            if (!(await confirmAction(`Switch ${t.name} off for ${row.name}?`, consequence))) return;
          }
          await act("PUT", encodeURIComponent(t.name), { enabled: next }, `${t.name} is ${next ? "on" : "off"} for ${row.name}.`);
        },
      },
      next ? "Switch on" : "Switch off",
    );
  };
  const back = (t) =>
    t.source === "override"
      ? h(
          "button",
          {
            type: "button",
            class: "link",
            "aria-label": `Back to plan for ${t.name}`,
            onclick: async () => {
              const after = t.plan === null ? "off" : t.plan ? "on" : "off";
              if (t.enabled && after === "off" && !(await confirmAction(`Drop the override of ${t.name}?`, `The plan says nothing or off: ${t.name} goes off for ${row.name}${what === "module" ? ", and its calls in flight are interrupted" : ""}.`))) return;
              await act("DELETE", encodeURIComponent(t.name), undefined, `${t.name} follows the plan again (${after}).`);
            },
          },
          "Back to plan",
        )
      : null;
  return h(
    "div",
    {},
    status,
    table(
      [
        [what === "module" ? "Module" : "Flag", (t) => t.name],
        ["State", (t) => h("span", { class: `badge ${t.enabled ? "on" : "off"}` }, t.enabled ? "on" : "off")],
        ["Source", (t) => t.source],
        ["Plan says", (t) => (t.plan === null ? "—" : t.plan ? "on" : "off")],
        ["Override", (t) => (t.override === null ? "—" : t.override ? "on" : "off")],
        what === "module" ? ["Version", (t) => pinCell(row, t, act)] : null,
        ["", (t) => h("span", { class: "actions" }, sw(t), back(t))],
      ].filter(Boolean),
      items,
      what === "module" ? "No modules are installed." : "No feature flags are set for this tenant.",
    ),
  );
}

/** The version a tenant runs: the active one, or a pinned canary with "Unpin". */
function pinCell(row, t, act) {
  const path = `${encodeURIComponent(t.name)}/pin`;
  if (t.pinnedVersion !== null && t.pinnedVersion !== undefined) {
    return h(
      "span",
      { class: "actions" },
      h("span", { class: "badge pinned" }, `pinned v${t.pinnedVersion}`),
      h(
        "button",
        {
          type: "button",
          class: "link",
          "aria-label": `Unpin ${t.name} for ${row.name}`,
          onclick: async () => {
            if (!(await confirmAction(`Unpin ${t.name} for ${row.name}?`, `${row.name} runs the active version of ${t.name} from its next call.`))) return;
            await act("DELETE", path, undefined, `${row.name} runs the active version of ${t.name} again.`);
          },
        },
        "Unpin",
      ),
    );
  }
  const version = h("input", { type: "number", min: 1, step: 1, required: true, name: "version", "aria-label": `Version of ${t.name} to pin for ${row.name}` });
  const form = h("form", { class: "pin" }, "active ", version, h("button", { type: "submit", class: "secondary" }, "Pin"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await act("PUT", path, { version: Number(version.value) }, `${row.name} is pinned to ${t.name} v${version.value}.`);
  });
  return form;
}

function presetForm(row, presets, reload) {
  if (presets.length === 0) return h("p", { class: "muted" }, "No presets yet: create one under Presets.");
  const select = h("select", { name: "preset" }, presets.map((p) => h("option", { value: p.name }, p.description ? `${p.name}: ${p.description}` : p.name)));
  const form = h("form", { class: "inline" }, h("div", { class: "form-error" }), field("Preset", select), h("button", { type: "submit" }, "Apply preset"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    const chosen = presets.find((p) => p.name === select.value);
    const off = Object.entries(chosen.modules).filter(([, on]) => !on).map(([m]) => m);
    if (off.length && !(await confirmAction(`Apply ${chosen.name} to ${row.name}?`, `It switches ${off.join(", ")} off for ${row.name} (as overrides); calls of them in flight are interrupted.`))) return;
    try {
      await api("POST", `${base(row.id)}/apply-preset`, { preset: chosen.name });
      await reload();
      flash(`${chosen.name} is applied to ${row.name}.`);
    } catch (err) {
      formError(form, err);
    }
  });
  return form;
}

function planForm(row, plans, reload) {
  const select = h(
    "select",
    { name: "plan", required: true },
    row.plan ? null : h("option", { value: "", selected: true, disabled: true }, "Choose a plan"),
    plans.map((p) => h("option", { value: p.name, selected: p.name === row.plan }, `${p.name} (${(p.priceCents / 100).toFixed(2)} a month)`)),
  );
  const form = h("form", { class: "inline" }, h("div", { class: "form-error" }), field("Plan", select), h("button", { type: "submit" }, row.plan ? "Change plan" : "Start plan"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    try {
      await api("PUT", `${base(row.id)}/subscription`, { plan: select.value });
      await reload();
      flash(`${row.name} is on ${select.value} now.`);
    } catch (err) {
      formError(form, err);
    }
  });
  const cancel = row.plan
    ? h(
        "button",
        {
          type: "button",
          class: "danger",
          onclick: async () => {
            if (!(await confirmAction(`Cancel ${row.name}'s ${row.plan} plan?`, `The plan's modules and flags go off for ${row.name} (overrides stay), and calls of those modules in flight are interrupted.`))) return;
            try {
              await api("DELETE", `${base(row.id)}/subscription`);
              await reload();
              flash(`${row.name}'s plan is cancelled.`);
            } catch (err) {
              formError(form, err);
            }
          },
        },
        "Cancel plan",
      )
    : null;
  return h("div", {}, form, cancel);
}

/** Who can sign in to the tenant's portal: disable or enable them, send a reset link, add someone. */
function userSection(row, users, reload) {
  const status = h("div", { class: "form-error", id: "users-status" });
  const act = async (question, consequence, call, done) => {
    if (!(await confirmAction(question, consequence))) return;
    try {
      await call();
      await reload();
      flash(done);
    } catch (err) {
      show(status, errorBox(err));
    }
  };
  const actions = (u) =>
    h(
      "span",
      { class: "actions" },
      h(
        "button",
        {
          type: "button",
          class: "link",
          "aria-label": `${u.disabled ? "Enable" : "Disable"} ${u.email}`,
          onclick: () =>
            u.disabled
              ? act(`Enable ${u.email}?`, "They can sign in again; tokens from before stay dead.", () => api("PUT", `/v1/superadmin/users/${encodeURIComponent(u.id)}/status`, { disabled: false }), `${u.email} is enabled.`)
              : act(`Disable ${u.email}?`, "They cannot sign in, and every token they hold stops working at once.", () => api("PUT", `/v1/superadmin/users/${encodeURIComponent(u.id)}/status`, { disabled: true }), `${u.email} is disabled.`),
        },
        u.disabled ? "Enable" : "Disable",
      ),
      " ",
      h(
        "button",
        {
          type: "button",
          class: "link",
          "aria-label": `Send ${u.email} a password reset link`,
          onclick: () =>
            act(`Mail ${u.email} a password reset link?`, "The link works once, for an hour; using it signs them out everywhere.", () => api("POST", `/v1/superadmin/users/${encodeURIComponent(u.id)}/password-reset`), `A reset link is on its way to ${u.email}.`),
        },
        "Send reset link",
      ),
    );
  return h(
    "div",
    {},
    status,
    table(
      [
        ["Email", (u) => u.email],
        ["Role", (u) => u.role],
        ["Status", (u) => (u.disabled ? "disabled" : "active")],
        ["Added", (u) => u.createdAt.slice(0, 10)],
        ["Last sign-in", (u) => (u.lastLoginAt ? u.lastLoginAt.replace("T", " ").slice(0, 16) : "never")],
        ["", actions],
      ],
      users,
      "No users yet: add the restaurant's admin below.",
    ),
    userForm(row, reload),
  );
}

function userForm(row, reload) {
  const email = h("input", { name: "email", type: "email", required: true });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password", required: true });
  const role = h("select", { name: "role" }, h("option", { value: "admin" }, "admin"), h("option", { value: "staff" }, "staff"));
  const form = h("form", { class: "inline" }, h("div", { class: "form-error" }), field("Email", email), field("Password", password), field("Role", role), h("button", { type: "submit" }, "Add user"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    try {
      const u = await api("POST", `${base(row.id)}/users`, { email: email.value, password: password.value, role: role.value });
      await reload();
      flash(`${u.email} can sign in to ${row.name}'s portal now.`);
    } catch (err) {
      formError(form, err);
    }
  });
  return form;
}

/** Service tokens for synthetic checks: the secret is shown once, when created; revoke. */
function tokenSection(row, tokens, reload) {
  const status = h("div", { class: "form-error" });
  const name = h("input", { name: "name", required: true, maxlength: 100 });
  const days = h("input", { name: "expiresInDays", type: "number", min: 1, max: 3650, placeholder: "never" });
  const form = h("form", { class: "inline" }, h("div", { class: "form-error" }), field("New token's name", name), field("Expires in (days)", days), h("button", { type: "submit" }, "Create token"));
  const secret = h("div", { role: "status" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    try {
      const body = { name: name.value };
      if (days.value) body.expiresInDays = Number(days.value);
      const t = await api("POST", `${base(row.id)}/service-tokens`, body);
      await reload();
      // Shown once: it is stored hashed and cannot be read again.
      const shown = document.getElementById("token-secret");
      if (shown) show(shown, h("p", { class: "notice" }, `Token ${t.name}: `, h("code", { id: "token-value" }, t.token), " — copy it now; it is not shown again."));
    } catch (err) {
      formError(form, err);
    }
  });
  secret.id = "token-secret";
  const revoke = (t) =>
    t.revokedAt
      ? `revoked ${t.revokedAt.slice(0, 10)}`
      : h(
          "button",
          {
            type: "button",
            class: "link",
            "aria-label": `Revoke token ${t.name}`,
            onclick: async () => {
              if (!(await confirmAction(`Revoke token ${t.name}?`, "Checks using it are refused from their next call."))) return;
              try {
                await api("DELETE", `${base(row.id)}/service-tokens/${encodeURIComponent(t.id)}`);
                await reload();
                flash(`Token ${t.name} is revoked.`);
              } catch (err) {
                show(status, errorBox(err));
              }
            },
          },
          "Revoke",
        );
  return h(
    "div",
    {},
    status,
    secret,
    table(
      [
        ["Name", (t) => t.name],
        ["Created", (t) => `${t.createdAt.slice(0, 10)}${t.createdBy ? ` by ${t.createdBy}` : ""}`],
        ["Last used", (t) => (t.lastUsedAt ? t.lastUsedAt.replace("T", " ").slice(0, 16) : "never")],
        ["Expires", (t) => (t.expiresAt ? t.expiresAt.slice(0, 10) : "never")],
        ["", revoke],
      ],
      tokens,
      "No service tokens.",
    ),
    form,
  );
}
