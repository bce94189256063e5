//! Where a page of a newest-first list starts: the `(created_at, id)` of the row before it,
//! given to clients as an opaque `nextCursor`.

/// The last row of the page before.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Position {
    pub(crate) created_ms: i64,
    pub(crate) id: String,
}

impl Position {
    /// As the API's `nextCursor`.
    pub(crate) fn encode(&self) -> String {
        format!("{}_{}", self.created_ms, self.id)
    }

    /// From a `cursor` the API gave out; `None` for anything else.
    pub(crate) fn decode(cursor: &str) -> Option<Self> {
        let (ms, id) = cursor.split_once('_')?;
        let created_ms = ms.parse().ok()?;
        (!id.is_empty() && id.len() <= 64).then(|| Position {
            created_ms,
            id: id.to_string(),
        })
    }

    /// The `created_at` and `id` a page starts below, as query parameters: both `NULL` for
    /// the first page.
    pub(crate) fn bounds(after: Option<&Position>) -> (Option<i64>, Option<&str>) {
        match after {
            Some(p) => (Some(p.created_ms), Some(p.id.as_str())),
            None => (None, None),
        }
    }

    /// Of a row with `created_at` and `id` columns.
    pub(crate) fn of(row: &sqlx::any::AnyRow) -> Result<Self, sqlx::Error> {
        use sqlx::Row;
        Ok(Position {
            created_ms: row.try_get("created_at")?,
            id: row.try_get("id")?,
        })
    }
}

/// The first `limit` of `rows` (fetched with `LIMIT limit + 1`), and where the next page
/// starts when there was one more.
pub(crate) fn split<T>(
    rows: Vec<sqlx::any::AnyRow>,
    limit: i64,
    map: impl Fn(&sqlx::any::AnyRow) -> Result<T, sqlx::Error>,
) -> Result<(Vec<T>, Option<Position>), sqlx::Error> {
    let more = rows.len() as i64 > limit;
    let shown = &rows[..rows.len().min(limit.max(0) as usize)];
    let next = match (more, shown.last()) {
        (true, Some(last)) => Some(Position::of(last)?),
        _ => None,
    };
    Ok((shown.iter().map(map).collect::<Result<_, _>>()?, next))
}

#[cfg(test)]
mod tests {
    use super::Position;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let p = Position {
            created_ms: 1_764_000_000_000,
            id: "0193-abc".into(),
        };
        assert_eq!(Position::decode(&p.encode()), Some(p));
        for bad in [
            "",
            "garbage",
            "12_",
            "_x",
            "x_y",
            &format!("1_{}", "a".repeat(65)),
        ] {
            assert_eq!(Position::decode(bad), None, "{bad}");
        }
    }
}
