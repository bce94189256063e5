import { api } from "../api.js";
import { errorBox, h, show, table } from "../dom.js";

/** Mail: the outbox, newest first, with each message's status. */
export async function mail(main) {
  show(main, h("p", { class: "muted", "aria-busy": "true" }, "Loading mail…"));
  let out;
  try {
    out = await api("GET", "/v1/superadmin/mail/outbox?limit=200");
  } catch (err) {
    show(main, h("h1", {}, "Mail"), errorBox(err));
    return;
  }
  show(
    main,
    h("h1", {}, "Mail"),
    h("p", { class: "muted" }, out.smtp ? "Sent through SMTP." : "No SMTP server is configured: mail is kept here."),
    table(
      [
        ["Queued", (m) => m.createdAt.replace("T", " ").slice(0, 19)],
        ["To", (m) => m.to],
        ["Subject", (m) => h("span", { title: m.body }, m.subject)],
        ["Status", (m) => h("span", { class: `badge ${m.status === "failed" ? "bad" : m.status === "sent" ? "on" : ""}` }, m.status)],
        ["Attempts", (m) => m.attempts],
        ["Error", (m) => m.lastError || "—"],
      ],
      out.mail,
      "No mail yet.",
    ),
  );
}
