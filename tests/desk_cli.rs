//! The desk from the command line: profiles and the owner PIN guard billing, settings, exports
//! and secrets; every such action lands in an audit log that verifies; automation can be tested
//! without sending; backups need the owner.

mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn run(dir: &std::path::Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(bin("coexist"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .env("COEXIST_LOG", "warn")
        .env_remove("COEXIST_PIN")
        .env_remove("COEXIST_PROFILE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(s) = stdin {
        child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn err(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn profiles_pin_audit_and_automation_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    assert!(import_all_fixtures(dir.path()).status.success());
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", err(&o));
        o
    };
    ok(run(dir.path(), &["profile", "add", "ana", "--role", "desk"], None));
    ok(run(dir.path(), &["profile", "set-pin"], Some("4821\n")));

    // Front desk cannot see billing; the owner needs the PIN.
    let o = run(
        dir.path(),
        &[
            "--as",
            "ana",
            "billing",
            "report",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
        ],
        None,
    );
    assert!(!o.status.success() && err(&o).contains("only the owner"), "{}", err(&o));
    let o = run(
        dir.path(),
        &["billing", "report", "--from", "2025-01-01", "--to", "2025-12-31"],
        None,
    );
    assert!(!o.status.success() && err(&o).contains("owner PIN"), "{}", err(&o));
    let o = run(dir.path(), &["--pin", "0000", "export", "messages"], None);
    assert!(!o.status.success() && err(&o).contains("not right"), "{}", err(&o));
    ok(run(
        dir.path(),
        &[
            "--pin",
            "4821",
            "billing",
            "report",
            "--from",
            "2025-01-01",
            "--to",
            "2025-12-31",
            "--json",
        ],
        None,
    ));
    let out = ok(run(
        dir.path(),
        &["--pin", "4821", "export", "messages", "--format", "csv"],
        None,
    ));
    let csv = String::from_utf8(out.stdout).unwrap();
    assert!(csv.starts_with("wamid,contact_wa_id"), "{csv}");
    assert!(csv.lines().count() > 5);
    // Consent by the front desk is fine, and recorded under her name.
    ok(run(
        dir.path(),
        &["--as", "ana", "consent", "--contact", "919876543210", "opt-in"],
        None,
    ));

    // Automation: settings are the owner's; testing a rule sends nothing.
    let rules = dir.path().join("rules.json");
    std::fs::write(
        &rules,
        r#"{"enabled": true, "faq": [{"name": "hours", "variants": {"en": {"keywords": ["open"], "reply": "9 to 6"}}}]}"#,
    )
    .unwrap();
    let rules = rules.display().to_string();
    let o = run(dir.path(), &["--as", "ana", "automation", "set", &rules], None);
    assert!(!o.status.success());
    ok(run(dir.path(), &["--pin", "4821", "automation", "set", &rules], None));
    let out = ok(run(dir.path(), &["automation", "test", "Are you open today?"], None));
    let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(d["reply"][0], "faq:hours");

    // A backup needs the owner too.
    let backup = dir.path().join("b.sqlite3").display().to_string();
    assert!(!run(dir.path(), &["--as", "ana", "backup", "create", &backup], None)
        .status
        .success());
    ok(run(dir.path(), &["--pin", "4821", "backup", "create", &backup], None));

    let out = ok(run(dir.path(), &["audit", "verify", "--json"], None));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    let out = ok(run(dir.path(), &["--pin", "4821", "audit", "export"], None));
    let entries: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let actions: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["action"].as_str().unwrap()))
        .collect();
    for expected in [
        ("owner", "profile.add"),
        ("owner", "secret.owner_pin"),
        ("owner", "export.messages"),
        ("ana", "consent"),
        ("owner", "settings.automation"),
        ("owner", "backup"),
        ("owner", "export.audit"),
    ] {
        assert!(actions.contains(&expected), "{expected:?} missing from {actions:?}");
    }
}

/// The media folder's cap and No Storage from the command line: owner only, audited, and shown
/// by `coexist media --json`.
#[test]
fn the_media_cap_and_no_storage_are_owner_settings() {
    let dir = tempfile::tempdir().unwrap();
    let ok = |o: Output| {
        assert!(o.status.success(), "{}", err(&o));
        String::from_utf8(o.stdout).unwrap()
    };
    ok(run(dir.path(), &["profile", "set-pin"], Some("4821\n")));
    let refused = run(dir.path(), &["media", "--cap-mb", "500"], None);
    assert!(!refused.status.success(), "no PIN, no change");
    let out = ok(run(
        dir.path(),
        &[
            "--pin",
            "4821",
            "media",
            "--cap-mb",
            "500",
            "--no-storage",
            "on",
            "--json",
        ],
        None,
    ));
    let u: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(
        (u["cap_bytes"].as_i64(), u["no_storage"].as_bool()),
        (Some(500_000_000), Some(true)),
        "{u}"
    );
    let out = ok(run(dir.path(), &["--pin", "4821", "media", "--no-cap"], None));
    assert!(
        out.contains("cap: none") && out.contains("1 hour (No Storage)"),
        "{out}"
    );
    let log = ok(run(dir.path(), &["--pin", "4821", "audit", "export"], None));
    assert_eq!(log.matches("settings.media").count(), 2, "{log}");
}
