//! `nova seed sample-data`: a starter menu, stock and a few days of sales for one tenant,
//! created through the same API the POS uses. Everything has a natural key (item names,
//! ticket references), so a second run finds it and adds nothing.

use std::collections::HashMap;

use anyhow::Context;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};

use super::api_client::Api;

/// Options of `nova seed sample-data`.
#[derive(Debug, Args)]
pub(crate) struct SampleDataArgs {
    /// The tenant to fill (POS must be enabled for it).
    #[arg(long)]
    pub(crate) tenant_id: String,
    /// Nova's base URL.
    #[arg(long, env = "NOVA_API_URL")]
    pub(crate) api_url: String,
    /// A superadmin token.
    #[arg(long, env = "NOVA_TOKEN", hide_env_values = true)]
    pub(crate) token: String,
    /// Days of sales, ending today.
    #[arg(long, default_value_t = 3)]
    pub(crate) days: u32,
}

/// Category, name, price in cents, tax in basis points, opening stock (None: not tracked).
const MENU: &[(&str, &str, i64, i64, Option<i64>)] = &[
    ("Starters", "Tomato soup", 650, 1000, None),
    ("Starters", "Garlic bread", 450, 1000, None),
    ("Mains", "Margherita pizza", 1200, 1000, Some(40)),
    ("Mains", "Mushroom risotto", 1450, 1000, None),
    ("Mains", "Grilled salmon", 1890, 1000, Some(20)),
    ("Mains", "Cheeseburger", 1350, 1000, Some(50)),
    ("Desserts", "Tiramisu", 700, 1000, Some(15)),
    ("Desserts", "Lemon tart", 650, 1000, Some(12)),
    ("Drinks", "Sparkling water", 300, 500, Some(96)),
    ("Drinks", "House lemonade", 400, 500, None),
    ("Drinks", "Espresso", 250, 500, None),
    ("Drinks", "Craft beer", 650, 2000, Some(72)),
];
const TICKETS_PER_DAY: usize = 4;

pub(crate) async fn run(args: SampleDataArgs) -> anyhow::Result<()> {
    let admin = Api::new(&args.api_url, &args.token)?;
    let tenant = &args.tenant_id;
    admin
        .expect(
            "finding the tenant",
            "GET",
            &format!("/v1/superadmin/tenants/{tenant}/modules"),
            None,
            &[200],
        )
        .await?;
    // Portal routes act for a tenant: a short-lived service token of the tenant's own,
    // revoked at the end whatever happens.
    let created = admin
        .expect(
            "creating a service token",
            "POST",
            &format!("/v1/superadmin/tenants/{tenant}/service-tokens"),
            Some(&json!({"name": "sample-data"})),
            &[201],
        )
        .await?;
    let token_id = created["id"].as_str().unwrap_or_default().to_string();
    let pos = admin.with_token(
        created["token"]
            .as_str()
            .context("no token in the answer")?,
    );
    let result = fill(&pos, args.days).await;
    let revoked = admin
        .expect(
            "revoking the service token",
            "DELETE",
            &format!("/v1/superadmin/tenants/{tenant}/service-tokens/{token_id}"),
            None,
            &[200, 204],
        )
        .await;
    let summary = result?;
    revoked?;
    println!("{summary}");
    Ok(())
}

