//! Statements as data: SQL with `$1..$n` (each used once, in order) and its parameters.
//!
//! The group committer runs the same statements through sqlx (PostgreSQL) and through a
//! direct SQLite connection on its own thread; describing them once keeps both paths the
//! same.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

/// One parameter value.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Param<'a> {
    Text(&'a str),
    OptText(Option<&'a str>),
    Blob(&'a [u8]),
    Int(i64),
}

/// What a statement's result must show for the write to count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Check {
    /// Nothing to check.
    None,
    /// At least one row changed (else: conflict).
    Affected,
    /// The query returns no row (else: conflict).
    NoRow,
}

/// The SQL of a table's multi-row INSERT: its head (`INSERT INTO t (a, b) VALUES `), then
/// a tuple of numbered placeholders per row. The single-row form, which the SQLite
/// committer runs once per row, is built once and kept.
pub(crate) struct InsertSql {
    table: &'static str,
    column_list: &'static str,
    columns: usize,
    one: std::sync::OnceLock<String>,
}

impl InsertSql {
    /// The INSERT into `table` of `column_list` (`"a, b"`), which names `columns` columns.
    pub(crate) const fn new(
        table: &'static str,
        column_list: &'static str,
        columns: usize,
    ) -> Self {
        Self {
            table,
            column_list,
            columns,
            one: std::sync::OnceLock::new(),
        }
    }

    /// The statement for `rows` rows.
    pub(crate) fn rows(&'static self, rows: usize) -> std::borrow::Cow<'static, str> {
        if rows == 1 {
            self.one.get_or_init(|| self.build(1)).as_str().into()
        } else {
            self.build(rows).into()
        }
    }

    /// The table it inserts into.
    pub(crate) fn table(&self) -> &'static str {
        self.table
    }

    /// How many columns it names.
    pub(crate) fn width(&self) -> usize {
        self.columns
    }

    /// Its columns, as the statement names them (`a, b`).
    pub(crate) fn column_list(&self) -> &'static str {
        self.column_list
    }

    /// Insert `rows` on a direct SQLite connection: the single-row statement, prepared once
    /// and run for each. In-process SQLite runs that faster than it parses a long multi-row
    /// statement, and preparing it once rather than once per row saves a cache lookup that
    /// hashes the statement's text each time (issue 17: 6% of the committer's time at 128
    /// calls in flight).
    pub(crate) fn run_each_sqlite<'p, const N: usize>(
        &'static self,
        conn: &rusqlite::Connection,
        rows: impl IntoIterator<Item = [Param<'p>; N]>,
    ) -> rusqlite::Result<()> {
        let mut rows = rows.into_iter().peekable();
        if rows.peek().is_none() {
            return Ok(());
        }
        let mut stmt = conn.prepare_cached(&self.rows(1))?;
        for row in rows {
            bind_sqlite(&mut stmt, &row)?;
            stmt.raw_execute()?;
        }
        Ok(())
    }

    fn build(&self, rows: usize) -> String {
        let mut sql = format!("INSERT INTO {} ({}) VALUES ", self.table, self.column_list);
        push_values(&mut sql, 1, rows, self.columns);
        sql
    }
}

/// Append `rows` tuples of `columns` placeholders numbered from `$first` on: `($1,$2),($3,$4)`
/// for two rows of two from `$1`.
pub(crate) fn push_values(sql: &mut String, first: usize, rows: usize, columns: usize) {
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ",(" });
        for column in 0..columns {
            if column > 0 {
                sql.push(',');
            }
            sql.push('$');
            sql.push_str(&(first + row * columns + column).to_string());
        }
        sql.push(')');
    }
}

/// A statement ready to run on either backend.
#[derive(Debug, Clone)]
pub(crate) struct Stmt<'a> {
    pub(crate) sql: std::borrow::Cow<'static, str>,
    pub(crate) params: Vec<Param<'a>>,
    pub(crate) check: Check,
}

impl<'a> Stmt<'a> {
    /// A statement whose result needs no check.
    pub(crate) fn new(
        sql: impl Into<std::borrow::Cow<'static, str>>,
        params: Vec<Param<'a>>,
    ) -> Self {
        Self {
            sql: sql.into(),
            params,
            check: Check::None,
        }
    }

    /// The same statement with a result check.
    pub(crate) fn checked(mut self, check: Check) -> Self {
        self.check = check;
        self
    }

