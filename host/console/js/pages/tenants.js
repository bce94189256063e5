import { api, withQuery } from "../api.js";
import { errorBox, field, formError, h, show, table } from "../dom.js";

const PAGE = 50;

/** Tenants: search, page through on the server, create one. */
export async function tenants(main, params) {
  const q = params.get("q") || "";
  const cursor = params.get("cursor") || "";
  const search = h("input", { name: "q", type: "search", value: q, placeholder: "Name or id" });
  const searchForm = h("form", { class: "inline", role: "search" }, field("Search tenants", search), h("button", { type: "submit" }, "Search"));
  searchForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    location.hash = withQuery("#/tenants", { q: search.value.trim() });
  });

  const name = h("input", { name: "name", required: true, maxlength: 200 });
  const create = h("form", { class: "inline" }, h("div", { class: "form-error" }), field("New tenant's name", name), h("button", { type: "submit" }, "Create tenant"));
  create.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    formError(create, null);
    try {
      const t = await api("POST", "/v1/superadmin/tenants", { name: name.value });
      location.hash = `#/tenants/${encodeURIComponent(t.id)}`;
    } catch (err) {
      formError(create, err);
    }
  });

  const list = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading tenants…"));
  show(main, h("h1", {}, "Tenants"), h("div", { class: "toolbar" }, searchForm, create), list);

  try {
    const page = await api("GET", withQuery("/v1/superadmin/tenants", { q, cursor, limit: PAGE }));
    const rows = table(
      [
        ["Name", (t) => h("a", { href: `#/tenants/${encodeURIComponent(t.id)}` }, t.name)],
        ["Plan", (t) => t.plan || "—"],
        ["Status", (t) => h("span", { class: `badge ${t.status}` }, t.status)],
        ["Modules on", (t) => (t.modules.length ? t.modules.join(", ") : "none")],
        ["Created", (t) => t.createdAt.slice(0, 10)],
        ["Id", (t) => h("code", {}, t.id)],
      ],
      page.tenants,
      q ? `No tenant matches “${q}”.` : "No tenants yet.",
    );
    const pager = h(
      "nav",
      { class: "pager", "aria-label": "Pages" },
      cursor ? h("a", { href: withQuery("#/tenants", { q }) }, "First page") : null,
      page.nextCursor ? h("a", { href: withQuery("#/tenants", { q, cursor: page.nextCursor }), rel: "next" }, "Next page") : null,
    );
    list.removeAttribute("aria-busy");
    show(list, rows, pager);
  } catch (err) {
    list.removeAttribute("aria-busy");
    show(list, errorBox(err));
  }
}
