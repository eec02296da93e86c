//! The PostgreSQL harness itself: a real server starts as an unprivileged user on a free loopback
//! port, each test gets an empty database of its own, and the server answers SQL.

use coexist_testkit::postgres::{fresh_database, TempPostgres};
use std::process::Command;

fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-XAtqc", sql])
        .output()
        .expect("psql runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn a_throwaway_server_gives_each_test_its_own_database() {
    let a = fresh_database("harness a");
    let b = fresh_database("harness b");
    assert_ne!(a, b);
    psql(&a, "CREATE TABLE t (n BIGINT); INSERT INTO t VALUES (42)");
    assert_eq!(psql(&a, "SELECT n FROM t"), "42");
    // b is a different, empty database.
    assert_eq!(psql(&b, "SELECT count(*) FROM pg_tables WHERE tablename = 't'"), "0");
    // Not run as root: PostgreSQL refuses that, and CI runs as root.
    assert_ne!(psql(&a, "SELECT current_setting('data_directory')"), "");
}

#[test]
fn a_dropped_server_is_stopped_and_removed() {
    let pg = TempPostgres::start();
    let url = pg.url();
    assert_eq!(psql(&url, "SELECT 1"), "1");
    drop(pg);
    let out = Command::new("psql")
        .args([&url, "-XAtqc", "SELECT 1"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "the server still answers after drop");
}
