//! Sales: the entry written when a ticket closes, and
//! `GET /reports/sales?from=YYYY-MM-DD&to=YYYY-MM-DD`.
//!
//! Each closed ticket writes its own `sale/{date}/{ticket}` entry and the report sums them
//! per day. A running aggregate would be one hot key that every close on the same day
//! fights over.

use std::collections::BTreeMap;

use nova_sdk::{Error, Request, Response, kv};
use serde::{Deserialize, Serialize};

use crate::tickets::Ticket;
use crate::{dates, keys, store};

/// Longest report, in days (a quarter).
pub const MAX_DAYS: i64 = 92;

/// What one line contributed to a sale.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SaleLine {
    pub item_id: Option<u64>,
    pub name: String,
    pub qty: i64,
    /// Before tax.
    pub total_cents: i64,
}

/// A closed ticket as reports see it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Sale {
    pub ticket_id: u64,
    pub business_date: String,
    pub subtotal_cents: i64,
    pub tax_cents: i64,
    pub total_cents: i64,
    /// Refunded after the ticket closed.
    pub refunded_cents: i64,
    pub closed_at_ms: Option<u64>,
    pub lines: Vec<SaleLine>,
}

impl Sale {
    /// The sale of a closed ticket.
    pub fn of(t: &Ticket) -> Self {
        Self {
            ticket_id: t.id,
            business_date: t.business_date.clone(),
            subtotal_cents: t.subtotal_cents,
            tax_cents: t.tax_cents,
            total_cents: t.total_cents,
            refunded_cents: 0,
            closed_at_ms: t.closed_at_ms,
            lines: t
                .items
                .iter()
                .map(|l| SaleLine {
                    item_id: l.item_id,
                    name: l.name.clone(),
                    qty: l.qty,
                    total_cents: l.line_total_cents,
                })
                .collect(),
        }
    }
}

/// Count a refund against a closed ticket's sale (refunds before closing are not sales
/// refunds: the ticket is simply not fully paid yet).
pub fn record_refund(ticket: &Ticket, amount_cents: i64) -> Result<(), Error> {
    let key = keys::sale(&ticket.business_date, ticket.id);
    if let Some(mut sale) = kv::get_json::<Sale>(&key)? {
        sale.refunded_cents += amount_cents;
        kv::set_json(&key, &sale)?;
    }
    Ok(())
}

/// One day of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Day {
    pub date: String,
    pub tickets: u64,
    pub subtotal_cents: i64,
    pub tax_cents: i64,
    pub total_cents: i64,
}

/// One item (or, for open lines, one name) of the report.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub item_id: Option<u64>,
    pub name: String,
    pub qty: i64,
    /// Before tax.
    pub total_cents: i64,
}

/// The whole range.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    pub tickets: u64,
    pub subtotal_cents: i64,
    pub tax_cents: i64,
    pub total_cents: i64,
    pub refunded_cents: i64,
}

/// The report.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub from: String,
    pub to: String,
    pub days: Vec<Day>,
    pub items: Vec<Item>,
    pub totals: Totals,
}