async fn fill(pos: &Api, days: u32) -> anyhow::Result<String> {
    let steps = MENU.len() as u64 * 2 + u64::from(days) * TICKETS_PER_DAY as u64;
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let p = "/v1/portal/pos";

    bar.set_message("menu");
    let mut categories: HashMap<String, u64> = HashMap::new();
    let listed = pos
        .expect(
            "listing categories",
            "GET",
            &format!("{p}/menu/categories"),
            None,
            &[200],
        )
        .await?;
    for c in listed["categories"].as_array().into_iter().flatten() {
        if let (Some(name), Some(id)) = (c["name"].as_str(), c["id"].as_u64()) {
            categories.insert(name.to_string(), id);
        }
    }
    let mut items: HashMap<String, u64> = HashMap::new();
    let listed = pos
        .expect(
            "listing items",
            "GET",
            &format!("{p}/menu/items"),
            None,
            &[200],
        )
        .await?;
    for i in listed["items"].as_array().into_iter().flatten() {
        if let (Some(name), Some(id)) = (i["name"].as_str(), i["id"].as_u64()) {
            items.insert(name.to_lowercase(), id);
        }
    }
    let (mut made_items, mut made_tickets) = (0, 0);
    for (category, name, price, tax, _) in MENU {
        if !categories.contains_key(*category) {
            let c = pos
                .expect(
                    "creating a category",
                    "POST",
                    &format!("{p}/menu/categories"),
                    Some(&json!({"name": category})),
                    &[201],
                )
                .await?;
            categories.insert(
                category.to_string(),
                c["id"].as_u64().context("category id")?,
            );
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = items.entry(name.to_lowercase()) {
            let body = json!({"name": name, "priceCents": price, "taxRateBps": tax, "categoryId": categories[*category]});
            let i = pos
                .expect(
                    "creating a menu item",
                    "POST",
                    &format!("{p}/menu/items"),
                    Some(&body),
                    &[201],
                )
                .await?;
            slot.insert(i["id"].as_u64().context("item id")?);
            made_items += 1;
        }
        bar.inc(1);
    }

    bar.set_message("stock");
    for (_, name, _, _, stock) in MENU {
        let id = items[&name.to_lowercase()];
        if let Some(opening) = stock {
            // Only items never stocked get their opening stock: a rerun changes nothing.
            let current = pos
                .call("GET", &format!("{p}/inventory/{id}"), None)
                .await?;
            if current.status == 404 {
                let body = json!({"delta": opening, "reason": "sample data: opening stock"});
                pos.expect(
                    "stocking an item",
                    "POST",
                    &format!("{p}/inventory/{id}/adjustments"),
                    Some(&body),
                    &[201],
                )
                .await?;
                let body = json!({"lowStockThreshold": opening / 4});
                pos.expect(
                    "setting a low-stock threshold",
                    "PUT",
                    &format!("{p}/inventory/{id}"),
                    Some(&body),
                    &[200],
                )
                .await?;
            } else if current.status != 200 {
                anyhow::bail!("reading stock of {name} answered {}", current.describe());
            }
        }
        bar.inc(1);
    }

    bar.set_message("sales");
    let today = chrono_free_today();
    for day in (0..days).rev() {
        let date = date_minus(today, day);
        for n in 0..TICKETS_PER_DAY {
            let reference = format!("sample-{date}-{n}");
            let lines: Vec<Value> = (0..2)
                .map(|k| {
                    let (_, name, ..) = MENU[(n * 3 + k * 5 + day as usize) % MENU.len()];
                    json!({"itemId": items[&name.to_lowercase()], "qty": 1 + (n + k) % 2})
                })
                .collect();
            let body = json!({"table": format!("{}", n + 1), "reference": reference, "businessDate": date, "items": lines});
            let answer = pos
                .call("POST", &format!("{p}/tickets"), Some(&body))
                .await?;
            let ticket = match answer.status {
                201 => {
                    made_tickets += 1;
                    answer.body
                }
                200 => answer.body,
                _ => anyhow::bail!("opening ticket {reference} answered {}", answer.describe()),
            };
            // A ticket left open by an interrupted run is finished now.
            if ticket["status"] == "open" {
                let id = ticket["id"].as_u64().context("ticket id")?;
                let due = ticket["totalCents"].as_i64().unwrap_or(0)
                    - ticket["paidCents"].as_i64().unwrap_or(0);
                if due > 0 {
                    let method = if n % 2 == 0 { "card" } else { "cash" };
                    let mut paid = pos
                        .call(
                            "POST",
                            &format!("{p}/tickets/{id}/payments"),
                            Some(&json!({"amountCents": due, "method": method})),
                        )
                        .await?;
                    if paid.status >= 500 && method == "card" {
                        // No provider running: cash keeps the sample usable.
                        paid = pos
                            .call(
                                "POST",
                                &format!("{p}/tickets/{id}/payments"),
                                Some(&json!({"amountCents": due, "method": "cash"})),
                            )
                            .await?;
                    }
                    if paid.status != 201 {
                        anyhow::bail!("paying ticket {reference} answered {}", paid.describe());
                    }
                }
                pos.expect(
                    "closing a ticket",
                    "POST",
                    &format!("{p}/tickets/{id}/close"),
                    Some(&json!({})),
                    &[200],
                )
                .await?;
            }
            bar.inc(1);
        }
    }
    bar.finish_with_message("done");
    Ok(format!(
        "sample data ready: {} menu items ({made_items} new), {} tickets over {days} days ({made_tickets} new)",
        MENU.len(),
        days as usize * TICKETS_PER_DAY
    ))
}

/// Today's date (UTC) as days since the Unix epoch.
fn chrono_free_today() -> i64 {
    crate::storage::now_ms() / 86_400_000
}

/// `days_since_epoch - back` as YYYY-MM-DD (civil-from-days, proleptic Gregorian).
fn date_minus(days_since_epoch: i64, back: u32) -> String {
    let z = days_since_epoch - i64::from(back) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

#[cfg(test)]
mod tests {
    use super::date_minus;

    #[test]
    fn dates() {
        assert_eq!(date_minus(0, 0), "1970-01-01");
        assert_eq!(date_minus(20_819, 0), "2027-01-01");
        assert_eq!(date_minus(20_819, 1), "2026-12-31");
        assert_eq!(date_minus(11_016, 0), "2000-02-29");
    }
}
