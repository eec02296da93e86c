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

/// A generated stream written from DESIGN §4 (not from the applier): customers known by phone
/// and by BSUID only; their messages edited in Meta's documented form or the older one, the edit
/// before or after its original; a history import whose media placeholders get follow-ups in the
/// customer's and the owner's form and the thread form, before or after their chunk; every
/// history status; echoes to username-only customers naming a parent BSUID. Shuffled, imported,
/// imported again, and replayed into a new mirror: nothing loses its words or its media, the
/// second import changes nothing, and the replay is the same mirror.
#[tokio::test]
async fn a_generated_stream_keeps_every_word_and_file() {
    use serde_json::json;
    // Every value carries Meta's `metadata` (the business number), as Meta sends it.
    let envelope = |field: &str, mut value: serde_json::Value| {
        value["messaging_product"] = json!("whatsapp");
        value["metadata"] = json!({"display_phone_number": "15550783881", "phone_number_id": "106540352242922"});
        coexist_testkit::envelope(field, value)
    };
    let mut seed: u64 = 0x5eed;
    let mut rnd = move |n: u64| {
        seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let business = "15550783881";
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    // wamid → (expected text, expected media id, expected status)
    type Expected = (String, Option<String>, Option<String>, Option<&'static str>);
    let mut expect: Vec<Expected> = Vec::new();
    let statuses = ["DELIVERED", "ERROR", "PENDING", "PLAYED", "READ", "SENT"];
    for i in 0..40u64 {
        let username_only = i % 3 == 0;
        let phone = format!("4915{:08}", 10_000 + i);
        let bsuid = format!("DE.gen{i:04}");
        let contact = if username_only {
            json!({"profile": {"name": format!("C{i}"), "username": format!("@c{i}")}, "user_id": bsuid})
        } else {
            json!({"profile": {"name": format!("C{i}")}, "wa_id": phone, "user_id": bsuid})
        };
        let sender = |m: serde_json::Value| {
            let mut m = m;
            m["from_user_id"] = json!(bsuid);
            if !username_only {
                m["from"] = json!(phone);
            }
            m
        };
        let t = 1_761_900_000 + i as i64 * 1000;
        // A text, edited (documented form or the older one), the edit maybe first.
        let id = format!("wamid.G{i}T");
        let original = envelope(
            "messages",
            json!({"contacts": [contact], "messages": [sender(json!({"id": id, "timestamp": t.to_string(), "type": "text", "text": {"body": format!("question {i}")}}))]}),
        );
        let edited = format!("question {i}, edited");
        let edit_body = if rnd(2) == 0 {
            json!({"original_message_id": id, "message": {"type": "text", "text": {"body": edited}}})
        } else {
            json!({"original_message_id": id, "text": {"body": edited}})
        };
        let edit = envelope(
            "messages",
            json!({"contacts": [contact], "messages": [sender(json!({"id": format!("{id}E"), "timestamp": (t + 60).to_string(), "type": "edit", "edit": edit_body}))]}),
        );
        if rnd(2) == 0 {
            bodies.extend([original, edit]);
        } else {
            bodies.extend([edit, original]);
        }
        expect.push((id, Some(edited), None, None));
        // A photo with a caption, its caption edited.
        let pid = format!("wamid.G{i}P");
        bodies.push(envelope(
            "messages",
            json!({"contacts": [contact], "messages": [sender(json!({"id": pid, "timestamp": (t + 100).to_string(), "type": "image",
                "image": {"id": format!("M{i}P"), "mime_type": "image/jpeg", "sha256": "ab", "caption": "photo"}}))]}),
        ));
        bodies.push(envelope(
            "messages",
            json!({"contacts": [contact], "messages": [sender(json!({"id": format!("{pid}E"), "timestamp": (t + 130).to_string(), "type": "edit",
                "edit": {"original_message_id": pid, "message": {"type": "image", "image": {"caption": format!("photo {i}")}}}}))]}),
        ));
        expect.push((pid, Some(format!("photo {i}")), Some(format!("M{i}P")), None));
        // The owner answers from the phone; to a username-only customer the echo names the parent.
        let eid = format!("wamid.G{i}O");
        let mut echo = json!({"from": business, "to_user_id": bsuid, "id": eid, "timestamp": (t + 200).to_string(),
                              "type": "text", "text": {"body": format!("answer {i}")}});
        if username_only {
            echo["to_parent_user_id"] = json!(format!("US.ENT.gen{i:04}"));
        } else {
            echo["to"] = json!(format!("+{phone}"));
        }
        bodies.push(envelope("smb_message_echoes", json!({"message_echoes": [echo]})));
        expect.push((eid, Some(format!("answer {i}")), None, None));
        // History: a text with each status, and a placeholder whose media follows in one of
        // three forms, before or after the chunk.
        let status = statuses[(i % 6) as usize];
        let hid = format!("wamid.G{i}H");
        let mid = format!("wamid.G{i}M");
        let from_customer = rnd(2) == 0;
        let hm = |m: serde_json::Value, outbound: bool| {
            let mut m = m;
            if outbound {
                m["from"] = json!(business);
                if !username_only {
                    m["to"] = json!(phone);
                }
            } else if !username_only {
                m["from"] = json!(phone);
            }
            m
        };
        let thread_id = if username_only { bsuid.clone() } else { phone.clone() };
        let context = if username_only {
            json!({"user_id": bsuid})
        } else {
            json!({"wa_id": phone, "user_id": bsuid})
        };
        let chunk = envelope(
            "history",
            json!({"history": [{"metadata": {"phase": 0, "chunk_order": i + 1, "progress": if i == 39 { 100 } else { 50 }},
            "threads": [{"id": thread_id, "context": context, "messages": [
                hm(json!({"id": hid, "timestamp": (t - 86_400).to_string(), "type": "text", "text": {"body": format!("old {i}")},
                          "history_context": {"status": status}}), true),
                hm(json!({"id": mid, "timestamp": (t - 2 * 86_400).to_string(), "type": "media_placeholder",
                          "history_context": {"status": "READ"}}), !from_customer),
            ]}]}]}),
        );
        let media = json!({"id": format!("M{i}H"), "mime_type": "image/jpeg", "sha256": "cd"});
        let follow = hm(
            json!({"id": mid, "timestamp": (t - 2 * 86_400).to_string(), "type": "image", "image": media}),
            !from_customer,
        );
        let followup = match rnd(3) {
            0 if from_customer => envelope("history", json!({"messages": [follow]})),
            0 | 1 if !from_customer => envelope("history", json!({"message_echoes": [follow]})),
            1 => envelope("history", json!({"messages": [follow]})),
            _ => {
                let mut f = follow.clone();
                f["history_context"] = json!({"status": "READ"});
                envelope(
                    "history",
                    json!({"history": [{"threads": [{"id": thread_id, "context": context, "messages": [f]}]}]}),
                )
            }
        };
        if rnd(2) == 0 {
            bodies.extend([chunk, followup]);
        } else {
            bodies.extend([followup, chunk]);
        }
        expect.push((
            hid,
            Some(format!("old {i}")),
            None,
            Some(["delivered", "error", "pending", "played", "read", "sent"][(i % 6) as usize]),
        ));
        expect.push((mid, None, Some(format!("M{i}H")), Some("read")));
    }
    // Shuffled in pairs' places: each pair above already chose its own order.
    for k in (1..bodies.len()).rev() {
        if rnd(4) == 0 {
            bodies.swap(k, k - 1);
        }
    }
    let store = Store::open_in_memory().await.unwrap();
    let report = coexist_testkit::feed_all(&store, &bodies, NOW).await;
    assert_eq!(
        report.failed,
        0,
        "{report:?}: {:?}",
        store.failed_journal_rows(5).await.unwrap()
    );
    let all = exported(&store).await;
    for (wamid, text, media, status) in &expect {
        let m = all
            .iter()
            .find(|m| m["wamid"] == wamid.as_str())
            .unwrap_or_else(|| panic!("{wamid} lost"));
        assert_eq!(m["text"].as_str(), text.as_deref(), "{wamid}: {m}");
        assert_eq!(m["media_id"].as_str(), media.as_deref(), "{wamid}: {m}");
        if let Some(s) = status {
            assert_eq!(m["status"].as_str(), Some(*s), "{wamid}: {m}");
        }
    }
    assert_eq!(
        all.len(),
        expect.len(),
        "edits and follow-ups are no messages of their own"
    );
    let contacts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM contact")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let who: Vec<(Option<String>, Option<String>, Option<String>)> =
        sqlx::query_as("SELECT wa_id, bsuid, parent_bsuid FROM contact")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(
        contacts, 40,
        "one contact per customer, parent BSUIDs included: {who:?}"
    );
    // Imported again: nothing changes.
    let again = coexist_testkit::feed_all(&store, &bodies, NOW + 10).await;
    assert_eq!(again.applied, 0, "{again:?}");
    assert_eq!(exported(&store).await, all);
    // Replayed into a new mirror: the same mirror.
    let replay = Store::open_in_memory().await.unwrap();
    coexist_testkit::feed_all(&replay, &bodies, NOW).await;
    assert_eq!(exported(&replay).await, all);
}
