//! Restores lose nothing: a backup is only read, checked before anything changes, swapped in as
//! one step with the replaced database set aside under a new name, and what was waiting to go out
//! comes back held. Real files, real SQLite.

use coexist_core::engine::EngineLease;
use coexist_core::ops;
use coexist_core::Store;
use coexist_testkit::{envelope, feed_all};
use serde_json::json;
use std::path::Path;

const NOW: i64 = 1_790_000_000;

/// `n` customer texts, numbered from `from`, one webhook each, as Meta posts them.
fn texts(from: usize, n: usize) -> Vec<Vec<u8>> {
    (from..from + n)
        .map(|i| {
            envelope(
                "messages",
                json!({"messaging_product": "whatsapp",
                   "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PN1"},
                   "contacts": [{"profile": {"name": "Ana"}, "wa_id": "6281100000001"}],
                   "messages": [{"from": "6281100000001", "id": format!("wamid.restore.{i}"),
                                 "timestamp": (NOW - 10_000 + i as i64).to_string(),
                                 "type": "text", "text": {"body": format!("message {i}")}}]}),
            )
        })
        .collect()
}

async fn workspace(dir: &Path, n: usize) -> Store {
    let store = Store::open_dir(dir).await.unwrap();
    feed_all(&store, &texts(0, n), NOW).await;
    store
}

async fn messages(dir: &Path) -> usize {
    let store = Store::open_dir(dir).await.unwrap();
    let n = store.export_messages().await.unwrap().len();
    store.close().await;
    n
}

async fn backup(store: &Store, to: &Path) {
    store.backup_to(to, "owner", NOW).await.unwrap();
}

#[tokio::test]
async fn a_backup_that_is_missing_foreign_newer_or_not_a_database_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    workspace(&ws, 40).await.close().await;

    let not_db = dir.path().join("notes.txt");
    std::fs::write(&not_db, "SQLite format 3? no, a shopping list").unwrap();
    let foreign = dir.path().join("other.sqlite3");
    {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}?mode=rwc", foreign.display()))
            .await
            .unwrap();
        sqlx::query("CREATE TABLE recipes (name TEXT)")
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let newer = dir.path().join("newer.sqlite3");
    {
        let s = workspace(&dir.path().join("newer-ws"), 3).await;
        backup(&s, &newer).await;
        s.close().await;
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", newer.display()))
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
    }
    let missing = dir.path().join("does/not/exist.sqlite3");
    for (backup, words) in [
        (&missing, "could not be read"),
        (&dir.path().to_path_buf(), "is not a backup file"),
        (&not_db, "is not a Coexist backup"),
        (&foreign, "not a Coexist backup"),
        (&newer, "newer version of Coexist"),
    ] {
        let err = ops::restore(&ws, backup, "owner", None, NOW)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains(words), "{}: {err}", backup.display());
        assert!(err.contains("the workspace was not changed"), "{err}");
        assert_eq!(messages(&ws).await, 40, "after refusing {}", backup.display());
    }
    assert!(!missing.exists(), "a missing backup is never created");
    let leftovers: Vec<_> = std::fs::read_dir(&ws)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| n.contains("restoring") || n.contains("before-restore"))
        .collect();
    assert!(leftovers.is_empty(), "nothing left behind: {leftovers:?}");
    // The refused backups are byte for byte what they were (never migrated in place).
    let s = Store::open_dir(&ws).await.unwrap();
    assert_eq!(
        sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM lease WHERE name = 'engine'")
            .fetch_one(s.pool())
            .await
            .unwrap(),
        0,
        "the restore's lease was released"
    );
}

#[tokio::test]
async fn undoing_a_restore_brings_back_what_it_replaced_and_no_set_aside_file_is_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let store = workspace(&ws, 15).await;
    let a = dir.path().join("a.sqlite3");
    backup(&store, &a).await;
    let a_bytes = std::fs::read(&a).unwrap();
    feed_all(&store, &texts(15, 25), NOW).await;
    store.close().await;
    assert_eq!(messages(&ws).await, 40);

    let first = ops::restore(&ws, &a, "owner", None, NOW).await.unwrap();
    assert_eq!(first.messages, 15);
    assert_eq!(messages(&ws).await, 15);
    assert_eq!(std::fs::read(&a).unwrap(), a_bytes, "the backup is only read");
    let aside = first.set_aside.clone().expect("the replaced database is kept");

    // Undo, within the same second: the second set-aside gets a name of its own.
    let second = ops::restore(&ws, Path::new(&aside), "owner", None, NOW).await.unwrap();
    assert_eq!(second.messages, 40, "the later messages are back");
    assert_eq!(messages(&ws).await, 40);
    let aside2 = second.set_aside.clone().unwrap();
    assert_ne!(aside, aside2);
    let kept = Store::open_file(Path::new(&aside2)).await.unwrap();
    assert_eq!(
        kept.export_messages().await.unwrap().len(),
        15,
        "the first restore's result is kept too"
    );
    kept.close().await;
    let restored = Store::open_dir(&ws).await.unwrap();
    let actions: Vec<String> = restored
        .audit_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert!(actions.contains(&"restore".to_string()), "{actions:?}");
    assert!(restored.audit_verify().await.unwrap().ok);
    restored.integrity_check().await.unwrap();
}

