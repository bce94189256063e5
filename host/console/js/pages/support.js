import { api, withQuery } from "../api.js";
import { errorBox, field, flash, formError, h, show, table } from "../dom.js";

const SEVERITIES = ["S1", "S2", "S3", "S4"];

/** Time left on an SLA, as people say it ("3 h 20 min", "breached 12 min ago"). */
function left(ms) {
  if (ms === null || ms === undefined) return "—";
  const abs = Math.abs(ms);
  const text = abs >= 3_600_000 ? `${Math.floor(abs / 3_600_000)} h ${Math.floor((abs % 3_600_000) / 60_000)} min` : `${Math.floor(abs / 60_000)} min`;
  return ms <= 0 ? `breached ${text} ago` : text;
}

/** Support triage: every tenant's open tickets, least time left first; breaching ones marked. */
export async function support(main, params) {
  const severity = SEVERITIES.includes(params.get("severity")) ? params.get("severity") : "";
  const breaching = params.get("breaching") === "true";
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading tickets…"));
  let list;
  try {
    list = await api("GET", withQuery("/v1/superadmin/support/tickets", { severity, breaching: breaching ? "true" : "" }));
  } catch (err) {
    show(main, h("h1", {}, "Support"), errorBox(err));
    return;
  }
  const filter = h(
    "nav",
    { class: "tabs", "aria-label": "Filter tickets" },
    h("a", { href: "#/support", "aria-current": !severity && !breaching ? "page" : null }, "all open"),
    h("a", { href: withQuery("#/support", { breaching: "true" }), "aria-current": breaching ? "page" : null }, "breaching"),
    SEVERITIES.map((s) => h("a", { href: withQuery("#/support", { severity: s }), "aria-current": s === severity ? "page" : null }, s)),
  );
  const unreadable = list.unreadable.map((u) =>
    errorBox({ code: u.code, message: `Tenant ${u.tenantId}: its support module answered ${u.status}${u.message ? ` (${u.message})` : ""}; its tickets are not listed.` }),
  );
  show(
    main,
    h("h1", {}, "Support"),
    filter,
    unreadable,
    table(
      [
        ["Time left", (t) => h("span", { class: t.slaMsLeft !== null && t.slaMsLeft <= 0 ? "badge bad" : "" }, left(t.slaMsLeft))],
        ["Severity", (t) => t.severity],
        ["Subject", (t) => h("a", { href: `#/support/${encodeURIComponent(t.tenantId)}/${t.id}` }, t.subject)],
        ["Tenant", (t) => h("a", { href: `#/tenants/${encodeURIComponent(t.tenantId)}` }, h("code", {}, t.tenantId.slice(0, 8)))],
        ["Assignee", (t) => t.assignee || "nobody"],
        ["Replies", (t) => t.replyCount],
      ],
      list.tickets,
      "No open tickets. ",
    ),
  );
}

