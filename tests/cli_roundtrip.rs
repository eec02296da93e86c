//! The `coexist` command line, end to end on real files: import, stats, export, replay.

mod common;
use common::*;
use serde_json::json;

#[test]
fn import_all_fixtures_then_stats_has_the_contract_shape() {
    let dir = tempfile::tempdir().unwrap();
    let out = import_all_fixtures(dir.path());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let summary = String::from_utf8_lossy(&out.stdout);
    assert!(
        summary.contains("1 failed"),
        "summary names the malformed body: {summary}"
    );

    let s = stats(dir.path());
    assert_eq!(s["contacts"], json!({"active": 5, "removed": 1}));
    assert_eq!(
        s["messages"],
        json!({"customer": 4, "phone": 2, "api": 3, "history": 6})
    );
    assert_eq!(s["journal"]["received"], 23);
    assert_eq!(s["journal"]["applied"], 21);
    assert_eq!(s["journal"]["failed"], 1);
    assert_eq!(s["journal"]["skipped"], 1);
    assert_eq!(s["history"]["progress"], 100);
    assert_eq!(s["link"], "connected");

    // Importing everything again changes nothing.
    let again = import_all_fixtures(dir.path());
    assert!(again.status.success());
    assert_eq!(stats(dir.path()), s);
}

#[test]
fn export_has_the_contract_keys() {
    let dir = tempfile::tempdir().unwrap();
    let f = |p: &str| fixture(p).display().to_string();
    let (a, b, c, d) = (f("07_"), f("08_"), f("09_"), f("06_"));
    assert!(coexist(dir.path(), &["import", &a, &b, &c, &d]).status.success());
    let out = coexist(dir.path(), &["export", "messages", "--format", "jsonl"]);
    assert!(out.status.success());
    let rows: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    for r in &rows {
        for key in [
            "wamid",
            "contact_wa_id",
            "contact_bsuid",
            "origin",
            "direction",
            "type",
            "text",
            "status",
            "timestamp",
            "media_id",
            "edited",
            "revoked",
        ] {
            assert!(r.get(key).is_some(), "{key} missing in {r}");
        }
    }
    let echo1 = rows.iter().find(|r| r["wamid"] == "wamid.ECHO0001").unwrap();
    assert_eq!(echo1["origin"], "phone");
    assert_eq!(echo1["contact_wa_id"], "919876543210");
    assert_eq!(echo1["text"], "Yes! M and L are in stock.");
    assert_eq!(echo1["edited"], true);
    assert_eq!(echo1["status"], serde_json::Value::Null);
    assert!(echo1["timestamp"].is_i64());
    let echo2 = rows.iter().find(|r| r["wamid"] == "wamid.ECHO0002").unwrap();
    assert_eq!(
        (echo2["revoked"].clone(), echo2["media_id"].clone()),
        (json!(true), json!("1339522734477770"))
    );
    let failed = rows.iter().find(|r| r["wamid"] == "wamid.OUT0002").unwrap();
    assert_eq!(
        (failed["origin"].clone(), failed["status"].clone()),
        (json!("api"), json!("failed"))
    );
}

#[test]
fn replay_rebuilds_an_equal_mirror() {
    let dir = tempfile::tempdir().unwrap();
    assert!(import_all_fixtures(dir.path()).status.success());

    let into = dir.path().join("replayed");
    let out = coexist(dir.path(), &["replay", "--into", into.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(stats(&into), stats(dir.path()));
    let export = |d: &std::path::Path| coexist(d, &["export", "messages", "--format", "jsonl"]).stdout;
    let (original, replayed) = (export(dir.path()), export(&into));
    assert!(!original.is_empty());
    assert_eq!(
        String::from_utf8(replayed).unwrap(),
        String::from_utf8(original).unwrap()
    );

    // Replaying onto an existing workspace is refused rather than mixed in.
    let again = coexist(dir.path(), &["replay", "--into", into.to_str().unwrap()]);
    assert!(!again.status.success());
}

#[test]
fn jsonl_import_and_unreadable_files() {
    let dir = tempfile::tempdir().unwrap();
    let jsonl = dir.path().join("bodies.jsonl");
    let mut text = String::new();
    for p in ["01_", "02_", "90_"] {
        let raw = std::fs::read_to_string(fixture(p)).unwrap();
        let line = match serde_json::from_str::<serde_json::Value>(&raw) {
            Ok(v) => v.to_string(),
            Err(_) => raw.trim().to_string(),
        };
        text.push_str(&line);
        text.push('\n');
    }
    std::fs::write(&jsonl, text).unwrap();
    let ws = dir.path().join("ws");
    let out = coexist(&ws, &["import", jsonl.to_str().unwrap()]);
    assert!(out.status.success(), "a malformed body is counted, not fatal");
    let s = stats(&ws);
    assert_eq!(s["messages"]["customer"], 2);
    assert_eq!(s["journal"]["failed"], 1);

    let missing = coexist(&ws, &["import", dir.path().join("nope.json").to_str().unwrap()]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.json"));
}
