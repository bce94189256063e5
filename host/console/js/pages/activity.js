import { api, withQuery } from "../api.js";
import { errorBox, field, h, show, table } from "../dom.js";

const OUTCOMES = ["", "ok", "error", "denied", "trap", "timeout", "limit", "interrupted"];

/** Activity: invocation records and audit events, filtered and paged on the server; a
 * request id opens every record of that request. */
export async function activity(main, params) {
  const view = params.get("view") === "audit" ? "audit" : params.get("view") === "request" ? "request" : "invocations";
  const f = Object.fromEntries(["tenantId", "module", "outcome", "action", "requestId", "since", "until", "cursor"].map((k) => [k, params.get(k) || ""]));
  const tabs = h(
    "nav",
    { class: "tabs", "aria-label": "Activity" },
    [["invocations", "Invocations"], ["audit", "Audit events"]].map(([v, label]) =>
      h("a", { href: withQuery("#/activity", { view: v }), "aria-current": v === view ? "page" : null }, label),
    ),
  );
  const out = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  if (view === "request") {
    show(main, h("h1", {}, "Request ", h("code", {}, f.requestId)), h("p", {}, h("a", { href: "#/activity" }, "← Activity")), out);
    try {
      const [inv, aud] = await Promise.all([
        api("GET", withQuery("/v1/superadmin/invocations", { requestId: f.requestId, limit: 1000 })),
        api("GET", withQuery("/v1/superadmin/audit", { requestId: f.requestId, limit: 1000 })),
      ]);
      show(out, h("h2", {}, "Invocations"), invocationTable(inv.invocations), h("h2", {}, "Audit events"), auditTable(aud.events));
    } catch (err) {
      show(out, errorBox(err));
    }
    out.removeAttribute("aria-busy");
    return;
  }
  show(main, h("h1", {}, "Activity"), tabs, filters(view, f), out);
  const toIso = (v) => (v ? new Date(v).toISOString() : "");
  const query = {
    tenantId: f.tenantId,
    module: f.module,
    requestId: f.requestId,
    since: toIso(f.since),
    until: toIso(f.until),
    cursor: f.cursor,
    limit: 50,
  };
  try {
    let rows, next;
    if (view === "audit") {
      const page = await api("GET", withQuery("/v1/superadmin/audit", { ...query, action: f.action }));
      rows = auditTable(page.events);
      next = page.nextCursor;
    } else {
      const page = await api("GET", withQuery("/v1/superadmin/invocations", { ...query, outcome: f.outcome }));
      rows = invocationTable(page.invocations);
      next = page.nextCursor;
    }
    const here = { ...f, view };
    const pager = h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      f.cursor ? h("a", { href: withQuery("#/activity", { ...here, cursor: "" }) }, "Newest") : null,
      next ? h("a", { href: withQuery("#/activity", { ...here, cursor: next }), rel: "next" }, "Older") : null,
    );
    show(out, rows, pager);
  } catch (err) {
    show(out, errorBox(err));
  }
  out.removeAttribute("aria-busy");
}

function filters(view, f) {
  const input = (name, attrs = {}) => h("input", { name, value: f[name], ...attrs });
  const outcome = h("select", { name: "outcome" }, OUTCOMES.map((o) => h("option", { value: o, selected: o === f.outcome }, o || "any")));
  const form = h(
    "form",
    { class: "inline filters", role: "search" },
    field("Tenant id", input("tenantId")),
    field("Module", input("module")),
    view === "audit" ? field("Action", input("action")) : field("Outcome", outcome),
    field("Request id", input("requestId")),
    field("From", input("since", { type: "datetime-local" })),
    field("Until", input("until", { type: "datetime-local" })),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const values = Object.fromEntries(new FormData(form).entries());
    location.hash = withQuery("#/activity", { view, ...values });
  });
  return form;
}

const requestLink = (id) => (id ? h("a", { href: withQuery("#/activity", { view: "request", requestId: id }) }, h("code", {}, id.slice(0, 13) + "…")) : "—");
const tenantLink = (id) => (id ? h("a", { href: `#/tenants/${encodeURIComponent(id)}` }, h("code", {}, id.slice(0, 8))) : "platform");
const when = (t) => t.replace("T", " ").slice(0, 19);

function invocationTable(rows) {
  return table(
    [
      ["When", (r) => when(r.createdAt)],
      ["Tenant", (r) => tenantLink(r.tenantId)],
      ["Module", (r) => (r.version ? `${r.module} ${r.version}` : r.module)],
      ["Call", (r) => `${r.method} ${r.path}`],
      ["Status", (r) => r.status],
      ["Outcome", (r) => h("span", { class: `badge ${r.outcome === "ok" ? "on" : "bad"}`, title: r.error || "" }, r.outcome)],
      ["ms", (r) => r.durationMs.toFixed(1)],
      ["Request", (r) => requestLink(r.requestId)],
    ],
    rows,
    "No invocation records match.",
  );
}

/** What an audit event changed: a toggle's `delta` as before → after, else its payload. */
function payload(e) {
  const delta = e.payload && e.payload.delta;
  if (delta && (delta.toggles || delta.featureFlags)) {
    const state = (v) => (v === null || v === undefined ? "unset" : v ? "on" : "off");
    const lines = [];
    for (const [kind, map] of [["", delta.toggles || {}], ["flag ", delta.featureFlags || {}]]) {
      for (const [name, d] of Object.entries(map)) lines.push(h("li", {}, `${kind}${name}: ${state(d.previous)} → ${state(d.current)}`));
    }
    return h("ul", { class: "delta" }, lines);
  }
  const text = JSON.stringify(e.payload);
  return h("code", { title: text }, text.length > 120 ? `${text.slice(0, 120)}…` : text);
}

function auditTable(rows) {
  return table(
    [
      ["When", (e) => when(e.createdAt)],
      ["Action", (e) => e.action],
      ["Actor", (e) => e.actor || "—"],
      ["Tenant", (e) => tenantLink(e.tenantId)],
      ["Module", (e) => e.module],
      ["What", payload],
      ["Request", (e) => requestLink(e.requestId)],
    ],
    rows,
    "No audit events match.",
  );
}