/// Check `from` and `to` (both required, `from <= to`, at most [`MAX_DAYS`] days) and
/// return them as day numbers.
pub fn parse_range(from: Option<&str>, to: Option<&str>) -> Result<(i64, i64), Error> {
    let required = |v: Option<&str>, f: &str| {
        v.filter(|s| !s.is_empty())
            .ok_or_else(|| Error::validation(f, format!("{f} is required (YYYY-MM-DD)")))
            .and_then(|s| dates::field(s, f))
    };
    let from = required(from, "from")?;
    let to = required(to, "to")?;
    if to < from {
        return Err(Error::validation("to", "to must not be before from"));
    }
    if to - from + 1 > MAX_DAYS {
        return Err(Error::validation(
            "to",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    Ok((from, to))
}

/// Sum `sales` into a report over every day from `from` to `to`, days without sales
/// included so charts need no gap filling. Items are ordered by takings, largest first.
pub fn summarize(from: i64, to: i64, sales: &[Sale]) -> Report {
    let mut days: BTreeMap<String, Day> = (from..=to)
        .map(dates::format)
        .map(|date| {
            let day = Day {
                date: date.clone(),
                tickets: 0,
                subtotal_cents: 0,
                tax_cents: 0,
                total_cents: 0,
            };
            (date, day)
        })
        .collect();
    // Menu lines group by item (under the latest name seen); open lines by name.
    let mut items: BTreeMap<(Option<u64>, String), Item> = BTreeMap::new();
    let mut totals = Totals::default();
    for sale in sales {
        let Some(day) = days.get_mut(&sale.business_date) else {
            continue;
        };
        day.tickets += 1;
        day.subtotal_cents += sale.subtotal_cents;
        day.tax_cents += sale.tax_cents;
        day.total_cents += sale.total_cents;
        totals.tickets += 1;
        totals.subtotal_cents += sale.subtotal_cents;
        totals.tax_cents += sale.tax_cents;
        totals.total_cents += sale.total_cents;
        totals.refunded_cents += sale.refunded_cents;
        for line in &sale.lines {
            let key = match line.item_id {
                Some(id) => (Some(id), String::new()),
                None => (None, line.name.clone()),
            };
            let item = items.entry(key).or_insert_with(|| Item {
                item_id: line.item_id,
                name: line.name.clone(),
                qty: 0,
                total_cents: 0,
            });
            item.name.clone_from(&line.name);
            item.qty += line.qty;
            item.total_cents += line.total_cents;
        }
    }
    let mut items: Vec<Item> = items.into_values().collect();
    items.sort_by(|a, b| {
        b.total_cents
            .cmp(&a.total_cents)
            .then_with(|| a.name.cmp(&b.name))
    });
    Report {
        from: dates::format(from),
        to: dates::format(to),
        days: days.into_values().collect(),
        items,
        totals,
    }
}

pub fn sales(req: &Request) -> Result<Response, Error> {
    let (from, to) = parse_range(req.query("from").as_deref(), req.query("to").as_deref())?;
    let mut all = Vec::new();
    for day in from..=to {
        all.extend(store::list_all::<Sale>(&keys::sales_on(&dates::format(
            day,
        )))?);
    }
    Response::json(200, &summarize(from, to, &all))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sale(ticket_id: u64, date: &str, lines: &[(Option<u64>, &str, i64, i64)]) -> Sale {
        let lines: Vec<SaleLine> = lines
            .iter()
            .map(|(item_id, name, qty, total)| SaleLine {
                item_id: *item_id,
                name: (*name).into(),
                qty: *qty,
                total_cents: *total,
            })
            .collect();
        let subtotal: i64 = lines.iter().map(|l| l.total_cents).sum();
        Sale {
            ticket_id,
            business_date: date.into(),
            subtotal_cents: subtotal,
            tax_cents: subtotal / 10,
            total_cents: subtotal + subtotal / 10,
            refunded_cents: 0,
            closed_at_ms: None,
            lines,
        }
    }

    fn day(s: &str) -> i64 {
        dates::parse(s).unwrap()
    }

    #[test]
    fn range_is_checked_field_by_field() {
        let ok = parse_range(Some("2024-05-01"), Some("2024-05-31")).unwrap();
        assert_eq!(ok.1 - ok.0, 30);
        let cases = [
            (None, Some("2024-05-01"), "from"),
            (Some("2024-05-01"), None, "to"),
            (Some("2024-5-1"), Some("2024-05-01"), "from"),
            (Some("2024-05-01"), Some("2024-04-30"), "to"),
            (Some("2024-01-01"), Some("2024-04-02"), "to"), // 93 days
        ];
        for (from, to, field) in cases {
            let err = parse_range(from, to).unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field), "{from:?} {to:?}");
        }
        assert!(parse_range(Some("2024-01-01"), Some("2024-04-01")).is_ok()); // 92 days
    }

    #[test]
    fn summary_groups_by_day_and_item() {
        let mut refunded = sale(3, "2024-05-02", &[(Some(1), "Soup", 1, 450)]);
        refunded.refunded_cents = 200;
        let sales = [
            sale(
                1,
                "2024-05-01",
                &[(Some(1), "Soup", 2, 900), (None, "Special", 1, 1500)],
            ),
            sale(2, "2024-05-01", &[(Some(1), "Soup", 1, 450)]),
            refunded,
            sale(4, "2024-06-01", &[(Some(1), "Soup", 9, 9000)]), // out of range
        ];
        let r = summarize(day("2024-05-01"), day("2024-05-03"), &sales);
        assert_eq!(
            (r.from.as_str(), r.to.as_str()),
            ("2024-05-01", "2024-05-03")
        );
        let per_day: Vec<(&str, u64, i64)> = r
            .days
            .iter()
            .map(|d| (d.date.as_str(), d.tickets, d.subtotal_cents))
            .collect();
        assert_eq!(
            per_day,
            vec![
                ("2024-05-01", 2, 2850),
                ("2024-05-02", 1, 450),
                ("2024-05-03", 0, 0)
            ]
        );
        assert_eq!(r.items.len(), 2);
        assert_eq!(
            (
                r.items[0].name.as_str(),
                r.items[0].qty,
                r.items[0].total_cents
            ),
            ("Soup", 4, 1800)
        );
        assert_eq!(r.items[1].item_id, None);
        assert_eq!(r.totals.tickets, 3);
        assert_eq!(r.totals.subtotal_cents, 3300);
        assert_eq!(r.totals.tax_cents, 330);
        assert_eq!(
            r.totals.total_cents,
            r.totals.subtotal_cents + r.totals.tax_cents
        );
        assert_eq!(r.totals.refunded_cents, 200);
    }
}
