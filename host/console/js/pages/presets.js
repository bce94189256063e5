import { api } from "../api.js";
import { confirmAction, errorBox, field, flash, formError, h, show, table } from "../dom.js";

/** Presets: named sets of module and flag overrides, applied at approval or to a tenant. */
export async function presets(main) {
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading presets…"));
  let list, modules;
  try {
    [list, modules] = await Promise.all([api("GET", "/v1/superadmin/module-presets"), api("GET", "/v1/superadmin/modules")]);
  } catch (err) {
    show(main, h("h1", {}, "Presets"), errorBox(err));
    return;
  }
  const names = modules.modules.map((m) => m.name);
  const again = () => presets(main);
  const onOff = (map) =>
    Object.entries(map)
      .map(([k, v]) => `${k} ${v ? "on" : "off"}`)
      .join(", ") || "—";
  show(
    main,
    h("h1", {}, "Presets"),
    table(
      [
        ["Name", (p) => p.name],
        ["Description", (p) => p.description || "—"],
        ["Modules", (p) => onOff(p.modules)],
        ["Flags", (p) => onOff(p.featureFlags)],
        [
          "",
          (p) =>
            h(
              "span",
              { class: "actions" },
              h("a", { href: `#/presets`, "aria-label": `Edit preset ${p.name}`, onclick: (ev) => { ev.preventDefault(); editor(main, names, p, again); } }, "Edit"),
              h(
                "button",
                {
                  type: "button",
                  class: "link",
                  "aria-label": `Delete preset ${p.name}`,
                  onclick: async () => {
                    if (!(await confirmAction(`Delete preset ${p.name}?`, "Tenants it was applied to keep their overrides; it can no longer be chosen."))) return;
                    try {
                      await api("DELETE", `/v1/superadmin/module-presets/${encodeURIComponent(p.name)}`);
                      await again();
                      flash(`Preset ${p.name} is deleted.`);
                    } catch (err) {
                      show(main.querySelector(".list-error"), errorBox(err));
                    }
                  },
                },
                "Delete",
              ),
            ),
        ],
      ],
      list.presets,
      "No presets yet.",
    ),
    h("div", { class: "list-error" }),
    h("h2", {}, "New preset"),
    form(names, null, again),
  );
}

function editor(main, names, preset, again) {
  show(main, h("p", {}, h("a", { href: "#/presets", onclick: (ev) => { ev.preventDefault(); again(); } }, "← Presets")), h("h1", {}, `Preset ${preset.name}`), form(names, preset, again));
}

/** Create (no `preset`) or edit a preset: each module on, off, or left alone. */
function form(names, preset, again) {
  const name = h("input", { name: "name", required: true, value: preset ? preset.name : "", readonly: preset ? true : null });
  const description = h("input", { name: "description", value: preset ? preset.description : "" });
  const choice = (m) => {
    const now = preset && m in preset.modules ? (preset.modules[m] ? "on" : "off") : "";
    return field(
      m,
      h(
        "select",
        { name: `module-${m}` },
        ["", "on", "off"].map((v) => h("option", { value: v, selected: v === now }, v || "leave alone")),
      ),
    );
  };
  const f = h(
    "form",
    { class: "card" },
    h("div", { class: "form-error" }),
    field("Name", name),
    field("Description", description),
    h("fieldset", {}, h("legend", {}, "Modules"), names.map(choice)),
    h("button", { type: "submit" }, preset ? "Save preset" : "Create preset"),
  );
  f.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(f, null);
    const modules = {};
    for (const m of names) {
      const v = f.querySelector(`[name="module-${CSS.escape(m)}"]`).value;
      if (v) modules[m] = v === "on";
    }
    const body = { description: description.value, modules, featureFlags: preset ? preset.featureFlags : {} };
    try {
      if (preset) {
        await api("PUT", `/v1/superadmin/module-presets/${encodeURIComponent(preset.name)}`, body);
      } else {
        await api("POST", "/v1/superadmin/module-presets", { name: name.value, ...body });
      }
      await again();
      flash(`Preset ${preset ? preset.name : name.value} is saved.`);
    } catch (err) {
      formError(f, err);
    }
  });
  return f;
}