#[tokio::test]
async fn queued_sends_waiting_follow_ups_and_running_campaigns_come_back_held() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let store = workspace(&ws, 3).await;
    let contact: i64 = sqlx::query_scalar("SELECT id FROM contact LIMIT 1")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let msg: i64 = sqlx::query_scalar("SELECT MAX(id) FROM message")
        .fetch_one(store.pool())
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO outbox (contact_id, recipient, kind, payload, text, state, next_attempt_ms, created_at, updated_at)
         VALUES (?, '6281100000001', 'text', '{}', 'see you', 'queued', 0, ?, ?)",
    )
    .bind(contact)
    .bind(NOW)
    .bind(NOW)
    .execute(store.pool())
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO follow_up (contact_id, rule, template_name, language, after_message_id, after_at, due_at)
         VALUES (?, 'nudge', 'order_update', 'en', ?, ?, ?)",
    )
    .bind(contact)
    .bind(msg)
    .bind(NOW)
    .bind(NOW - 1)
    .execute(store.pool())
    .await
    .unwrap();
    let b = dir.path().join("b.sqlite3");
    backup(&store, &b).await;
    store.close().await;

    let info = ops::restore(&ws, &b, "owner", None, NOW).await.unwrap();
    assert_eq!((info.held, info.held_follow_ups), (1, 1), "{info:?}");
    let s = Store::open_dir(&ws).await.unwrap();
    let held: Option<String> = sqlx::query_scalar("SELECT held_reason FROM follow_up")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert!(held.unwrap().contains("Restored from a backup"));
    // Automation does not send a held follow-up; releasing it lets it go.
    assert_eq!(
        coexist_core::ops::outbox::release(&coexist_core::ops::Ctx::new(&s, "owner", None, NOW), None)
            .await
            .unwrap(),
        2
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM follow_up WHERE held_reason IS NOT NULL")
        .fetch_one(s.pool())
        .await
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn a_crafted_backup_reads_and_deletes_nothing_outside_the_media_folder() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    workspace(&ws, 40).await.close().await;
    let secret = dir.path().join("secret.txt");
    std::fs::write(&secret, "not yours").unwrap();

    // A media row pointing outside.
    let crafted = dir.path().join("crafted.sqlite3");
    {
        let s = workspace(&dir.path().join("crafted-ws"), 2).await;
        backup(&s, &crafted).await;
        s.close().await;
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", crafted.display()))
            .await
            .unwrap();
        sqlx::query("INSERT INTO media_file (sha256, path, bytes, mime, stored_at) VALUES (?, ?, 9, 'text/plain', 0)")
            .bind("a".repeat(64))
            .bind(secret.display().to_string())
            .execute(&pool)
            .await
            .unwrap();
        pool.close().await;
    }
    let err = ops::restore(&ws, &crafted, "owner", None, NOW)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the workspace's media folder"), "{err}");
    assert_eq!(messages(&ws).await, 40);

    // A symlink loop and a link to a file outside in the backup's media folder.
    let linked = dir.path().join("linked.sqlite3");
    {
        let s = workspace(&dir.path().join("linked-ws"), 2).await;
        backup(&s, &linked).await;
        s.close().await;
    }
    let media = coexist_core::safety::media_beside(&linked);
    std::fs::create_dir_all(media.join("ab")).unwrap();
    std::os::unix::fs::symlink(media.join("loop"), media.join("loop")).unwrap();
    let err = ops::restore(&ws, &linked, "owner", None, NOW)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a plain file"), "{err}");
    std::fs::remove_file(media.join("loop")).unwrap();
    std::os::unix::fs::symlink(&secret, media.join("ab").join(format!("ab{}", "0".repeat(62)))).unwrap();
    let err = ops::restore(&ws, &linked, "owner", None, NOW)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("not a plain file"), "{err}");
    assert_eq!(messages(&ws).await, 40);
    assert_eq!(std::fs::read_to_string(&secret).unwrap(), "not yours");
    // A media file whose content is not its name: refused before the swap, nothing half-copied.
    std::fs::remove_file(media.join("ab").join(format!("ab{}", "0".repeat(62)))).unwrap();
    std::fs::write(media.join("ab").join(format!("ab{}", "0".repeat(62))), "tampered").unwrap();
    let err = ops::restore(&ws, &linked, "owner", None, NOW)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("is damaged"), "{err}");
    assert_eq!(messages(&ws).await, 40);
    let tmp = coexist_core::media::media_dir(&ws).join(".tmp");
    assert_eq!(
        std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0),
        0,
        "no .part left"
    );
    let restored_media = coexist_core::media::media_dir(&ws);
    assert!(
        !restored_media.join("ab").join(format!("ab{}", "0".repeat(62))).exists(),
        "nothing was copied from the link"
    );
}

#[tokio::test]
async fn a_restore_is_refused_while_an_engine_runs_the_workspace() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let store = workspace(&ws, 5).await;
    let b = dir.path().join("b.sqlite3");
    backup(&store, &b).await;
    let lease = EngineLease::try_acquire(&store, "serve", 10_000)
        .await
        .unwrap()
        .ok()
        .unwrap();
    let err = ops::restore(&ws, &b, "owner", None, NOW).await.unwrap_err().to_string();
    assert!(err.contains("`coexist serve`"), "{err}");
    lease.release().await;
    ops::restore(&ws, &b, "owner", None, NOW).await.unwrap();
}
