import { api, withQuery } from "../api.js";
import { errorBox, h, show, table } from "../dom.js";

const SVG = "http://www.w3.org/2000/svg";

function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children) el.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  return el;
}

/** Every day of the window, oldest first, as `YYYY-MM-DD` (UTC). */
function days(windowDays) {
  const out = [];
  const today = Date.UTC(new Date().getUTCFullYear(), new Date().getUTCMonth(), new Date().getUTCDate());
  for (let i = windowDays - 1; i >= 0; i--) out.push(new Date(today - i * 86_400_000).toISOString().slice(0, 10));
  return out;
}

/** Enables above the axis, disables below, one pair of bars per day. */
function chart(daily, windowDays, module) {
  const rows = daily.filter((d) => !module || d.module === module);
  const per = new Map();
  for (const d of rows) {
    const p = per.get(d.day) || { enabled: 0, disabled: 0 };
    p.enabled += d.enabled;
    p.disabled += d.disabled;
    per.set(d.day, p);
  }
  const all = days(windowDays);
  const max = Math.max(1, ...[...per.values()].flatMap((p) => [p.enabled, p.disabled]));
  const W = 900, H = 260, left = 40, mid = H / 2, bar = (W - left - 10) / all.length;
  const scale = (n) => (n / max) * (mid - 24);
  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-labelledby": "chart-title", class: "chart" },
    s("title", { id: "chart-title" }, `Module ${module || "toggles"}: enables and disables per day, last ${windowDays} days`),
    s("line", { x1: left, x2: W - 10, y1: mid, y2: mid, class: "axis" }),
    s("text", { x: 4, y: 16, class: "label" }, String(max)),
    s("text", { x: 4, y: mid + 4, class: "label" }, "0"),
    s("text", { x: 4, y: H - 6, class: "label" }, String(max)),
  );
  all.forEach((day, i) => {
    const p = per.get(day) || { enabled: 0, disabled: 0 };
    const x = left + i * bar + 1;
    if (p.enabled) svg.appendChild(s("rect", { x, y: mid - scale(p.enabled), width: Math.max(1, bar - 2), height: scale(p.enabled), class: "up" }, s("title", {}, `${day}: ${p.enabled} switched on`)));
    if (p.disabled) svg.appendChild(s("rect", { x, y: mid, width: Math.max(1, bar - 2), height: scale(p.disabled), class: "down" }, s("title", {}, `${day}: ${p.disabled} switched off`)));
    if ((i % 7 === 0 && i < all.length - 4) || i === all.length - 1) svg.appendChild(s("text", { x, y: H - 6, class: "label day" }, day.slice(5)));
  });
  return svg;
}

/** Analytics: module toggles per day as a chart, and new tenants per module. */
export async function analytics(main, params) {
  const windowDays = Number(params.get("windowDays")) || 30;
  const module = params.get("module") || "";
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading…"));
  let r;
  try {
    r = await api("GET", withQuery("/v1/superadmin/analytics/module-toggles", { windowDays }));
  } catch (err) {
    show(main, h("h1", {}, "Analytics"), errorBox(err));
    return;
  }
  const modules = [...new Set(r.toggles.map((t) => t.module))];
  const pick = h(
    "select",
    { id: "chart-module", "aria-label": "Module" },
    h("option", { value: "" }, "all modules"),
    modules.map((m) => h("option", { value: m, selected: m === module }, m)),
  );
  pick.addEventListener("change", () => (location.hash = withQuery("#/analytics", { windowDays, module: pick.value })));
  show(
    main,
    h("h1", {}, "Analytics"),
    h("h2", {}, `Module toggles, last ${r.windowDays} days`),
    h("div", { class: "actions" }, h("label", { for: "chart-module" }, "Show "), pick,
      h("span", { class: "legend up" }, "switched on"), h("span", { class: "legend down" }, "switched off")),
    chart(r.daily, r.windowDays, module),
    table(
      [["Module", (t) => t.module], ["Switched on", (t) => t.enabled], ["Switched off", (t) => t.disabled]],
      r.toggles,
      "No module was switched in this window.",
    ),
    h("h2", {}, "New tenants per module"),
    table([["Module", (t) => t.module], ["New tenants with it on", (t) => t.tenants]], r.newTenantsPerModule, "No new tenants in this window."),
  );
}
