// The tenant portal: a restaurant's admins and staff sign in and use the modules their
// restaurant has. The navigation has one entry per enabled module that has screens; each
// screen is a document the module answers from `GET /_views/{name}` (through the same
// toggle check, limits and invocation record as any call), drawn by render.js.

import { api, session, whenExpired } from "./api.js";
import { errorBox, flashPending, h, show } from "./dom.js";
import { renderView, viewHref } from "./render.js";
import { exportPanel } from "./exports.js";
import { signIn } from "./signin.js";

const main = document.getElementById("main");
let notice = null;
// What this page load knows: the caller's tenant (`/v1/portal/me`) and each enabled
// module's screens. A module switched on or off shows up on the next page load.
let known = null;

window.novaConsoleErrors = [];
window.addEventListener("error", (e) => window.novaConsoleErrors.push(`error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => window.novaConsoleErrors.push(`rejection: ${e.reason}`));
document.addEventListener("securitypolicyviolation", (e) => window.novaConsoleErrors.push(`csp: ${e.violatedDirective} ${e.blockedURI}`));

whenExpired(() => {
  notice = "Your session has expired. Sign in again.";
  known = null;
  location.hash = "#/login";
});

/** The tenant and the screens of its enabled modules (a module without screens has none). */
async function load() {
  if (known) return known;
  const me = await api("GET", "/v1/portal/me");
  const screens = await Promise.all(
    me.modules.map(async (m) => {
      try {
        return [m, await api("GET", `/v1/portal/${encodeURIComponent(m)}/_views`)];
      } catch (err) {
        // 404: the module has no screens. Anything else: shown when the module is opened.
        return [m, err.status === 404 ? null : { error: err }];
      }
    }),
  );
  known = { me, screens: new Map(screens.filter(([, s]) => s)) };
  return known;
}

function header(current) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  const banner = document.getElementById("banner");
  if (!known) {
    show(nav);
    show(who);
    show(banner);
    return;
  }
  document.getElementById("brand").textContent = known.me.tenant.name;
  const entries = [["#/", "Home", current === "#/"]];
  for (const [m, s] of known.screens) {
    const title = s.error ? m : s.title;
    entries.push([viewHref(m, s.error ? "" : s.home), title, current.startsWith(`#/m/${encodeURIComponent(m)}`)]);
  }
  if (known.me.user.role === "admin") entries.push(["#/data", "Your data", current === "#/data"]);
  show(nav, h("ul", {}, entries.map(([href, label, here]) => h("li", {}, h("a", { href, "aria-current": here ? "page" : null }, label)))));
  const out = h("button", { type: "button", class: "link", id: "sign-out" }, "Sign out");
  out.addEventListener("click", () => {
    session.end();
    known = null;
    notice = "You are signed out.";
    location.hash = "#/login";
  });
  show(who, h("span", {}, `${session.who()} (${known.me.user.role})`), " ", out);
  show(banner, known.me.maintenance ? h("p", {}, h("strong", {}, "Maintenance: "), known.me.maintenance, " Changes are refused until it ends; you can still look things up.") : null);
}

function login(notice) {
  signIn(main, {
    title: "Sign in to your restaurant",
    notice,
    home: "#/",
    // Nova's operators have no restaurant: their place is the console.
    refuse: (user) =>
      user.role === "superadmin" ? { code: "SUPERADMIN", message: "This portal is for restaurants. Nova's operators use the console at /console." } : null,
  });
}

async function home() {
  const { me, screens } = known;
  let news = [];
  try {
    news = (await api("GET", "/v1/portal/support/announcements")).announcements;
  } catch {
    // Announcements come with support; without it there are none to show.
  }
  show(
    main,
    h("h1", {}, me.tenant.name),
    h(
      "dl",
      { class: "details" },
      h("dt", {}, "Plan"), h("dd", {}, me.plan ? me.plan.name : "none"),
      h("dt", {}, "Modules"), h("dd", {}, me.modules.length ? me.modules.join(", ") : "none yet"),
    ),
    screens.size
      ? h("ul", { class: "view-links" }, [...screens].map(([m, s]) => h("li", {}, h("a", { href: viewHref(m, s.error ? "" : s.home) }, s.error ? m : s.title))))
      : h("p", { class: "muted" }, "None of your restaurant's modules has screens yet. Ask Nova to switch one on."),
    h("h2", {}, "Announcements"),
    news.length
      ? news.map((a) => h("article", { class: "card" }, h("h3", {}, a.title), h("p", {}, a.body)))
      : h("p", { class: "muted" }, "No announcements."),
  );
}

function notEnabled(module) {
  show(
    main,
    h("h1", {}, "Not available"),
    h("p", {}, `${module} is not enabled for your restaurant.`),
    h("p", {}, h("a", { href: "#/" }, "Back to the start page")),
  );
}

/** One screen of a module: its menu, then the view the module answers. */
async function screen(module, view, params) {
  const s = known.screens.get(module);
  if (!known.me.modules.includes(module)) return notEnabled(module);
  if (!s) return show(main, h("h1", {}, module), h("p", {}, `${module} has no screens in the portal.`));
  if (s.error) return show(main, h("h1", {}, module), errorBox(s.error));
  const name = view || s.home;
  const menu = (s.menu || []).length
    ? h("ul", { class: "module-menu", "aria-label": s.title }, s.menu.map((l) => h("li", {}, h("a", { href: viewHref(module, l.view, l.params), "aria-current": l.view === name ? "page" : null }, l.text))))
    : null;
  const body = h("div", { "aria-busy": "true" }, h("p", { class: "muted" }, "Loading…"));
  show(main, menu, body);
  const again = () => screen(module, name, params);
  try {
    const q = params.toString();
    const doc = await api("GET", `/v1/portal/${encodeURIComponent(module)}/_views/${encodeURIComponent(name)}${q ? `?${q}` : ""}`);
    renderView(body, module, doc, again);
  } catch (err) {
    if (err.code === "MODULE_DISABLED") return notEnabled(module);
    show(body, h("h1", {}, `${s.title}: ${name}`), errorBox(err));
  }
  body.removeAttribute("aria-busy");
}

async function route() {
  const [path, query] = (location.hash || "#/").split("?");
  const params = new URLSearchParams(query || "");
  flashPending();
  if (!session.token()) {
    known = null;
    header(path);
    if (path !== "#/login") {
      location.hash = "#/login";
      return;
    }
    const shown = notice;
    notice = null;
    return login(shown);
  }
  if (path === "#/login") {
    location.hash = "#/";
    return;
  }
  try {
    await load();
  } catch (err) {
    show(main, h("h1", {}, "Your restaurant"), errorBox(err));
    return;
  }
  header(path);
  main.focus();
  const parts = path.split("/").slice(1).map(decodeURIComponent);
  if (parts[0] === "m" && parts[1]) return screen(parts[1], parts[2] || "", params);
  if (parts[0] === "data" && known.me.user.role === "admin") {
    return show(main, h("h1", {}, "Your data"), exportPanel("/v1/portal/me/exports"));
  }
  if (parts[0] === "" || parts[0] === undefined) return home();
  show(main, h("h1", {}, "Not found"), h("p", {}, "There is no such page. ", h("a", { href: "#/" }, "Go to the start page")));
}

window.addEventListener("hashchange", route);

route();
