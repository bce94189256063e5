//! POS's screens in the tenant portal (`GET /_views…`, `nova.view/1`): tickets, a new
//! ticket, a ticket's page (lines from the menu, cash and card payment, close, void with a
//! reason), the menu and its categories, stock and the daily report. Built from the same
//! store as the JSON routes; every change goes through those routes. What only a manager
//! may do (void, change the menu) is offered only to managers (`roles`).

use nova_sdk::view::{
    Action, Detail, Field, Form, Kind, Link, Screens, Stat, Table, Target, Tone, Value, View,
};
use nova_sdk::{Error, Request, Response, kv};

use crate::categories::Category;
use crate::inventory::Stock;
use crate::menu::MenuItem;
use crate::tickets::{Status, Ticket, load};
use crate::{dates, keys, menu, payments, reports, roles, store, validate};

/// `GET /_views`: POS's entry and menu.
pub fn entry(_req: &Request) -> Result<Response, Error> {
    Response::screens(
        &Screens::new("Point of sale", "tickets")
            .menu("Tickets", "tickets")
            .menu("New ticket", "new")
            .menu("Menu", "menu")
            .menu("Categories", "categories")
            .menu("Stock", "stock")
            .menu("Daily report", "report"),
    )
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Open => "open",
        Status::Closed => "closed",
        Status::Void => "void",
    }
}

/// `GET /_views/tickets?cursor=`: every ticket, newest first, 25 a page.
pub fn tickets(req: &Request) -> Result<Response, Error> {
    let cursor = req.query("cursor").filter(|c| !c.is_empty());
    let page = kv::list_json::<Ticket>(keys::TICKETS, 25, cursor.as_deref())?;
    let mut table = Table::new()
        .column("id", "#", Kind::Text)
        .column("table", "Table", Kind::Text)
        .column("status", "Status", Kind::Badge)
        .column("total", "Total", Kind::Money)
        .column("paid", "Paid", Kind::Money)
        .column("day", "Day", Kind::Date)
        .empty("No tickets yet.")
        .next(
            page.cursor
                .map(|c| Target::view("tickets").param("cursor", c)),
        );
    for (_, t) in page.entries {
        let t = t.upgrade();
        table = table.row_linked(
            Target::view("ticket").param("id", t.id.to_string()),
            [
                ("id", Value::from(t.id)),
                ("table", Value::from(t.table)),
                ("status", Value::from(status_word(t.status))),
                ("total", Value::from(t.total_cents)),
                ("paid", Value::from(t.paid_cents)),
                ("day", Value::from(t.business_date)),
            ],
        );
    }
    Response::view(&View::new("Tickets").table(table))
}

/// `GET /_views/new`: open a ticket for a table.
pub fn new_ticket(_req: &Request) -> Result<Response, Error> {
    let form = Form::post("/tickets", "Open ticket")
        .field(Field::text("table", "Table").required())
        .then(Target::view("ticket").param("id", "{id}"));
    Response::view(&View::new("New ticket").form(form))
}

