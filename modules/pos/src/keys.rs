//! The kv key layout, in one place so prefixes cannot collide.
//!
//! Numbers are zero-padded to 20 digits so that ascending key order is numeric order; keys
//! that should list newest first count down from `u64::MAX`.

/// Counter of ticket ids kept by versions before the host's sequences; now only read, as
/// the floor of the `ticket` sequence.
pub const TICKET_SEQ: &str = "seq/ticket";
/// Counter of menu category ids.
pub const CATEGORY_SEQ: &str = "seq/category";
/// Counter of menu item ids.
pub const ITEM_SEQ: &str = "seq/item";

/// All tickets, newest first.
pub const TICKETS: &str = "ticket/";
/// All menu categories, by id.
pub const CATEGORIES: &str = "category/";
/// All menu items, by id.
pub const ITEMS: &str = "item/";
/// All inventory records, by item id.
pub const STOCK: &str = "stock/";

fn down(n: u64) -> String {
    format!("{:020}", u64::MAX - n)
}

/// A ticket; newer tickets sort first.
pub fn ticket(id: u64) -> String {
    format!("{TICKETS}{}", down(id))
}

/// The ticket a client created with `reference`, so a retried create finds it.
pub fn ticket_ref(reference: &str) -> String {
    format!("ticket-ref/{reference}")
}

/// A menu category.
pub fn category(id: u64) -> String {
    format!("{CATEGORIES}{id:020}")
}

/// A menu item.
pub fn item(id: u64) -> String {
    format!("{ITEMS}{id:020}")
}

/// The item holding a name; names are unique per tenant regardless of case.
pub fn item_name(name: &str) -> String {
    format!("item-name/{}", name.trim().to_lowercase())
}

/// The items in a category (so a category in use is found without scanning the menu).
pub fn category_items(category: u64) -> String {
    format!("category-item/{category:020}/")
}

/// One item's membership of a category.
pub fn category_item(category: u64, item: u64) -> String {
    format!("{}{item:020}", category_items(category))
}

/// An item's inventory record.
pub fn stock(item: u64) -> String {
    format!("{STOCK}{item:020}")
}

/// An item's stock adjustments, newest first.
pub fn stock_adjustments(item: u64) -> String {
    format!("stock-adj/{item:020}/")
}

/// One stock adjustment; `seq` counts the item's adjustments.
pub fn stock_adjustment(item: u64, seq: u64) -> String {
    format!("{}{}", stock_adjustments(item), down(seq))
}

/// A payment, by the provider's id (or a local id for cash).
pub fn payment(id: &str) -> String {
    format!("payment/{id}")
}

/// The payments of a ticket, in the order they were taken.
pub fn ticket_payments(ticket: u64) -> String {
    format!("ticket-payment/{ticket:020}/")
}

/// One payment of a ticket; `seq` counts the ticket's payments.
pub fn ticket_payment(ticket: u64, seq: u64) -> String {
    format!("{}{seq:020}", ticket_payments(ticket))
}

/// The closed tickets of one business date. One key per sale (not a running total) so
/// concurrent closes never write the same key.
pub fn sales_on(date: &str) -> String {
    format!("sale/{date}/")
}

/// The sale entry of one closed ticket.
pub fn sale(date: &str, ticket: u64) -> String {
    format!("{}{ticket:020}", sales_on(date))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn newer_tickets_and_adjustments_sort_first() {
        assert!(ticket(2) < ticket(1));
        assert!(ticket(10) < ticket(9));
        assert!(stock_adjustment(1, 11) < stock_adjustment(1, 10));
    }

    #[test]
    fn ids_sort_numerically() {
        assert!(item(9) < item(10));
        assert!(ticket_payment(1, 9) < ticket_payment(1, 10));
        assert!(sale("2024-05-01", 9) < sale("2024-05-01", 10));
    }

    #[test]
    fn prefixes_do_not_capture_other_families() {
        assert!(!item_name("soup").starts_with(ITEMS));
        assert!(!ticket_ref("r1").starts_with(TICKETS));
        assert!(!ticket_payments(1).starts_with(TICKETS));
        assert!(!stock_adjustments(1).starts_with(STOCK));
        assert!(!category_items(1).starts_with(CATEGORIES));
        assert!(!sale("2024-05-10", 1).starts_with(&sales_on("2024-05-1")));
    }

    #[test]
    fn item_names_ignore_case_and_outer_spaces() {
        assert_eq!(item_name(" Soup "), item_name("SOUP"));
    }
}
