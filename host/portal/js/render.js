// Drawing a module's screen (a `nova.view/1` document) with the portal's own components.
// Everything in the document is data: text goes in as text (never parsed as HTML), links
// are view names turned into this portal's own `#/m/...` addresses, and requests only go
// to `/v1/portal/{this module}{path}` after the path is checked again here.

import { api } from "./api.js";
import { confirmAction, errorBox, field, flash, formError, h, show } from "./dom.js";

/** The portal address of a view of `module`. */
export function viewHref(module, view, params = {}) {
  const q = new URLSearchParams(params).toString();
  return `#/m/${encodeURIComponent(module)}/${encodeURIComponent(view)}${q ? `?${q}` : ""}`;
}

// The same rule the host applies (nova_view::check::is_module_path): a route of this module.
const SEGMENT = /^[A-Za-z0-9\-_.~]+$/;
const QUERY = /^[A-Za-z0-9\-_.~=&]*$/;
function modulePath(path) {
  if (typeof path !== "string" || !path.startsWith("/") || path.length > 512) return false;
  const [route, query = ""] = path.split("?", 2);
  const rest = route.slice(1);
  const ok = rest === "" || rest.split("/").every((s) => SEGMENT.test(s) && s !== "." && s !== "..");
  return ok && QUERY.test(query);
}

const number = new Intl.NumberFormat(undefined);
const money = new Intl.NumberFormat(undefined, { minimumFractionDigits: 2, maximumFractionDigits: 2 });

/** A value as its kind says. */
export function shown(value, kind) {
  if (value === null || value === undefined || value === "") return "—";
  switch (kind) {
    case "money":
      return typeof value === "number" ? money.format(value / 100) : String(value);
    case "number":
      return typeof value === "number" ? number.format(value) : String(value);
    case "date":
    case "dateTime": {
      // A bare day (a business date) is that day wherever the browser is, not UTC midnight.
      const day = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(value));
      const d = day ? new Date(Number(day[1]), Number(day[2]) - 1, Number(day[3])) : new Date(value);
      if (Number.isNaN(d.getTime())) return String(value);
      return kind === "date" ? d.toLocaleDateString() : d.toLocaleString();
    }
    case "badge":
      return h("span", { class: "badge" }, String(value));
    default:
      return typeof value === "boolean" ? (value ? "yes" : "no") : String(value);
  }
}

/** Params of a target, with `{field}` taken from `answer` (after a form or an action). */
function fill(params = {}, answer = {}) {
  const out = {};
  for (const [k, v] of Object.entries(params)) {
    const m = /^\{([A-Za-z][A-Za-z0-9_]*)\}$/.exec(v);
    out[k] = m && answer && answer[m[1]] !== undefined ? String(answer[m[1]]) : v;
  }
  return out;
}

/** Draw `doc` into `main`; `again` draws the current view afresh. */
export function renderView(main, module, doc, again) {
  const ctx = { module, again };
  show(main, h("h1", {}, doc.title), (doc.blocks || []).map((b) => block(ctx, b)));
}

function block(ctx, b) {
  switch (b.type) {
    case "heading":
      return h("h2", {}, b.text);
    case "text":
      return h("p", { class: b.tone ? `tone-${b.tone}` : null }, b.text);
    case "stats":
      return h(
        "div",
        { class: "stats" },
        b.items.map((s) => h("div", { class: "stat" }, h("div", { class: "label" }, s.label), h("div", { class: "value" }, shown(s.value, s.kind)))),
      );
    case "table":
      return table(ctx, b);
    case "details":
      return h("dl", { class: "details" }, b.items.flatMap((d) => [h("dt", {}, d.label), h("dd", {}, shown(d.value, d.kind))]));
    case "form":
      return form(ctx, b);
    case "actions":
      return actions(ctx, b.items);
    case "links":
      return h("ul", { class: "view-links" }, b.items.map((l) => h("li", {}, h("a", { href: viewHref(ctx.module, l.view, l.params) }, l.text))));
    default:
      // The host refuses unknown blocks; a newer portal feature stays invisible here.
      return null;
  }
}

