//! Where a page of a newest-first list starts: the `(created_at, id)` of the row before it,
//! given to clients as an opaque `nextCursor`.

use super::stmt::{Param, Stmt};

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

/// A newest-first page of `table`: `SELECT columns FROM table`, then an `AND` per filter
/// that is set, then the time range, the cursor and the order. Only the filters given reach
/// the SQL, so the database can pick the index that fits them (a `$1 IS NULL OR col = $1`
/// clause hides every index and turned a one-tenant page into a scan of every row).
pub(crate) struct Newest<'a> {
    sql: String,
    params: Vec<Param<'a>>,
}

impl<'a> Newest<'a> {
    pub(crate) fn from(table: &str, columns: &str) -> Self {
        Self {
            sql: format!("SELECT {columns} FROM {table} WHERE 1 = 1"),
            params: Vec::new(),
        }
    }

    /// Append `sql` with `$n` for `value`.
    fn and(&mut self, sql: &str, value: Param<'a>) {
        self.params.push(value);
        self.sql
            .push_str(&sql.replace('?', &format!("${}", self.params.len())));
    }

    /// `AND column = value`, when a value is given.
    pub(crate) fn equal(mut self, column: &str, value: Option<&'a str>) -> Self {
        if let Some(v) = value {
            self.and(&format!(" AND {column} = ?"), Param::Text(v));
        }
        self
    }

    /// The rows of one page: created in `[since, until)`, below `after`, at most `limit + 1`
    /// (so [`split`] can tell whether there is a next page).
    pub(crate) async fn fetch(
        mut self,
        db: &super::Db,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
        after: Option<&'a Position>,
        limit: i64,
    ) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
        if let Some(t) = since_ms {
            self.and(" AND created_at >= ?", Param::Int(t));
        }
        if let Some(t) = until_ms {
            self.and(" AND created_at < ?", Param::Int(t));
        }
        if let Some(p) = after {
            self.and(" AND (created_at < ?", Param::Int(p.created_ms));
            self.and(" OR (created_at = ?", Param::Int(p.created_ms));
            self.and(" AND id < ?))", Param::Text(&p.id));
        }
        self.and(
            " ORDER BY created_at DESC, id DESC LIMIT ?",
            Param::Int(limit + 1),
        );
        Stmt::new(self.sql, self.params).fetch_all(db).await
    }
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