    fn bind<'q>(
        &'q self,
        mut q: Query<'q, Any, AnyArguments<'q>>,
    ) -> Query<'q, Any, AnyArguments<'q>> {
        for p in &self.params {
            q = match *p {
                Param::Text(s) => q.bind(s),
                Param::OptText(s) => q.bind(s),
                Param::Blob(b) => q.bind(b),
                Param::Int(i) => q.bind(i),
            };
        }
        q
    }

    /// The rows it selects, through the pool.
    pub(crate) async fn fetch_all(
        &self,
        db: &super::Db,
    ) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
        self.bind(sqlx::query(&self.sql)).fetch_all(db.pool()).await
    }

    /// The rows it selects, on `conn`.
    pub(crate) async fn fetch_all_on(
        &self,
        conn: &mut AnyConnection,
    ) -> Result<Vec<sqlx::any::AnyRow>, sqlx::Error> {
        self.bind(sqlx::query(&self.sql)).fetch_all(conn).await
    }

    /// Run through sqlx; `false` when the check failed.
    pub(crate) async fn run_sqlx(&self, conn: &mut AnyConnection) -> Result<bool, sqlx::Error> {
        let q = self.bind(sqlx::query(&self.sql));
        Ok(match self.check {
            Check::NoRow => q.fetch_optional(conn).await?.is_none(),
            Check::Affected => q.execute(conn).await?.rows_affected() > 0,
            Check::None => {
                q.execute(conn).await?;
                true
            }
        })
    }

    /// Run on a direct SQLite connection; `false` when the check failed.
    pub(crate) fn run_sqlite(&self, conn: &rusqlite::Connection) -> rusqlite::Result<bool> {
        let mut stmt = self.prepare_sqlite(conn)?;
        Ok(match self.check {
            Check::NoRow => stmt.raw_query().next()?.is_none(),
            Check::Affected => stmt.raw_execute()? > 0,
            Check::None => {
                stmt.raw_execute()?;
                true
            }
        })
    }

    /// The statement prepared (from the connection's cache) on a direct SQLite connection,
    /// with its parameters bound.
    pub(crate) fn prepare_sqlite<'c>(
        &self,
        conn: &'c rusqlite::Connection,
    ) -> rusqlite::Result<rusqlite::CachedStatement<'c>> {
        let mut stmt = conn.prepare_cached(&self.sql)?;
        bind_sqlite(&mut stmt, &self.params)?;
        Ok(stmt)
    }
}

/// Bind `params` to a prepared SQLite statement as `$1..$n`, replacing every earlier binding
/// (there is one parameter for each placeholder).
fn bind_sqlite(stmt: &mut rusqlite::Statement<'_>, params: &[Param<'_>]) -> rusqlite::Result<()> {
    debug_assert_eq!(params.len(), stmt.parameter_count());
    for (i, p) in params.iter().enumerate() {
        match *p {
            Param::Text(s) => stmt.raw_bind_parameter(i + 1, s)?,
            Param::OptText(s) => stmt.raw_bind_parameter(i + 1, s)?,
            Param::Blob(b) => stmt.raw_bind_parameter(i + 1, b)?,
            Param::Int(n) => stmt.raw_bind_parameter(i + 1, n)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{InsertSql, push_values};

    #[test]
    fn placeholders_number_on_across_rows() {
        let mut sql = String::from("VALUES ");
        push_values(&mut sql, 1, 2, 3);
        assert_eq!(sql, "VALUES ($1,$2,$3),($4,$5,$6)");
        let mut one = String::new();
        push_values(&mut one, 1, 1, 1);
        assert_eq!(one, "($1)");
        let mut later = String::new();
        push_values(&mut later, 7, 2, 2);
        assert_eq!(later, "($7,$8),($9,$10)");
    }

    #[test]
    fn an_insert_of_one_row_is_the_same_sql_each_time() {
        static T: InsertSql = InsertSql::new("t", "a, b", 2);
        assert_eq!(T.rows(2), "INSERT INTO t (a, b) VALUES ($1,$2),($3,$4)");
        let (first, again) = (T.rows(1), T.rows(1));
        assert_eq!(first, "INSERT INTO t (a, b) VALUES ($1,$2)");
        // Borrowed from the one kept, not built again.
        assert!(std::ptr::eq(first.as_ptr(), again.as_ptr()));
        assert!(matches!(again, std::borrow::Cow::Borrowed(_)));
    }
}
