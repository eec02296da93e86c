//! Statements written once run the same on both backends (issue 26): a SQLite file and a real
//! PostgreSQL server started by the test kit. The lease — the rule that one process runs the
//! engine — races twenty takers on each and exactly one wins; typed NULLs, booleans and 64-bit
//! integers come back as they went in.

use coexist_core::store::db::{Db, Sql};
use coexist_core::store::leases;
use std::sync::Arc;

async fn sqlite(dir: &std::path::Path) -> Db {
    let opts = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(dir.join("t.sqlite3"))
        .create_if_missing(true)
        .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(10));
    Db::Sqlite(
        sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .unwrap(),
    )
}

async fn postgres(hint: &str) -> Db {
    let url = coexist_testkit::postgres::fresh_database(hint);
    Db::Postgres(
        sqlx::postgres::PgPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await
            .unwrap(),
    )
}

/// Both backends, each with the lease table as the migrations make it.
async fn backends(dir: &std::path::Path, hint: &str) -> Vec<Db> {
    let mut out = Vec::new();
    for db in [sqlite(dir).await, postgres(hint).await] {
        db.execute(&Sql::new(
            "CREATE TABLE lease (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms BIGINT NOT NULL)",
        ))
        .await
        .unwrap();
        out.push(db);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_racing_takers_get_one_lease_on_each_backend() {
    let dir = tempfile::tempdir().unwrap();
    for db in backends(dir.path(), "lease race").await {
        let db = Arc::new(db);
        let now = 1_800_000_000_000;
        let mut tasks = Vec::new();
        for i in 0..20 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                leases::take(&db, "engine", &format!("serve:{i}"), now, 10_000)
                    .await
                    .unwrap()
            }));
        }
        let mut won = 0;
        for t in tasks {
            won += usize::from(t.await.unwrap());
        }
        assert_eq!(won, 1, "{:?}: exactly one taker holds the lease", db.dialect());
        let (holder, until) = leases::holder(&db, "engine", now).await.unwrap().unwrap();
        assert_eq!(until, now + 10_000);
        // The holder renews; another cannot take it before it expires, and can after.
        assert!(leases::take(&db, "engine", &holder, now + 5_000, 10_000).await.unwrap());
        assert!(!leases::take(&db, "engine", "serve:other", now + 14_000, 10_000)
            .await
            .unwrap());
        assert!(leases::take(&db, "engine", "serve:other", now + 15_001, 10_000)
            .await
            .unwrap());
        assert_eq!(
            leases::holder(&db, "engine", now + 15_001).await.unwrap().unwrap().0,
            "serve:other"
        );
        leases::release(&db, "engine", "serve:other").await.unwrap();
        assert_eq!(leases::holder(&db, "engine", now + 15_001).await.unwrap(), None);
    }
}

/// A row of the test table: id, name, vip, n, body.
type Stored = (i64, Option<String>, bool, Option<i64>, Vec<u8>);

#[tokio::test]
async fn values_come_back_as_they_went_in_on_each_backend() {
    let dir = tempfile::tempdir().unwrap();
    for db in [sqlite(dir.path()).await, postgres("values").await] {
        db.execute(&Sql::new(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT, vip BOOLEAN NOT NULL, n BIGINT, body BYTEA_OR_BLOB)"
                .replace(
                    "BYTEA_OR_BLOB",
                    match db.dialect() {
                        coexist_core::store::db::Dialect::Sqlite => "BLOB",
                        coexist_core::store::db::Dialect::Postgres => "BYTEA",
                    },
                ),
        ))
        .await
        .unwrap();
        let insert = |id: i64, name: Option<&str>, vip: bool, n: Option<i64>| {
            Sql::new("INSERT INTO t (id, name, vip, n, body) VALUES ($1, $2, $3, $4, $5)")
                .bind(id)
                .bind(name)
                .bind(vip)
                .bind(n)
                .bind(vec![0u8, 255, 7])
        };
        db.execute(&insert(1, Some("Asha"), true, Some(i64::MAX)))
            .await
            .unwrap();
        // A NULL carries its column's type: PostgreSQL refuses an untyped one for TEXT.
        db.execute(&insert(2, None, false, None)).await.unwrap();
        let rows: Vec<Stored> = db
            .fetch_all(&Sql::new("SELECT id, name, vip, n, body FROM t ORDER BY id"))
            .await
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (1, Some("Asha".into()), true, Some(i64::MAX), vec![0, 255, 7]),
                (2, None, false, None, vec![0, 255, 7]),
            ],
            "{:?}",
            db.dialect()
        );
        // A placeholder used twice, and out of order, binds the same way on both.
        let (a, b): (i64, i64) = db
            .fetch_one(&Sql::new("SELECT $2 + 0, $1 + $1").bind(20i64).bind(1i64))
            .await
            .unwrap();
        assert_eq!((a, b), (1, 40), "{:?}", db.dialect());
    }
}
