//! Meta's shapes as Meta documents them (DESIGN §4; bodies in `tests/meta/`, each naming its
//! source), applied in every order that matters and twice: customer edits in the whole-message
//! form and the older `edit.text`, history media follow-ups of the customer in both forms,
//! history's `PENDING` and `ERROR`, a document's name kept apart from its words, and echoes to a
//! username-only customer that also name a parent BSUID.

use coexist_core::Store;
use serde_json::Value;

const NOW: i64 = 1_762_100_000;

fn meta(name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/meta")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A mirror fed with `bodies` (shared fixtures by prefix `NN_`, or files of `tests/meta`).
async fn mirror(bodies: &[&str]) -> Store {
    let store = Store::open_in_memory().await.unwrap();
    feed(&store, bodies).await;
    store
}

async fn feed(store: &Store, bodies: &[&str]) {
    let bodies: Vec<Vec<u8>> = bodies
        .iter()
        .map(|n| {
            if n.ends_with(".json") {
                meta(n)
            } else {
                coexist_testkit::fixture(n)
            }
        })
        .collect();
    let report = coexist_testkit::feed_all(store, &bodies, NOW).await;
    assert_eq!(
        report.failed,
        0,
        "{report:?}: {:?}",
        store.failed_journal_rows(5).await.unwrap()
    );
}

async fn exported(store: &Store) -> Vec<Value> {
    let v = serde_json::to_value(store.export_messages().await.unwrap()).unwrap();
    v.as_array().unwrap().clone()
}

async fn message(store: &Store, wamid: &str) -> Value {
    exported(store)
        .await
        .into_iter()
        .find(|m| m["wamid"] == wamid)
        .unwrap_or_else(|| panic!("{wamid} is not in the mirror"))
}

#[tokio::test]
async fn a_caption_edit_changes_the_caption_and_keeps_the_photo() {
    for order in [
        ["a1_inbound_photo.json", "a2_caption_edit.json"],
        ["a2_caption_edit.json", "a1_inbound_photo.json"],
    ] {
        let store = mirror(&order).await;
        feed(&store, &order).await;
        let m = message(&store, "wamid.MP0001").await;
        assert_eq!(m["text"], "Front and back view", "{order:?}");
        assert_eq!(m["edited"], true);
        assert_eq!(
            (m["type"].as_str(), m["media_id"].as_str()),
            (Some("image"), Some("1480001"))
        );
        assert_eq!(exported(&store).await.len(), 1, "an edit is not a message of its own");
    }
}

#[tokio::test]
async fn the_older_edit_text_shape_still_edits_and_an_unreadable_edit_blanks_nothing() {
    let store = mirror(&["01_", "a3_legacy_text_edit.json"]).await;
    assert_eq!(
        message(&store, "wamid.IN0001").await["text"],
        "Is the blue kurta available in XL?"
    );
    // An edit whose content names nothing readable: marked, never blanked.
    feed(&store, &["a4_unreadable_edit.json"]).await;
    let m = message(&store, "wamid.IN0001").await;
    assert_eq!(
        (m["text"].as_str(), m["edited"].as_bool()),
        (Some("Is the blue kurta available in XL?"), Some(true))
    );
    // An unreadable edit alone leaves the original words.
    let store = mirror(&["01_", "a4_unreadable_edit.json"]).await;
    assert!(message(&store, "wamid.IN0001").await["text"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
}

#[tokio::test]
async fn the_customers_history_media_fill_their_placeholders_in_both_forms_and_orders() {
    let chunk = "b1_history_chunk_with_placeholders.json";
    let follow_ups = ["b2_history_customer_followup.json", "b3_history_thread_followup.json"];
    let mut mirrors = Vec::new();
    for bodies in [
        vec![chunk, follow_ups[0], follow_ups[1]],
        vec![follow_ups[0], follow_ups[1], chunk],
        vec![follow_ups[1], chunk, follow_ups[0]],
    ] {
        let store = mirror(&bodies).await;
        feed(&store, &bodies).await;
        let photo = message(&store, "wamid.HC0001").await;
        assert_eq!(
            (
                photo["type"].as_str(),
                photo["media_id"].as_str(),
                photo["direction"].as_str()
            ),
            (Some("image"), Some("2420000001"), Some("inbound")),
            "{bodies:?}"
        );
        assert_eq!(photo["status"], "read");
        let doc = message(&store, "wamid.HC0002").await;
        assert_eq!(
            (
                doc["type"].as_str(),
                doc["media_id"].as_str(),
                doc["media_filename"].as_str()
            ),
            (Some("document"), Some("2420000002"), Some("receipt.pdf")),
            "{bodies:?}"
        );
        assert_eq!(doc["text"], Value::Null, "a document's name is not its words");
        // Both are queued for download with Meta's 7 days from the follow-up, not from the
        // message's own date (weeks before): they would otherwise expire before the first try.
        let queued: Vec<(String, i64)> = sqlx::query_as(
            "SELECT m.wamid, d.expires_at FROM media_download d JOIN message m ON m.id = d.message_id
             WHERE d.state = 'queued' ORDER BY m.wamid",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        assert_eq!(queued.len(), 2, "{bodies:?}: {queued:?}");
        assert!(
            queued.iter().all(|(_, until)| *until >= NOW + 7 * 86_400 - 1),
            "{queued:?}"
        );
        assert_eq!(store.stats().await.unwrap().messages.history, 5);
        let mut all = exported(&store).await;
        for m in &mut all {
            m.as_object_mut().unwrap().remove("id");
        }
        mirrors.push(all);
    }
    assert!(
        mirrors.windows(2).all(|w| w[0] == w[1]),
        "every order gives the same mirror"
    );
}

#[tokio::test]
async fn history_keeps_pending_and_error_as_statuses_of_their_own() {
    let store = mirror(&["b1_history_chunk_with_placeholders.json"]).await;
    let status = |m: &Value| m["status"].as_str().map(String::from);
    assert_eq!(
        status(&message(&store, "wamid.HC0003").await).as_deref(),
        Some("pending")
    );
    assert_eq!(status(&message(&store, "wamid.HC0004").await).as_deref(), Some("error"));
    assert_eq!(
        status(&message(&store, "wamid.HC0005").await).as_deref(),
        Some("played")
    );
    assert_eq!(
        status(&message(&store, "wamid.HC0002").await).as_deref(),
        Some("delivered")
    );
}

#[tokio::test]
async fn a_documents_name_is_not_exported_as_its_words() {
    let store = mirror(&["c1_inbound_document_without_caption.json"]).await;
    let m = message(&store, "wamid.DOC0001").await;
    assert_eq!(m["text"], Value::Null);
    assert_eq!(m["media_filename"], "invoice-2392.pdf");
    assert!(
        store.search("invoice", 10).await.unwrap().is_empty(),
        "a file name is not searched as words"
    );
}

#[tokio::test]
async fn echoes_to_a_username_only_customer_land_on_their_one_contact() {
    for bodies in [
        [
            "d1_inbound_username_only.json",
            "d2_echo_with_parent_bsuid.json",
            "d3_echo_parent_only.json",
        ],
        [
            "d3_echo_parent_only.json",
            "d2_echo_with_parent_bsuid.json",
            "d1_inbound_username_only.json",
        ],
    ] {
        let store = mirror(&bodies).await;
        feed(&store, &bodies).await;
        type Ids = (Option<String>, Option<String>, Option<String>, Option<String>);
        let contacts: Vec<Ids> = sqlx::query_as("SELECT wa_id, bsuid, parent_bsuid, username FROM contact")
            .fetch_all(store.pool())
            .await
            .unwrap();
        assert_eq!(
            contacts,
            vec![(
                None,
                Some("DE.77aa88bb".into()),
                Some("US.ENT.5566778899".into()),
                Some("@mika".into())
            )],
            "{bodies:?}"
        );
        let all = exported(&store).await;
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|m| m["contact_bsuid"] == "DE.77aa88bb"), "{all:?}");
        let s = store.stats().await.unwrap();
        assert_eq!((s.messages.customer, s.messages.phone), (1, 2));
    }
}
