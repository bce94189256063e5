import { api, withQuery } from "../api.js";
import { confirmAction, errorBox, flash, formError, h, show, table } from "../dom.js";

const STATUSES = ["pending", "approved", "rejected"];

/** Registrations: the queue waiting for a decision; approve with a preset, reject with a reason. */
export async function registrations(main, params) {
  const status = STATUSES.includes(params.get("status")) ? params.get("status") : "pending";
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading registrations…"));
  let list, plans, presets;
  try {
    [list, plans, presets] = await Promise.all([
      api("GET", withQuery("/v1/superadmin/registrations", { status })),
      api("GET", "/v1/superadmin/plans"),
      api("GET", "/v1/superadmin/module-presets"),
    ]);
  } catch (err) {
    show(main, h("h1", {}, "Registrations"), errorBox(err));
    return;
  }
  const planName = new Map(plans.plans.map((p) => [p.id, p.name]));
  const again = () => registrations(main, params);
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Registrations by status" },
    STATUSES.map((s) => h("a", { href: withQuery("#/registrations", { status: s }), "aria-current": s === status ? "page" : null }, s)),
  );
  const columns = [
    ["Restaurant", (r) => r.restaurantName],
    ["Email", (r) => r.email],
    ["Plan", (r) => planName.get(r.planId) || r.planId],
    ["Asked", (r) => r.createdAt.slice(0, 16).replace("T", " ")],
  ];
  if (status === "pending") columns.push(["Decision", (r) => decide(r, presets.presets, again)]);
  if (status === "approved") columns.push(["Tenant", (r) => (r.tenantId ? h("a", { href: `#/tenants/${encodeURIComponent(r.tenantId)}` }, "open") : "—")]);
  if (status === "rejected") columns.push(["Reason", (r) => r.reason || "—"]);
  show(main, h("h1", {}, "Registrations"), tabs, table(columns, list.registrations, `No ${status} registrations.`));
}

function decide(r, presets, again) {
  const preset = h(
    "select",
    { name: "preset", "aria-label": `Preset for ${r.restaurantName}` },
    h("option", { value: "" }, "the plan alone"),
    presets.map((p) => h("option", { value: p.name }, p.name)),
  );
  const reason = h("input", { name: "reason", "aria-label": `Reason to reject ${r.restaurantName}`, placeholder: "Reason to reject" });
  const form = h(
    "form",
    { class: "decide" },
    h("div", { class: "form-error" }),
    h("div", { class: "actions" }, preset, h("button", { type: "submit", name: "approve" }, "Approve")),
    h("div", { class: "actions" }, reason, h("button", { type: "button", class: "danger", name: "reject" }, "Reject")),
    h("p", { class: "field-error", "data-field": "reason" }),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    try {
      const done = await api("POST", `/v1/superadmin/registrations/${encodeURIComponent(r.id)}/approve`, preset.value ? { preset: preset.value } : {});
      await again();
      flash(`${r.restaurantName} is a tenant on ${done.plan} now.`);
    } catch (err) {
      formError(form, err);
    }
  });
  form.querySelector("button[name=reject]").addEventListener("click", async () => {
    formError(form, null);
    if (!(await confirmAction(`Reject ${r.restaurantName}?`, `No tenant is created; the registration keeps your reason.`))) return;
    try {
      await api("POST", `/v1/superadmin/registrations/${encodeURIComponent(r.id)}/reject`, { reason: reason.value });
      await again();
      flash(`${r.restaurantName} was rejected.`);
    } catch (err) {
      formError(form, err);
    }
  });
  return form;
}
