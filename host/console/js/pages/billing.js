import { api, withQuery } from "../api.js";
import { errorBox, flash, h, show, table } from "../dom.js";

const EVENT_STATUSES = ["failed", "retrying", "pending", "processed"];
const money = (cents) => `${(cents / 100).toFixed(2)}`;

/** Billing: the summary, webhook events by status (replay), and every job queue (retry). */
export async function billing(main, params) {
  const status = EVENT_STATUSES.includes(params.get("status")) ? params.get("status") : "failed";
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading billing…"));
  let summary, events, queues;
  try {
    [summary, events, queues] = await Promise.all([
      api("GET", "/v1/superadmin/billing/summary"),
      api("GET", withQuery("/v1/superadmin/billing/webhooks", { status, limit: 100 })),
      api("GET", "/ops/outbox"),
    ]);
  } catch (err) {
    show(main, h("h1", {}, "Billing"), errorBox(err));
    return;
  }
  const again = () => billing(main, params);
  const status_ = h("div", { class: "form-error" });
  const act = (path, done) => async () => {
    show(status_);
    try {
      await api("POST", path);
      await again();
      flash(done);
    } catch (err) {
      show(status_, errorBox(err));
    }
  };
  const stat = (label, value) => h("div", { class: "stat" }, h("p", { class: "muted" }, label), h("p", { class: "big" }, value));
  show(
    main,
    h("h1", {}, "Billing"),
    h(
      "div",
      { class: "stats" },
      stat("MRR", money(summary.mrrCents)),
      stat("Active tenants", summary.activeTenants),
      stat("Past due", summary.pastDueTenants),
      stat("Open invoices", summary.openInvoices.length),
      stat("Renewals in 7 days", summary.upcomingRenewals.length),
      stat("Cancelling at period end", summary.cancelAtPeriodEnd),
    ),
    status_,
    h("h2", {}, "Webhook events"),
    h(
      "nav",
      { class: "tabs", "aria-label": "Events by status" },
      EVENT_STATUSES.map((s) => h("a", { href: withQuery("#/billing", { status: s }), "aria-current": s === status ? "page" : null }, s)),
    ),
    table(
      [
        ["Received", (e) => e.createdAt.replace("T", " ").slice(0, 19)],
        ["Type", (e) => e.type],
        ["Tenant", (e) => (e.tenantId ? h("a", { href: `#/tenants/${encodeURIComponent(e.tenantId)}` }, h("code", {}, e.tenantId.slice(0, 8))) : "—")],
        ["Attempts", (e) => e.attempts],
        ["Error", (e) => e.lastError || "—"],
        [
          "",
          (e) =>
            e.status === "failed" || e.status === "retrying"
              ? h("button", { type: "button", class: "secondary", "aria-label": `Replay ${e.providerEventId}`, onclick: act(`/v1/superadmin/billing/webhooks/${encodeURIComponent(e.id)}/replay`, `${e.providerEventId} is queued again.`) }, "Replay")
              : null,
        ],
      ],
      events.events,
      `No ${status} events.`,
    ),
    h("h2", {}, "Job queues"),
    table(
      [
        ["Queue", (q) => q.queue],
        ["Waiting", (q) => q.pending + q.retrying],
        ["Retrying", (q) => q.retrying],
        ["Failed", (q) => h("span", { class: q.failed ? "badge bad" : "" }, q.failed)],
        ["Done", (q) => q.done],
      ],
      queues.queues,
      "No jobs yet.",
    ),
    h("h3", {}, "Failed and retrying jobs"),
    table(
      [
        ["Queue", (j) => j.queue],
        ["Job", (j) => h("code", {}, j.id.slice(0, 13))],
        ["Status", (j) => j.status],
        ["Attempts", (j) => j.attempts],
        ["Next attempt", (j) => (j.status === "failed" ? "—" : j.nextAttemptAt.replace("T", " ").slice(0, 19))],
        ["Error", (j) => j.lastError || "—"],
        ["", (j) => h("button", { type: "button", class: "secondary", "aria-label": `Retry job ${j.id}`, onclick: act(`/ops/outbox/${encodeURIComponent(j.id)}/retry`, `Job ${j.id.slice(0, 13)} is due now.`) }, "Retry")],
      ],
      queues.jobs,
      "No failed or retrying jobs.",
    ),
  );
}