/// `GET /_views/ticket?id=N`: one ticket; while open, add lines, take payment, close or void.
pub fn ticket(req: &Request) -> Result<Response, Error> {
    let id = match req.query("id").map(|s| validate::parse_id(&s, "id")) {
        Some(id) => id?,
        None => return Err(Error::validation("id", "id is required")),
    };
    let t = load(id)?.ticket;
    let money = |c: i64| Some(Value::from(c));
    let mut view = View::new(format!("Ticket #{} · table {}", t.id, t.table)).details([
        Detail::new("Status", Some(status_word(t.status).into()), Kind::Badge),
        Detail::new(
            "Day",
            Some(Value::from(t.business_date.clone())),
            Kind::Date,
        ),
        Detail::new("Subtotal", money(t.subtotal_cents), Kind::Money),
        Detail::new("Tax", money(t.tax_cents), Kind::Money),
        Detail::new("Total", money(t.total_cents), Kind::Money),
        Detail::new("Paid", money(t.paid_cents), Kind::Money),
    ]);
    if let Some(reason) = &t.void_reason {
        view = view.details([Detail::text("Void because", reason.as_str())]);
    }
    view = view.heading("Lines");
    let mut lines = Table::new()
        .column("name", "Item", Kind::Text)
        .column("qty", "Qty", Kind::Number)
        .column("price", "Price", Kind::Money)
        .column("total", "Line total", Kind::Money)
        .empty("No lines yet.");
    for l in &t.items {
        lines = lines.row([
            ("name", Value::from(l.name.as_str())),
            ("qty", Value::from(l.qty)),
            ("price", Value::from(l.price_cents)),
            ("total", Value::from(l.line_total_cents)),
        ]);
    }
    view = view
        .table(lines)
        .heading("Payments")
        .table(payments_table(id)?);
    if t.status != Status::Open {
        return Response::view(&view);
    }
    let items: Vec<MenuItem> = store::list_all::<MenuItem>(keys::ITEMS)?
        .into_iter()
        .filter(|i| i.active)
        .collect();
    if items.is_empty() {
        view = view.say(
            "The menu is empty: add items under Menu to ring them up.",
            Tone::Muted,
        );
    } else {
        let choices = items.iter().map(|i| {
            let price = format!("{}.{:02}", i.price_cents / 100, i.price_cents % 100);
            (Value::from(i.id), format!("{} ({price})", i.name))
        });
        view = view.form(
            Form::post(format!("/tickets/{id}/lines"), "Add line")
                .title("Add from the menu")
                .field(Field::select("itemId", "Item", choices).required())
                .field(Field::number("qty", "Quantity").required().value(1)),
        );
    }
    let due = (t.total_cents - t.paid_cents).max(0);
    let view = view
        .form(
            Form::post(format!("/tickets/{id}/payments"), "Take cash")
                .title("Cash payment")
                .field(Field::money("amountCents", "Amount").required().value(due))
                .field(Field::select("method", "Method", [("cash", "Cash")]).required()),
        )
        .form(
            Form::post(format!("/tickets/{id}/payments"), "Charge card")
                .title("Card payment")
                .field(Field::money("amountCents", "Amount").required().value(due))
                .field(Field::select("method", "Method", [("card", "Card")]).required())
                .field(Field::text("cardToken", "Card token").required().help(
                    "From the card reader (the sandbox takes any token; tok_declined is declined).",
                )),
        )
        .actions([
            Action::post("Close ticket", format!("/tickets/{id}/close")).confirm(
                "Close the ticket? It counts in the day's sales and takes its items from stock.",
            ),
        ]);
    if !roles::is_manager() {
        return Response::view(&view);
    }
    Response::view(
        &view.form(
            Form::post(format!("/tickets/{id}/void"), "Void ticket")
                .title("Void")
                .field(Field::text("reason", "Reason").required())
                .confirm("Void this ticket? It cannot be reopened."),
        ),
    )
}

/// A ticket's payments, oldest first: a card payment shows `pending` until the provider
/// settles it (the page shows the settlement on its next load).
fn payments_table(ticket: u64) -> Result<Table, Error> {
    let mut table = Table::new()
        .column("method", "Method", Kind::Text)
        .column("amount", "Amount", Kind::Money)
        .column("refunded", "Refunded", Kind::Money)
        .column("status", "Status", Kind::Badge)
        .empty("No payments yet.");
    for id in store::list_all::<String>(&keys::ticket_payments(ticket))? {
        let p = payments::load(&id)?;
        table = table.row([
            ("method", Value::from(method_word(p.method))),
            ("amount", Value::from(p.amount_cents)),
            ("refunded", Value::from(p.refunded_cents)),
            ("status", Value::from(payment_status_word(p.status))),
        ]);
    }
    Ok(table)
}

fn method_word(m: payments::Method) -> &'static str {
    match m {
        payments::Method::Card => "card",
        payments::Method::Cash => "cash",
    }
}

fn payment_status_word(s: payments::Status) -> &'static str {
    match s {
        payments::Status::Pending => "pending",
        payments::Status::Captured => "captured",
        payments::Status::Settled => "settled",
        payments::Status::Refunded => "refunded",
        payments::Status::Failed => "failed",
    }
}

