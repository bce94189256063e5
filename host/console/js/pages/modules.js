import { api, withQuery } from "../api.js";
import { confirmAction, errorBox, field, flash, formError, h, show, table } from "../dom.js";

const m = (name) => `/v1/superadmin/modules/${encodeURIComponent(name)}`;

/** Modules: what is installed, and a new component to install. */
export async function modules(main) {
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading modules…"));
  let list;
  try {
    list = await api("GET", "/v1/superadmin/modules");
  } catch (err) {
    show(main, h("h1", {}, "Modules"), errorBox(err));
    return;
  }
  show(
    main,
    h("h1", {}, "Modules"),
    table(
      [
        ["Module", (x) => h("a", { href: `#/modules/${encodeURIComponent(x.name)}` }, x.name)],
        ["Active version", (x) => x.activeVersion ?? "none"],
        ["Versions", (x) => x.versions],
        ["Size", (x) => (x.sizeBytes ? `${(x.sizeBytes / 1024).toFixed(0)} KiB` : "—")],
        ["Installed", (x) => x.createdAt.slice(0, 10)],
      ],
      list.modules,
      "No modules are installed.",
    ),
    h("h2", {}, "Install a component"),
    upload(),
  );
}

function upload() {
  const name = h("input", { name: "name", required: true, pattern: "[a-z][a-z0-9-]*", maxlength: 64 });
  const file = h("input", { name: "body", type: "file", accept: ".wasm,application/wasm", required: true });
  const form = h("form", { class: "inline" }, h("div", { class: "form-error" }), field("Module name", name), field("Component (.wasm)", file), h("button", { type: "submit" }, "Install"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    try {
      const v = await api("POST", withQuery("/v1/superadmin/modules", { name: name.value }), file.files[0]);
      flash(`${name.value} version ${v.version} is installed and active. Grant what it declares before tenants use it.`, { next: true });
      location.hash = `#/modules/${encodeURIComponent(name.value)}`;
    } catch (err) {
      formError(form, err);
    }
  });
  return form;
}

/** One module: its versions (activate one, roll back) and its capability grants. */
export async function moduleDetail(main, name) {
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading…"));
  let versions, grants;
  try {
    [versions, grants] = await Promise.all([api("GET", `${m(name)}/versions`), api("GET", `${m(name)}/grants`)]);
  } catch (err) {
    show(main, h("p", {}, h("a", { href: "#/modules" }, "← Modules")), h("h1", {}, name), errorBox(err));
    return;
  }
  const again = () => moduleDetail(main, name);
  const status = h("div", { class: "form-error" });
  const act = async (question, consequence, method, path, body, done) => {
    if (!(await confirmAction(question, consequence))) return;
    show(status);
    try {
      await api(method, path, body);
      await again();
      flash(done);
    } catch (err) {
      show(status, errorBox(err));
    }
  };
  const active = versions.versions.find((v) => v.active);
  const older = versions.versions.filter((v) => active && v.version < active.version);
  show(
    main,
    h("p", {}, h("a", { href: "#/modules" }, "← Modules")),
    h("h1", {}, name),
    status,
    h("h2", {}, "Versions"),
    older.length
      ? h(
          "button",
          {
            type: "button",
            class: "danger",
            onclick: () =>
              act(`Roll ${name} back?`, `Every tenant without a pin moves from version ${active.version} to ${older[0].version} from its next call.`, "POST", `${m(name)}/rollback`, undefined, `${name} is back on version ${older[0].version}.`),
          },
          "Roll back",
        )
      : null,
    table(
      [
        ["Version", (v) => v.version],
        ["State", (v) => h("span", { class: `badge ${v.active ? "on" : "off"}` }, v.active ? "active" : "inactive")],
        ["Installed", (v) => `${v.createdAt.slice(0, 16).replace("T", " ")}${v.createdBy ? ` by ${v.createdBy}` : ""}`],
        ["Size", (v) => `${(v.sizeBytes / 1024).toFixed(0)} KiB`],
        ["Hash", (v) => h("code", {}, v.contentHash.slice(0, 12))],
        [
          "",
          (v) =>
            v.active
              ? null
              : h(
                  "button",
                  {
                    type: "button",
                    class: "secondary",
                    "aria-label": `Activate version ${v.version}`,
                    onclick: () => act(`Activate version ${v.version} of ${name}?`, "Every tenant without a pin runs it from its next call.", "POST", `${m(name)}/activate`, { version: v.version }, `${name} version ${v.version} is active.`),
                  },
                  "Activate",
                ),
        ],
      ],
      versions.versions,
    ),
    h("h2", {}, "Capability grants"),
    grantsForm(name, grants, again),
  );
}

function grantsForm(name, g, again) {
  const caps = [...new Set([...g.declared, ...g.granted])];
  const hosts = [...new Set([...g.declaredHosts, ...g.grantedHosts])];
  const box = (kind, value, on, declared) =>
    h(
      "label",
      { class: "check" },
      h("input", { type: "checkbox", name: kind, value, checked: on }),
      ` ${value}`,
      declared ? null : h("span", { class: "muted" }, " (not declared)"),
    );
  const form = h(
    "form",
    { class: "card" },
    h("div", { class: "form-error" }),
    caps.length || hosts.length ? null : h("p", { class: "muted" }, `${name} declares no capabilities: it runs with log and context only.`),
    h("fieldset", {}, h("legend", {}, "Capabilities"), caps.map((c) => box("capabilities", c, g.granted.includes(c), g.declared.includes(c)))),
    hosts.length ? h("fieldset", {}, h("legend", {}, "Outbound hosts"), hosts.map((x) => box("hosts", x, g.grantedHosts.includes(x), g.declaredHosts.includes(x)))) : null,
    h("p", { class: "field-error", "data-field": "capabilities" }),
    h("button", { type: "submit" }, "Save grants"),
  );
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(form, null);
    const checked = (kind) => [...form.querySelectorAll(`input[name=${kind}]:checked`)].map((i) => i.value);
    try {
      await api("PUT", `${m(name)}/grants`, { capabilities: checked("capabilities"), hosts: checked("hosts") });
      await again();
      flash(`${name}'s grants are saved; calls from now on use them.`);
    } catch (err) {
      formError(form, err);
    }
  });
  return form;
}
