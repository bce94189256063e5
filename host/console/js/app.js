// The console's router: `#/page/...` in the address, one page module per section. A page
// is drawn from the API each time it is opened, so what it shows is what the API says now.

import { session, whenExpired } from "./api.js";
import { flashPending, h, show } from "./dom.js";
import { activity } from "./pages/activity.js";
import { analytics } from "./pages/analytics.js";
import { billing } from "./pages/billing.js";
import { login } from "./pages/login.js";
import { mail } from "./pages/mail.js";
import { maintenance } from "./pages/maintenance.js";
import { moduleDetail, modules } from "./pages/modules.js";
import { presets } from "./pages/presets.js";
import { registrations } from "./pages/registrations.js";
import { announcements, support, ticket } from "./pages/support.js";
import { tenant } from "./pages/tenant.js";
import { tenants } from "./pages/tenants.js";

const SECTIONS = [
  ["#/tenants", "Tenants"],
  ["#/registrations", "Registrations"],
  ["#/presets", "Presets"],
  ["#/modules", "Modules"],
  ["#/activity", "Activity"],
  ["#/billing", "Billing"],
  ["#/support", "Support"],
  ["#/announcements", "Announcements"],
  ["#/maintenance", "Maintenance"],
  ["#/analytics", "Analytics"],
  ["#/mail", "Mail"],
];

const main = document.getElementById("main");
let notice = null;

// Errors and CSP violations are kept where the browser tests can read them.
window.novaConsoleErrors = [];
window.addEventListener("error", (e) => window.novaConsoleErrors.push(`error: ${e.message}`));
window.addEventListener("unhandledrejection", (e) => window.novaConsoleErrors.push(`rejection: ${e.reason}`));
document.addEventListener("securitypolicyviolation", (e) => window.novaConsoleErrors.push(`csp: ${e.violatedDirective} ${e.blockedURI}`));

whenExpired(() => {
  notice = "Your session has expired. Sign in again.";
  location.hash = "#/login";
});

function header(current) {
  const nav = document.getElementById("nav");
  const who = document.getElementById("who");
  if (!session.token()) {
    show(nav);
    show(who);
    return;
  }
  show(
    nav,
    h("ul", {}, SECTIONS.map(([href, label]) => h("li", {}, h("a", { href, "aria-current": current.startsWith(href) ? "page" : null }, label)))),
  );
  const out = h("button", { type: "button", class: "link", id: "sign-out" }, "Sign out");
  out.addEventListener("click", () => {
    session.end();
    notice = "You are signed out.";
    location.hash = "#/login";
  });
  show(who, h("span", {}, session.who()), " ", out);
}

async function route() {
  const [path, query] = (location.hash || "#/tenants").split("?");
  const params = new URLSearchParams(query || "");
  flashPending();
  if (!session.token() && path !== "#/login") {
    location.hash = "#/login";
    return;
  }
  header(path);
  main.focus();
  const parts = path.split("/").slice(1).map(decodeURIComponent);
  switch (parts[0]) {
    case "login": {
      const shown = notice;
      notice = null;
      if (session.token() && !shown) {
        location.hash = "#/tenants";
        return;
      }
      return login(main, { notice: shown });
    }
    case "tenants":
      return parts[1] ? tenant(main, parts[1]) : tenants(main, params);
    case "registrations":
      return registrations(main, params);
    case "presets":
      return presets(main);
    case "modules":
      return parts[1] ? moduleDetail(main, parts[1]) : modules(main);
    case "announcements":
      return announcements(main);
    case "billing":
      return billing(main, params);
    case "support":
      return parts[2] ? ticket(main, parts[1], parts[2]) : support(main, params);
    case "activity":
      return activity(main, params);
    case "maintenance":
      return maintenance(main);
    case "analytics":
      return analytics(main, params);
    case "mail":
      return mail(main);
    default:
      show(main, h("h1", {}, "Not found"), h("p", {}, "There is no such page. ", h("a", { href: "#/tenants" }, "Go to tenants")));
  }
}

window.addEventListener("hashchange", route);
route();
