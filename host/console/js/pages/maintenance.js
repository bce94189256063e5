import { api } from "../api.js";
import { confirmAction, errorBox, field, flash, formError, h, show, table } from "../dom.js";

/** Maintenance mode: switch it with a message; the log of periods. */
export async function maintenance(main) {
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading…"));
  let now, log;
  try {
    [now, log] = await Promise.all([api("GET", "/v1/superadmin/maintenance"), api("GET", "/v1/superadmin/maintenance/log")]);
  } catch (err) {
    show(main, h("h1", {}, "Maintenance"), errorBox(err));
    return;
  }
  const message = h("textarea", { name: "message", rows: 2, maxlength: 500 }, now.message || "");
  const form = h(
    "form",
    { class: "card" },
    h("p", {}, "Maintenance mode is ", h("strong", { id: "maintenance-state" }, now.enabled ? "on" : "off"), now.enabled ? ": tenants' writes are refused with this message." : "."),
    h("div", { class: "form-error" }),
    now.enabled ? null : field("Message tenants see while it is on", message),
    h("button", { type: "submit", class: now.enabled ? "secondary" : "danger" }, now.enabled ? "Switch maintenance off" : "Switch maintenance on"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    const enable = !now.enabled;
    if (enable && !(await confirmAction("Switch maintenance mode on?", "Every tenant's writes are refused with 503 MAINTENANCE and your message until you switch it off; reads go on."))) return;
    try {
      await api("PUT", "/v1/superadmin/maintenance", enable ? { enabled: true, message: message.value } : { enabled: false });
      await maintenance(main);
      flash(`Maintenance mode is ${enable ? "on" : "off"}.`);
    } catch (err) {
      formError(form, err);
    }
  });
  show(
    main,
    h("h1", {}, "Maintenance"),
    form,
    h("h2", {}, "Periods"),
    table(
      [
        ["Started", (p) => `${p.startedAt} by ${p.startedBy}`],
        ["Ended", (p) => (p.endedAt ? `${p.endedAt} by ${p.endedBy}` : "still on")],
        ["Message", (p) => p.message],
        ["Writes refused", (p) => p.refusedWrites],
      ],
      log.periods,
      "Maintenance mode has never been on.",
    ),
  );
}
