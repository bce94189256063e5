// Building the page from data. Everything a server or a user sent is set as text, never
// parsed as HTML, so nothing in a tenant's name or a module's answer can run here.

/** An element: `h("a", {href: "#/x", class: "btn"}, "text", child)`. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) {
      el.addEventListener(name.slice(2), value);
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replace what `el` shows. */
export function show(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** A table: `columns` are `[heading, row => cell]`. */
export function table(columns, rows, empty = "Nothing here yet.") {
  if (rows.length === 0) return h("p", { class: "muted" }, empty);
  return h(
    "table",
    {},
    h("thead", {}, h("tr", {}, columns.map(([heading]) => h("th", { scope: "col" }, heading)))),
    h("tbody", {}, rows.map((row) => h("tr", {}, columns.map(([heading, cell]) => h("td", { "data-label": heading }, cell(row)))))),
  );
}

/** A labelled form field; its error (if the API names it) shows under it. */
export function field(label, input) {
  const id = input.id || `f-${input.name}`;
  input.id = id;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    input,
    h("p", { class: "field-error", id: `${id}-error`, "data-field": input.name }),
  );
}

/** Show an API error: next to the field it names (if the form has it), and in the form's banner. */
export function formError(form, err) {
  for (const p of form.querySelectorAll(".field-error")) p.textContent = "";
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  const banner = form.querySelector(".form-error");
  if (!err) {
    if (banner) banner.replaceChildren();
    return;
  }
  const at = err.field ? form.querySelector(`.field-error[data-field="${CSS.escape(err.field)}"]`) : null;
  if (at) {
    at.textContent = err.message;
    const input = form.querySelector(`[name="${CSS.escape(err.field)}"]`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", at.id);
      input.focus();
    }
  }
  if (banner) show(banner, errorBox(err));
}

/** An API error as the operator needs it: code, message and the request id to search for. */
export function errorBox(err) {
  return h(
    "div",
    { class: "error", role: "alert" },
    h("strong", {}, err.code || "ERROR"),
    " ",
    err.message || "Something went wrong.",
    err.requestId ? h("span", { class: "rid" }, " request ", h("code", {}, err.requestId)) : null,
  );
}

/** Ask before a destructive action; says what will happen. */
export function confirmAction(question, consequence) {
  return new Promise((resolve) => {
    const dialog = h(
      "dialog",
      { class: "confirm", "aria-labelledby": "confirm-q" },
      h("h2", { id: "confirm-q" }, question),
      h("p", {}, consequence),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "secondary", onclick: () => dialog.close("no") }, "Cancel"),
        h("button", { type: "button", class: "danger", onclick: () => dialog.close("yes") }, "Yes, do it"),
      ),
    );
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(dialog.returnValue === "yes");
    });
    document.body.appendChild(dialog);
    dialog.showModal();
  });
}

let pending = null;

/** A short message at the top of the page; with `{ next: true }`, on the next page opened. */
export function flash(text, { next = false } = {}) {
  if (next) {
    pending = text;
    return;
  }
  show(document.getElementById("flash"), text ? h("p", { class: "ok" }, text) : null);
}

/** Show the message kept for this page, if any (the router calls this on every page). */
export function flashPending() {
  flash(pending);
  pending = null;
}