function table(ctx, b) {
  if (b.rows.length === 0) return h("p", { class: "muted" }, b.empty || "Nothing here yet.");
  const cell = (row, col, i) => {
    const v = shown(row.cells[col.key], col.kind);
    return i === 0 && row.link ? h("a", { href: viewHref(ctx.module, row.link.view, row.link.params) }, v) : v;
  };
  return h(
    "div",
    {},
    h(
      "table",
      {},
      h("thead", {}, h("tr", {}, b.columns.map((c) => h("th", { scope: "col" }, c.label)))),
      h("tbody", {}, b.rows.map((row) => h("tr", {}, b.columns.map((c, i) => h("td", { "data-label": c.label }, cell(row, c, i)))))),
    ),
    b.next ? h("nav", { class: "pager", "aria-label": "Pages" }, h("a", { href: viewHref(ctx.module, b.next.view, b.next.params), rel: "next" }, "Next page")) : null,
  );
}

/** Send one request to a route of this module; where to go after, or draw again. */
async function send(ctx, method, path, body, then) {
  if (!modulePath(path)) throw { code: "VIEW_INVALID", message: `The module asked for ${path}, which is not one of its routes.` };
  const answer = await api(method, `/v1/portal/${encodeURIComponent(ctx.module)}${path}`, body);
  if (then) {
    flash("Done.", { next: true });
    location.hash = viewHref(ctx.module, then.view, fill(then.params, answer));
  } else {
    await ctx.again();
    flash("Done.");
  }
}

function input(f) {
  const attrs = { name: f.name, required: f.required || null };
  const initial = f.value === undefined || f.value === null ? "" : f.value;
  switch (f.input) {
    case "textarea":
      return h("textarea", { ...attrs, rows: 4 }, String(initial));
    case "select":
      return h(
        "select",
        attrs,
        f.required ? null : h("option", { value: "" }, "—"),
        f.options.map((o) => h("option", { value: String(o.value), selected: String(o.value) === String(initial) }, o.label)),
      );
    case "number":
      return h("input", { ...attrs, type: "number", step: 1, value: initial });
    case "money":
      return h("input", { ...attrs, type: "text", inputmode: "decimal", value: initial === "" ? "" : (Number(initial) / 100).toFixed(2), placeholder: "0.00" });
    case "date":
      return h("input", { ...attrs, type: "date", value: initial });
    default:
      return h("input", { ...attrs, type: "text", value: initial });
  }
}

/** A field's value as the module wants it, or an error naming the field. */
function read(f, el) {
  const raw = el.value.trim();
  if (raw === "") return undefined;
  if (f.input === "select") {
    // Sent as the module gave it: a number stays a number.
    const chosen = f.options.find((o) => String(o.value) === raw);
    return chosen ? chosen.value : raw;
  }
  if (f.input === "number") {
    if (!/^-?\d+$/.test(raw)) throw { code: "VALIDATION", field: f.name, message: `${f.label} must be a whole number.` };
    return Number(raw);
  }
  if (f.input === "money") {
    const m = /^(-?)(\d+)(?:[.,](\d{1,2}))?$/.exec(raw);
    if (!m) throw { code: "VALIDATION", field: f.name, message: `${f.label} must be an amount like 12.50.` };
    const cents = Number(m[2]) * 100 + Number((m[3] || "0").padEnd(2, "0"));
    return m[1] ? -cents : cents;
  }
  return f.input === "textarea" ? el.value : raw;
}

function form(ctx, b) {
  const inputs = b.fields.map((f) => [f, input(f)]);
  const el = h(
    "form",
    { class: "card" },
    b.title ? h("h2", {}, b.title) : null,
    h("div", { class: "form-error" }),
    inputs.map(([f, i]) => {
      const wrapped = field(f.label, i);
      if (f.help) wrapped.insertBefore(h("p", { class: "help" }, f.help), wrapped.lastChild);
      return wrapped;
    }),
    h("button", { type: "submit" }, b.submit),
  );
  el.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(el, null);
    try {
      const body = {};
      for (const [f, i] of inputs) {
        const v = read(f, i);
        if (v !== undefined) body[f.name] = v;
      }
      if (b.confirm && !(await confirmAction(b.confirm, "This is sent when you confirm."))) return;
      await send(ctx, b.method, b.path, body, b.then);
    } catch (err) {
      formError(el, err);
    }
  });
  return el;
}

function actions(ctx, items) {
  const status = h("div", { class: "form-error" });
  const buttons = items.map((a) =>
    h(
      "button",
      {
        type: "button",
        class: a.tone === "danger" ? "danger" : "secondary",
        onclick: async () => {
          show(status);
          if (a.confirm && !(await confirmAction(a.confirm, a.label))) return;
          try {
            await send(ctx, a.method, a.path, a.body || undefined, a.then);
          } catch (err) {
            show(status, errorBox(err));
          }
        },
      },
      a.label,
    ),
  );
  return h("div", {}, status, h("div", { class: "actions" }, buttons));
}