/** One ticket's thread: reply, change severity, assign. */
export async function ticket(main, tenant, id) {
  const path = `/v1/superadmin/support/tickets/${encodeURIComponent(tenant)}/${encodeURIComponent(id)}`;
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading ticket…"));
  let t;
  try {
    t = await api("GET", path);
  } catch (err) {
    show(main, h("p", {}, h("a", { href: "#/support" }, "← Support")), errorBox(err));
    return;
  }
  const again = () => ticket(main, tenant, id);
  const send = (method, sub, body, done) => async (ev) => {
    ev.preventDefault();
    const form = ev.target;
    formError(form, null);
    try {
      await api(method, `${path}${sub}`, body());
      await again();
      flash(done);
    } catch (err) {
      formError(form, err);
    }
  };
  const reply = h("textarea", { name: "body", rows: 4, required: true, maxlength: 10000 });
  const replyForm = h("form", { class: "card" }, h("div", { class: "form-error" }), field("Reply to the restaurant", reply), h("button", { type: "submit" }, "Send reply"));
  replyForm.addEventListener("submit", send("POST", "/replies", () => ({ body: reply.value }), "Your reply is sent."));
  const sev = h("select", { name: "severity" }, SEVERITIES.map((s) => h("option", { value: s, selected: s === t.severity }, s)));
  const sevForm = h("form", { class: "inline" }, h("div", { class: "form-error" }), field("Severity", sev), h("button", { type: "submit", class: "secondary" }, "Change severity"));
  sevForm.addEventListener("submit", send("PUT", "/severity", () => ({ severity: sev.value }), "Severity changed; the deadlines moved with it."));
  const who = h("input", { name: "assignee", value: t.assignee || "", placeholder: "nobody" });
  const whoForm = h("form", { class: "inline" }, h("div", { class: "form-error" }), field("Assignee", who), h("button", { type: "submit", class: "secondary" }, "Assign"));
  whoForm.addEventListener("submit", send("PUT", "/assignee", () => ({ assignee: who.value.trim() || null }), "Assignee saved."));
  show(
    main,
    h("p", {}, h("a", { href: "#/support" }, "← Support")),
    h("h1", {}, `${t.severity} · ${t.subject}`),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Status"), h("dd", {}, t.status),
      h("dt", {}, "Opened"), h("dd", {}, `${t.createdAt} by ${t.createdBy}`),
      h("dt", {}, "Response due"), h("dd", {}, t.responseDueAt || "—"),
      h("dt", {}, "Resolution due"), h("dd", {}, t.resolveDueAt || "—"),
      h("dt", {}, "Tenant"), h("dd", {}, h("a", { href: `#/tenants/${encodeURIComponent(tenant)}` }, tenant)),
    ),
    h("div", { class: "thread" }, h("article", { class: "msg" }, h("p", { class: "muted" }, t.createdBy), h("p", {}, t.body)),
      t.replies.map((r) => h("article", { class: `msg ${r.fromSupport ? "ours" : ""}` }, h("p", { class: "muted" }, `${r.author} · ${new Date(r.createdAtMs).toISOString().slice(0, 16).replace("T", " ")}`), h("p", {}, r.body)))),
    t.status === "open" ? replyForm : h("p", { class: "muted" }, "This ticket is closed."),
    h("div", { class: "toolbar" }, sevForm, whoForm),
  );
}

/** Announcements: every one sent, and a new one (to all tenants or some, with a window). */
export async function announcements(main) {
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading announcements…"));
  let list;
  try {
    list = await api("GET", "/v1/superadmin/support/announcements");
  } catch (err) {
    show(main, h("h1", {}, "Announcements"), errorBox(err));
    return;
  }
  const title = h("input", { name: "title", required: true, maxlength: 200 });
  const body = h("textarea", { name: "body", rows: 3, required: true, maxlength: 10000 });
  const tenants = h("input", { name: "tenantIds", placeholder: "every tenant" });
  const start = h("input", { name: "start", type: "datetime-local" });
  const end = h("input", { name: "maintenanceWindow", type: "datetime-local" });
  const form = h(
    "form",
    { class: "card" },
    h("div", { class: "form-error" }),
    field("Title", title),
    field("Message", body),
    field("Tenant ids, separated by commas (empty: every tenant)", tenants),
    h("div", { class: "inline" }, field("Maintenance window from", start), field("until", end)),
    h("button", { type: "submit" }, "Announce"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    const ids = tenants.value.split(",").map((t) => t.trim()).filter(Boolean);
    const payload = { title: title.value, body: body.value };
    if (ids.length) payload.tenantIds = ids;
    if (start.value || end.value) payload.maintenanceWindow = { start: new Date(start.value).getTime(), end: new Date(end.value).getTime() };
    try {
      await api("POST", "/support/announcements", payload);
      await announcements(main);
      flash("Announced; tenant admins get it by mail.");
    } catch (err) {
      formError(form, err);
    }
  });
  const when = (ms) => new Date(ms).toISOString().slice(0, 16).replace("T", " ");
  show(
    main,
    h("h1", {}, "Announcements"),
    form,
    h("h2", {}, "Sent"),
    table(
      [
        ["Sent", (a) => `${a.createdAt.replace("T", " ").slice(0, 16)} by ${a.createdBy}`],
        ["Title", (a) => h("span", { title: a.body }, a.title)],
        ["To", (a) => (a.tenantIds ? `${a.tenantIds.length} tenant(s)` : "every tenant")],
        ["Window", (a) => (a.maintenanceWindow ? `${when(a.maintenanceWindow.start)} → ${when(a.maintenanceWindow.end)}` : "—")],
      ],
      list.announcements,
      "Nothing announced yet.",
    ),
  );
}
