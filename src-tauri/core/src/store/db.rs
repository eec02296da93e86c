//! The two databases Coexist runs on: the embedded SQLite file (a desktop's default) and a
//! PostgreSQL server (a team server's, issue 26). A statement is written once — `$1`-style
//! placeholders, which both sqlx drivers accept — with values both understand, and runs on
//! whichever the workspace uses; rows decode natively on each (no conversion layer between).
//! The few places where the dialects differ are named in [`Dialect`], one function per
//! difference.
//!
//! Why not sqlx's `Any` driver: it cannot read SQLite's `BOOLEAN` columns (no mapping for the
//! type) nor decode a 0/1 as a bool, it converts every row into its own value list, and it drops
//! the SQLite connection settings (WAL, synchronous, busy timeout) the mirror relies on.

use crate::error::Result;
use sqlx::postgres::{PgPool, PgRow};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use std::borrow::Cow;

/// A pool on one of the two backends. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// A value bound to a placeholder. A NULL carries its column's type, which PostgreSQL checks.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    I64(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
    Bytes(Option<Vec<u8>>),
}

macro_rules! value_from {
    ($t:ty, $v:ident, $conv:expr) => {
        impl From<$t> for Value {
            fn from(x: $t) -> Value {
                Value::$v(Some($conv(x)))
            }
        }
        impl From<Option<$t>> for Value {
            fn from(x: Option<$t>) -> Value {
                Value::$v(x.map($conv))
            }
        }
    };
}

value_from!(i64, I64, |x| x);
value_from!(i32, I64, i64::from);
value_from!(u32, I64, i64::from);
value_from!(bool, Bool, |x| x);
value_from!(String, Text, |x| x);
value_from!(&str, Text, str::to_string);
value_from!(&String, Text, String::clone);
value_from!(Vec<u8>, Bytes, |x| x);

/// Binds every value to a query of either backend (the same code, typed per driver).
macro_rules! bind_all {
    ($q:expr, $binds:expr) => {{
        let mut q = $q;
        for v in $binds {
            q = match v {
                Value::I64(x) => q.bind(*x),
                Value::Text(x) => q.bind(x.as_deref()),
                Value::Bool(x) => q.bind(*x),
                Value::Bytes(x) => q.bind(x.as_deref()),
            };
        }
        q
    }};
}

/// One statement and its values, written once for both backends.
#[derive(Clone, Debug)]
pub struct Sql {
    text: Cow<'static, str>,
    binds: Vec<Value>,
}

impl Sql {
    pub fn new(text: impl Into<Cow<'static, str>>) -> Sql {
        Sql {
            text: text.into(),
            binds: Vec::new(),
        }
    }

    pub fn bind(mut self, v: impl Into<Value>) -> Sql {
        self.binds.push(v.into());
        self
    }

    fn sqlite(&self) -> sqlx::query::Query<'_, sqlx::Sqlite, sqlx::sqlite::SqliteArguments<'_>> {
        bind_all!(sqlx::query(&self.text), &self.binds)
    }

    fn postgres(&self) -> sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments> {
        bind_all!(sqlx::query(&self.text), &self.binds)
    }

    fn sqlite_as<T>(&self) -> sqlx::query::QueryAs<'_, sqlx::Sqlite, T, sqlx::sqlite::SqliteArguments<'_>>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow>,
    {
        bind_all!(sqlx::query_as(&self.text), &self.binds)
    }

    fn postgres_as<T>(&self) -> sqlx::query::QueryAs<'_, sqlx::Postgres, T, sqlx::postgres::PgArguments>
    where
        T: for<'r> sqlx::FromRow<'r, PgRow>,
    {
        bind_all!(sqlx::query_as(&self.text), &self.binds)
    }
}

/// A row type both backends decode (`#[derive(sqlx::FromRow)]` gives both).
pub trait Row: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}
impl<T> Row for T where T: for<'r> sqlx::FromRow<'r, SqliteRow> + for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin {}

/// Which dialect a statement is for, where the two differ (the ported modules add a function
/// per difference here as they need one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Db {
    pub fn dialect(&self) -> Dialect {
        match self {
            Db::Sqlite(_) => Dialect::Sqlite,
            Db::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Runs a statement; returns the rows it changed.
    pub async fn execute(&self, q: &Sql) -> Result<u64> {
        Ok(match self {
            Db::Sqlite(p) => q.sqlite().execute(p).await?.rows_affected(),
            Db::Postgres(p) => q.postgres().execute(p).await?.rows_affected(),
        })
    }

    pub async fn fetch_optional<T: Row>(&self, q: &Sql) -> Result<Option<T>> {
        Ok(match self {
            Db::Sqlite(p) => q.sqlite_as().fetch_optional(p).await?,
            Db::Postgres(p) => q.postgres_as().fetch_optional(p).await?,
        })
    }

    pub async fn fetch_one<T: Row>(&self, q: &Sql) -> Result<T> {
        Ok(match self {
            Db::Sqlite(p) => q.sqlite_as().fetch_one(p).await?,
            Db::Postgres(p) => q.postgres_as().fetch_one(p).await?,
        })
    }

    pub async fn fetch_all<T: Row>(&self, q: &Sql) -> Result<Vec<T>> {
        Ok(match self {
            Db::Sqlite(p) => q.sqlite_as().fetch_all(p).await?,
            Db::Postgres(p) => q.postgres_as().fetch_all(p).await?,
        })
    }
}
