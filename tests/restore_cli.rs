//! `coexist backup restore` as an owner types it: a wrong path is refused and the workspace keeps
//! every message; restoring and then restoring the file it set aside is an undo.

mod common;
use common::*;

fn messages(dir: &std::path::Path) -> u64 {
    let m = &stats(dir)["messages"];
    ["customer", "phone", "api", "history"]
        .iter()
        .map(|k| m[k].as_u64().expect("stats counts messages"))
        .sum()
}

#[test]
fn a_wrong_path_is_refused_and_a_restore_can_be_undone() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    assert!(import_all_fixtures(&ws).status.success());
    let before = messages(&ws);
    assert!(before > 0);

    let missing = dir.path().join("a/path/that/does/not/exist");
    let out = coexist(&ws, &["backup", "restore", &missing.display().to_string(), "--yes"]);
    assert!(!out.status.success(), "a missing backup is an error");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("could not be read") && err.contains("not changed"),
        "{err}"
    );
    assert!(!missing.exists());
    assert_eq!(messages(&ws), before, "nothing lost");

    // An empty workspace's backup, restored, then undone from the set-aside file it names.
    let empty = dir.path().join("empty");
    let backup = dir.path().join("empty.sqlite3");
    assert!(coexist(&empty, &["backup", "create", &backup.display().to_string()])
        .status
        .success());
    let out = coexist(&ws, &["backup", "restore", &backup.display().to_string(), "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(messages(&ws), 0);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let aside = said
        .lines()
        .find_map(|l| l.strip_prefix("the database it replaced is kept as "))
        .and_then(|l| l.split(" (").next())
        .unwrap_or_else(|| panic!("the restore says where the old database went: {said}"))
        .to_string();
    let out = coexist(&ws, &["backup", "restore", &aside, "--yes"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(messages(&ws), before, "the undo brings every message back");
    assert!(coexist(&ws, &["audit", "verify"]).status.success());
}
