//! Money arithmetic in integer cents; tax rates in basis points (825 = 8.25%).

/// Largest unit price accepted, in cents.
pub const MAX_PRICE_CENTS: i64 = 10_000_000;
/// Largest tax rate, in basis points (100%).
pub const MAX_TAX_BPS: i64 = 10_000;
/// Largest quantity on one line.
pub const MAX_QTY: i64 = 1000;

/// Tax on a line total, rounded half up to whole cents. Totals and rates are never
/// negative, so integer arithmetic with a half-denominator offset rounds correctly.
pub fn tax_cents(line_total_cents: i64, tax_rate_bps: i64) -> i64 {
    (line_total_cents * tax_rate_bps + MAX_TAX_BPS / 2) / MAX_TAX_BPS
}

/// A ticket's sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Totals {
    /// Sum of line totals before tax.
    pub subtotal_cents: i64,
    /// Sum of the lines' (individually rounded) tax.
    pub tax_cents: i64,
    /// Subtotal plus tax.
    pub total_cents: i64,
}

/// Sum `(line total, line tax)` pairs. Tax is rounded per line, as printed on the receipt,
/// so the ticket's tax always equals the sum of its lines.
pub fn totals(lines: impl IntoIterator<Item = (i64, i64)>) -> Totals {
    let (subtotal_cents, tax_cents) = lines
        .into_iter()
        .fold((0, 0), |(s, t), (line, tax)| (s + line, t + tax));
    Totals {
        subtotal_cents,
        tax_cents,
        total_cents: subtotal_cents + tax_cents,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tax_rounds_half_up() {
        // 8.25% of 1000 = 82.5 -> 83; of 999 = 82.4175 -> 82; of 1 = 0.0825 -> 0.
        assert_eq!(tax_cents(1000, 825), 83);
        assert_eq!(tax_cents(999, 825), 82);
        assert_eq!(tax_cents(1, 825), 0);
        // Exactly half a cent rounds up: 5% of 10 = 0.5.
        assert_eq!(tax_cents(10, 500), 1);
        assert_eq!(tax_cents(9, 500), 0);
        assert_eq!(tax_cents(1234, 0), 0);
        assert_eq!(tax_cents(1234, MAX_TAX_BPS), 1234);
    }

    #[test]
    fn largest_line_does_not_overflow() {
        let line = MAX_PRICE_CENTS * MAX_QTY;
        assert_eq!(tax_cents(line, MAX_TAX_BPS), line);
    }

    #[test]
    fn totals_add_rounded_line_taxes() {
        let t = totals([(1000, 83), (450, 37), (199, 0)]);
        assert_eq!(
            t,
            Totals {
                subtotal_cents: 1649,
                tax_cents: 120,
                total_cents: 1769
            }
        );
        assert_eq!(totals([]), Totals::default());
    }
}
