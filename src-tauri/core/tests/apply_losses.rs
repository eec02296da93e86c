//! Nothing lost (issue 14, items 8 and 9): a contact merge that must move rows of other tables,
//! and a change holding one unreadable message among good ones. Real SQLite files.

use coexist_core::Store;
use coexist_testkit::envelope;
use serde_json::{json, Value};

const NOW: i64 = 1_790_000_000;

async fn feed(store: &Store, body: Vec<u8>) {
    coexist_testkit::feed(store, body, NOW).await;
}

fn text(from: Option<&str>, bsuid: &str, id: &str, at: i64) -> Value {
    let mut contact = json!({"user_id": bsuid, "profile": {"name": "Lina"}});
    let mut m = json!({"from_user_id": bsuid, "id": id, "timestamp": at.to_string(), "type": "text",
                       "text": {"body": format!("message {id}")}});
    if let Some(f) = from {
        contact["wa_id"] = json!(f);
        m["from"] = json!(f);
    }
    json!({"messaging_product": "whatsapp", "contacts": [contact], "messages": [m]})
}

async fn count(store: &Store, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap()
}

/// Item 8: the customer was known twice — by phone (the desk wrote to them) and by BSUID (they
/// wrote with the number hidden, and automation planned a follow-up). A message naming both joins
/// them; the rows that named the second record move over instead of failing on a foreign key.
#[tokio::test]
async fn a_merge_moves_every_row_that_names_the_joined_contact() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    feed(
        &store,
        envelope("messages", text(Some("447700900123"), "GB.AAA", "wamid.1", NOW - 300)),
    )
    .await;
    // The same customer as a BSUID-only record (an older webhook without the phone).
    sqlx::query("UPDATE contact SET bsuid = NULL")
        .execute(store.pool())
        .await
        .unwrap();
    feed(&store, envelope("messages", text(None, "GB.AAA", "wamid.2", NOW - 200))).await;
    assert_eq!(count(&store, "SELECT COUNT(*) FROM contact").await, 2);
    let other: i64 = count(&store, "SELECT id FROM contact WHERE bsuid = 'GB.AAA'").await;
    for sql in [
        "INSERT INTO outbox (contact_id, recipient, kind, payload, next_attempt_ms, created_at, updated_at)
         VALUES (?, 'GB.AAA', 'text', '{}', 0, 0, 0)",
        "INSERT INTO follow_up (contact_id, rule, template_name, language, after_message_id, after_at, due_at)
         VALUES (?, 'nudge', 't', 'en', 1, 0, 0)",
        "INSERT INTO away_sent (contact_id, at) VALUES (?, 0)",
    ] {
        sqlx::query(sql).bind(other).execute(store.pool()).await.unwrap();
    }

    feed(
        &store,
        envelope("messages", text(Some("447700900123"), "GB.AAA", "wamid.3", NOW - 100)),
    )
    .await;
    let failed = store.failed_journal_rows(10).await.unwrap();
    assert!(failed.is_empty(), "{failed:?}");
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM contact").await,
        1,
        "one person, one contact"
    );
    let keep = count(&store, "SELECT id FROM contact").await;
    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM message WHERE origin = 'customer'").await,
        3
    );
    for table in ["message", "outbox", "follow_up", "away_sent"] {
        let elsewhere: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table} WHERE contact_id != ?"))
            .bind(keep)
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_eq!(elsewhere, 0, "{table} still names the joined record");
    }
}

/// Item 9: a history chunk with one message missing its id and one with a broken timestamp keeps
/// every other message; the journal row says which were set aside and why.
#[tokio::test]
async fn one_bad_message_does_not_lose_its_history_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let mut messages: Vec<Value> = (0..500)
        .map(|i| {
            json!({"from": "447700900123", "id": format!("wamid.H{i}"), "timestamp": (NOW - 86_400 + i).to_string(),
                   "type": "text", "text": {"body": format!("old message {i}")},
                   "history_context": {"status": "READ"}})
        })
        .collect();
    messages[100].as_object_mut().unwrap().remove("id");
    messages[300]["timestamp"] = json!("yesterday");
    let chunk = json!({"messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "PN1"},
        "history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
                     "threads": [{"id": "447700900123", "messages": messages}]}]});
    feed(&store, envelope("history", chunk)).await;

    assert_eq!(
        count(&store, "SELECT COUNT(*) FROM message WHERE origin = 'history'").await,
        498
    );
    let failed = store.failed_journal_rows(10).await.unwrap();
    assert_eq!(failed.len(), 1, "the body is kept and reported: {failed:?}");
    let why = &failed[0].1;
    assert!(why.contains("#101") && why.contains("missing field `id`"), "{why}");
    assert!(why.contains("#301 (wamid.H300)") && why.contains("timestamp"), "{why}");
    assert!(why.contains("the rest of the change was applied"), "{why}");
}