/// `GET /_views/menu`: the items on the menu with their category, and (for managers)
/// adding one.
pub fn menu_screen(_req: &Request) -> Result<Response, Error> {
    let categories = store::list_all::<Category>(keys::CATEGORIES)?;
    let category_of = |id: Option<u64>| {
        id.and_then(|id| categories.iter().find(|c| c.id == id))
            .map_or_else(|| "—".to_string(), |c| c.name.clone())
    };
    let mut table = Table::new()
        .column("name", "Item", Kind::Text)
        .column("category", "Category", Kind::Text)
        .column("price", "Price", Kind::Money)
        .column("tax", "Tax (bps)", Kind::Number)
        .column("active", "On sale", Kind::Text)
        .empty("The menu is empty.");
    for i in store::list_all::<MenuItem>(keys::ITEMS)? {
        table = table.row([
            ("name", Value::from(i.name)),
            ("category", Value::from(category_of(i.category_id))),
            ("price", Value::from(i.price_cents)),
            ("tax", Value::from(i.tax_rate_bps)),
            ("active", Value::from(i.active)),
        ]);
    }
    let view = View::new("Menu").table(table);
    if !roles::is_manager() {
        return Response::view(&view.say("Your restaurant's admin keeps the menu.", Tone::Muted));
    }
    let mut form = Form::post("/menu/items", "Add item")
        .title("New item")
        .field(Field::text("name", "Name").required())
        .field(Field::money("priceCents", "Price").required())
        .field(
            Field::number("taxRateBps", "Tax rate (basis points)")
                .required()
                .value(0)
                .help("825 is 8.25 %."),
        );
    if !categories.is_empty() {
        let choices = categories
            .iter()
            .map(|c| (Value::from(c.id), c.name.clone()));
        form = form.field(Field::select("categoryId", "Category", choices));
    }
    Response::view(&view.form(form))
}

/// `GET /_views/categories`: the menu's categories with how many items each holds, and
/// (for managers) adding one.
pub fn categories(_req: &Request) -> Result<Response, Error> {
    let items = store::list_all::<MenuItem>(keys::ITEMS)?;
    let mut table = Table::new()
        .column("name", "Category", Kind::Text)
        .column("items", "Items", Kind::Number)
        .empty("No categories yet: items can do without one.");
    for c in store::list_all::<Category>(keys::CATEGORIES)? {
        let count = items.iter().filter(|i| i.category_id == Some(c.id)).count();
        table = table.row([
            ("name", Value::from(c.name)),
            (
                "items",
                Value::from(i64::try_from(count).unwrap_or(i64::MAX)),
            ),
        ]);
    }
    let view = View::new("Categories").table(table);
    if !roles::is_manager() {
        return Response::view(&view);
    }
    let form = Form::post("/menu/categories", "Add category")
        .title("New category")
        .field(Field::text("name", "Name").required());
    Response::view(&view.form(form))
}

/// `GET /_views/stock`: stock on hand for tracked items, low ones marked.
pub fn stock(_req: &Request) -> Result<Response, Error> {
    let mut table = Table::new()
        .column("name", "Item", Kind::Text)
        .column("onHand", "On hand", Kind::Number)
        .column("threshold", "Warn below", Kind::Number)
        .column("low", "Low", Kind::Badge)
        .empty("No item is tracked: stock is counted once an item gets an adjustment.");
    for s in store::list_all::<Stock>(keys::STOCK)? {
        let Some(item) = menu::find(s.item_id)? else {
            continue;
        };
        let v = s.view(&item.name);
        table = table.row([
            ("name", Value::from(v.name)),
            ("onHand", Value::from(v.on_hand)),
            ("threshold", Value::from(v.low_stock_threshold)),
            ("low", Value::from(if v.low { "low" } else { "ok" })),
        ]);
    }
    Response::view(&View::new("Stock").table(table))
}

/// `GET /_views/report?date=YYYY-MM-DD`: one day's sales (today, in the restaurant's
/// timezone, without a date).
pub fn report(req: &Request) -> Result<Response, Error> {
    let date = match req.query("date").filter(|d| !d.is_empty()) {
        Some(d) => d,
        None => nova_sdk::clock::now()?.date,
    };
    let (from, to) = reports::parse_range(Some(&date), Some(&date))?;
    let sales = store::list_all::<reports::Sale>(&keys::sales_on(&date))?;
    let r = reports::summarize(from, to, &sales);
    let mut items = Table::new()
        .column("name", "Item", Kind::Text)
        .column("qty", "Sold", Kind::Number)
        .column("total", "Before tax", Kind::Money)
        .empty("Nothing sold on this day.");
    for i in r.items {
        items = items.row([
            ("name", Value::from(i.name)),
            ("qty", Value::from(i.qty)),
            ("total", Value::from(i.total_cents)),
        ]);
    }
    let view = View::new(format!("Sales on {date}"))
        .stats([
            Stat::number(
                "Closed tickets",
                i64::try_from(r.totals.tickets).unwrap_or(i64::MAX),
            ),
            Stat::money("Sales", r.totals.total_cents),
            Stat::money("Tax", r.totals.tax_cents),
            Stat::money("Refunded", r.totals.refunded_cents),
        ])
        .table(items)
        .links([
            Link::new(
                "Day before",
                Target::view("report").param("date", dates::format(from - 1)),
            ),
            Link::new(
                "Day after",
                Target::view("report").param("date", dates::format(from + 1)),
            ),
        ]);
    Response::view(&view)
}
