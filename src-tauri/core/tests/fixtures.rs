//! Every fixture of `shared/fixtures/webhooks`, applied alone, together and twice, must leave the
//! mirror exactly as `shared/fixtures/README.md` says.

use coexist_core::webhook::{apply_pending, Rules, SignatureVerdict};
use coexist_core::{FixedClock, Store};
use sqlx::Row;

fn body(name: &str) -> Vec<u8> {
    coexist_testkit::fixture(name)
}

fn all_names() -> Vec<String> {
    coexist_testkit::fixture_names()
}

const NOW: i64 = 1_762_100_000;

async fn feed(store: &Store, names: &[&str]) {
    let bodies: Vec<Vec<u8>> = names.iter().map(|n| body(n)).collect();
    coexist_testkit::feed_all(store, &bodies, NOW).await;
}

async fn mirror(names: &[&str]) -> Store {
    let store = Store::open_in_memory().await.unwrap();
    feed(&store, names).await;
    store
}

/// Everything the mirror holds except the journal, as text, to compare two mirrors.
async fn snapshot(store: &Store) -> String {
    let pool = store.pool();
    let mut out = serde_json::to_string(&store.export_messages().await.unwrap()).unwrap();
    let contacts = sqlx::query(
        "SELECT wa_id, bsuid, name, profile_name, username, country, source, removed_at FROM contact ORDER BY wa_id, bsuid",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for r in contacts {
        out.push_str(&format!(
            "\nC {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            r.get::<Option<String>, _>(0),
            r.get::<Option<String>, _>(1),
            r.get::<Option<String>, _>(2),
            r.get::<Option<String>, _>(3),
            r.get::<Option<String>, _>(4),
            r.get::<Option<String>, _>(5),
            r.get::<String, _>(6),
            r.get::<Option<i64>, _>(7)
        ));
    }
    let convs = sqlx::query(
        "SELECT COALESCE(c.wa_id, c.bsuid), v.last_message_at, m.wamid, v.last_inbound_at, v.free_entry_until, v.unread,
                v.automation_paused_until
         FROM conversation v JOIN contact c ON c.id = v.contact_id LEFT JOIN message m ON m.id = v.last_message_id
         ORDER BY 1",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    for r in convs {
        out.push_str(&format!(
            "\nV {:?} {:?} {:?} {:?} {:?} {:?} {:?}",
            r.get::<String, _>(0),
            r.get::<Option<i64>, _>(1),
            r.get::<Option<String>, _>(2),
            r.get::<Option<i64>, _>(3),
            r.get::<Option<i64>, _>(4),
            r.get::<i64, _>(5),
            r.get::<Option<i64>, _>(6)
        ));
    }
    let consent: Vec<(String, String, String, i64)> =
        sqlx::query_as("SELECT kind, source, COALESCE(source_ref, ''), at FROM consent ORDER BY at, source_ref")
            .fetch_all(pool)
            .await
            .unwrap();
    let reminders: Vec<(String, String, i64)> =
        sqlx::query_as("SELECT kind, urgency, due_at FROM reminder ORDER BY due_at")
            .fetch_all(pool)
            .await
            .unwrap();
    let account: (String, Option<String>, String, i64) =
        sqlx::query_as("SELECT link_state, link_reason, history_state, history_progress FROM account")
            .fetch_one(pool)
            .await
            .unwrap();
    out.push_str(&format!("\n{consent:?}\n{reminders:?}\n{account:?}"));
    out
}

async fn scalar_i64(store: &Store, sql: &str) -> Option<i64> {
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap()
}

async fn scalar_str(store: &Store, sql: &str) -> Option<String> {
    sqlx::query_scalar(sql).fetch_one(store.pool()).await.unwrap()
}

#[tokio::test]
async fn all_together_in_file_order() {
    let names = all_names();
    assert_eq!(names.len(), 23, "the fixture set changed: {names:?}");
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let store = mirror(&refs).await;
    let s = store.stats().await.unwrap();
    assert_eq!((s.contacts.active, s.contacts.removed), (5, 1));
    assert_eq!(
        (
            s.messages.customer,
            s.messages.phone,
            s.messages.api,
            s.messages.history
        ),
        (4, 2, 3, 6)
    );
    assert_eq!(
        (
            s.journal.received,
            s.journal.applied,
            s.journal.failed,
            s.journal.skipped
        ),
        (23, 21, 1, 1)
    );
    assert_eq!(s.history.progress, 100);
    assert_eq!(s.link, "connected");
}

#[tokio::test]
async fn applying_everything_twice_changes_nothing() {
    let names = all_names();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let store = mirror(&refs).await;
    let before = snapshot(&store).await;
    let stats_before = store.stats().await.unwrap();
    // Exact redeliveries are recognised by the journal...
    feed(&store, &refs).await;
    assert_eq!(store.stats().await.unwrap(), stats_before);
    // ...and the same events in a different body (new sha) are recognised by the applier.
    let clock = FixedClock::new(NOW);
    for n in &refs {
        let mut b = body(n);
        b.extend_from_slice(b"\n ");
        store.journal_append(&b, SignatureVerdict::Imported, NOW).await.unwrap();
    }
    apply_pending(&store, &Rules::default(), &clock).await.unwrap();
    assert_eq!(snapshot(&store).await, before);
}

#[tokio::test]
async fn each_fixture_alone_applied_twice_is_stable() {
    for name in all_names() {
        let store = mirror(&[&name]).await;
        let once = snapshot(&store).await;
        let mut b = body(&name);
        b.extend_from_slice(b" ");
        store.journal_append(&b, SignatureVerdict::Imported, NOW).await.unwrap();
        apply_pending(&store, &Rules::default(), &FixedClock::new(NOW))
            .await
            .unwrap();
        assert_eq!(
            snapshot(&store).await,
            once,
            "{name} changed the mirror when applied twice"
        );
    }
}

#[tokio::test]
async fn inbound_text_opens_the_service_window() {
    let store = mirror(&["01_"]).await;
    let row = sqlx::query("SELECT c.wa_id, c.bsuid, c.profile_name, v.last_inbound_at, v.unread, m.origin, m.direction, m.status
                           FROM message m JOIN contact c ON c.id = m.contact_id JOIN conversation v ON v.contact_id = c.id
                           WHERE m.wamid = 'wamid.IN0001'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(row.get::<String, _>(0), "919876543210");
    assert_eq!(row.get::<String, _>(1), "IN.1a2b3c4d5e");
    assert_eq!(row.get::<String, _>(2), "Asha Verma");
    assert_eq!(row.get::<i64, _>(3), 1_761_900_000);
    assert_eq!(row.get::<i64, _>(4), 1);
    assert_eq!(row.get::<String, _>(5), "customer");
    assert_eq!(row.get::<String, _>(6), "inbound");
    assert_eq!(row.get::<Option<String>, _>(7), None);
    let convs = store.list_conversations(&Default::default(), 10, 0).await.unwrap();
    assert_eq!(convs[0].service_window_open_until, Some(1_761_900_000 + 24 * 3600));
}

#[tokio::test]
async fn bsuid_only_contact() {
    let store = mirror(&["02_"]).await;
    let (wa, bsuid, username): (Option<String>, Option<String>, Option<String>) =
        sqlx::query_as("SELECT wa_id, bsuid, username FROM contact")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        (wa, bsuid.as_deref(), username.as_deref()),
        (None, Some("BR.99zz88yy77"), Some("@marco.p"))
    );
}

#[tokio::test]
async fn ctwa_referral_opens_free_entry_point() {
    let store = mirror(&["03_"]).await;
    let until = scalar_i64(&store, "SELECT free_entry_until FROM conversation").await;
    assert_eq!(until, Some(1_761_900_200 + 72 * 3600));
    assert_eq!(
        scalar_i64(&store, "SELECT last_inbound_at FROM conversation").await,
        Some(1_761_900_200)
    );
}

#[tokio::test]
async fn status_sent_creates_unknown_api_message_with_pricing_and_token() {
    let store = mirror(&["04_"]).await;
    let r = sqlx::query("SELECT origin, status, pricing_model, pricing_type, pricing_category, pricing_billable, callback_data, content_known, contact_id IS NOT NULL FROM message")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(r.get::<String, _>(0), "api");
    assert_eq!(r.get::<String, _>(1), "sent");
    assert_eq!(r.get::<String, _>(2), "PMP");
    assert_eq!(r.get::<String, _>(3), "regular");
    assert_eq!(r.get::<String, _>(4), "marketing");
    assert!(r.get::<bool, _>(5));
    assert_eq!(r.get::<String, _>(6), "outbox:1");
    assert!(!r.get::<bool, _>(7));
    assert!(r.get::<bool, _>(8));
}

#[tokio::test]
async fn read_stays_read_when_delivered_arrives_later() {
    let store = mirror(&["04_", "05_"]).await;
    let (status, delivered_at, category): (String, Option<i64>, Option<String>) =
        sqlx::query_as("SELECT status, delivered_at, pricing_category FROM message WHERE wamid = 'wamid.OUT0001'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(status, "read");
    assert_eq!(delivered_at, Some(1_761_900_350));
    assert_eq!(category.as_deref(), Some("marketing"));
    // 05 alone, too.
    let store = mirror(&["05_"]).await;
    assert_eq!(
        scalar_str(&store, "SELECT status FROM message").await.as_deref(),
        Some("read")
    );
}

#[tokio::test]
async fn failed_status_keeps_a_readable_reason() {
    let store = mirror(&["06_"]).await;
    let (status, code, error): (String, i64, String) = sqlx::query_as("SELECT status, error_code, error FROM message")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!((status.as_str(), code), ("failed", 131047));
    assert!(error.contains("24 hours") && error.contains("template"), "{error}");
}

#[tokio::test]
async fn failed_never_overrides_delivery() {
    let store = mirror(&["05_"]).await;
    let failed = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"statuses":[{"id":"wamid.OUT0001","status":"failed","timestamp":"1761900999","recipient_id":"919876543210","errors":[{"code":131026}]}]}}]}]}"#;
    store
        .journal_append(failed, SignatureVerdict::Imported, NOW)
        .await
        .unwrap();
    apply_pending(&store, &Rules::default(), &FixedClock::new(NOW))
        .await
        .unwrap();
    assert_eq!(
        scalar_str(&store, "SELECT status FROM message").await.as_deref(),
        Some("read")
    );
}

#[tokio::test]
async fn echo_is_phone_origin_and_leaves_the_window_alone() {
    let store = mirror(&["07_"]).await;
    let r = sqlx::query("SELECT m.origin, m.direction, c.wa_id, v.last_inbound_at, v.unread, v.automation_paused_until
                         FROM message m JOIN contact c ON c.id = m.contact_id JOIN conversation v ON v.contact_id = c.id")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(r.get::<String, _>(0), "phone");
    assert_eq!(r.get::<String, _>(1), "outbound");
    assert_eq!(r.get::<String, _>(2), "919876543210");
    assert_eq!(r.get::<Option<i64>, _>(3), None);
    assert_eq!(r.get::<i64, _>(4), 0);
    assert_eq!(
        r.get::<Option<i64>, _>(5),
        Some(1_761_900_600 + Rules::default().automation_pause_secs)
    );
    // An echo after a customer message keeps the window where the customer opened it.
    let store = mirror(&["01_", "07_"]).await;
    assert_eq!(
        scalar_i64(&store, "SELECT last_inbound_at FROM conversation").await,
        Some(1_761_900_000)
    );
}

#[tokio::test]
async fn echo_image_keeps_media_id() {
    let store = mirror(&["08_"]).await;
    let (kind, media, text): (String, String, String) = sqlx::query_as("SELECT type, media_id, text FROM message")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(
        (kind.as_str(), media.as_str(), text.as_str()),
        ("image", "1339522734477770", "Here it is")
    );
}

#[tokio::test]
async fn edit_and_revoke_apply_in_either_order() {
    for order in [["07_", "08_", "09_"], ["09_", "07_", "08_"]] {
        let store = mirror(&order).await;
        let (text, edited): (String, bool) =
            sqlx::query_as("SELECT text, edited FROM message WHERE wamid = 'wamid.ECHO0001'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(
            (text.as_str(), edited),
            ("Yes! M and L are in stock.", true),
            "order {order:?}"
        );
        let previous = scalar_str(
            &store,
            "SELECT previous_text FROM message_edit WHERE original_wamid = 'wamid.ECHO0001'",
        )
        .await;
        assert_eq!(
            previous.as_deref(),
            Some("Yes! M is in stock, shall I keep one aside for you?")
        );
        assert_eq!(
            scalar_i64(&store, "SELECT revoked FROM message WHERE wamid = 'wamid.ECHO0002'").await,
            Some(1)
        );
        assert_eq!(store.stats().await.unwrap().messages.phone, 2);
    }
}

/// Fixture 21: a customer's edit in Meta's documented shape (`edit.message`) changes the words of
/// IN0001, keeps the earlier ones in the edit's history, and is no message of its own, in either
/// order and applied twice.
#[tokio::test]
async fn a_customer_edit_in_the_documented_shape_changes_the_words() {
    for order in [["01_", "21_"], ["21_", "01_"]] {
        let store = mirror(&order).await;
        feed(&store, &order).await;
        let (text, edited): (Option<String>, bool) =
            sqlx::query_as("SELECT text, edited FROM message WHERE wamid = 'wamid.IN0001'")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert_eq!(
            (text.as_deref(), edited),
            (Some("Hi, is the blue kurta still available in L?"), true),
            "order {order:?}"
        );
        let previous = scalar_str(
            &store,
            "SELECT previous_text FROM message_edit WHERE original_wamid = 'wamid.IN0001'",
        )
        .await;
        assert!(previous.is_some_and(|p| p != "Hi, is the blue kurta still available in L?"));
        assert_eq!(store.stats().await.unwrap().messages.customer, 1);
        let exported = serde_json::to_value(store.export_messages().await.unwrap()).unwrap();
        assert_eq!(exported.as_array().unwrap().len(), 1);
        assert_eq!(exported[0]["text"], "Hi, is the blue kurta still available in L?");
    }
}

#[tokio::test]
async fn history_out_of_order_lands_as_read_past() {
    let store = mirror(&["10_", "11_"]).await;
    let s = store.stats().await.unwrap();
    assert_eq!((s.history.state.as_str(), s.history.progress), ("in_progress", 80));
    feed(&store, &["12_"]).await;
    let s = store.stats().await.unwrap();
    assert_eq!(
        (s.history.state.as_str(), s.history.progress, s.messages.history),
        ("complete", 100, 6)
    );
    assert_eq!(
        scalar_i64(&store, "SELECT SUM(unread) FROM conversation").await,
        Some(0)
    );
    assert_eq!(
        scalar_i64(
            &store,
            "SELECT COUNT(*) FROM conversation WHERE last_inbound_at IS NOT NULL"
        )
        .await,
        Some(0)
    );
    let statuses: Vec<(String, Option<String>, String)> =
        sqlx::query_as("SELECT wamid, status, direction FROM message ORDER BY wamid")
            .fetch_all(store.pool())
            .await
            .unwrap();
    let expect = [
        ("wamid.H0001", Some("read"), "inbound"),
        ("wamid.H0002", Some("sent"), "outbound"),
        ("wamid.H0003", Some("read"), "inbound"),
        ("wamid.H0004", Some("read"), "outbound"),
        ("wamid.H0005", Some("delivered"), "outbound"),
        ("wamid.H0006", Some("read"), "inbound"),
    ];
    let got: Vec<(&str, Option<&str>, &str)> = statuses
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_deref(), c.as_str()))
        .collect();
    assert_eq!(got, expect);
    let lena: (Option<String>, String, Option<String>) =
        sqlx::query_as("SELECT wa_id, bsuid, username FROM contact WHERE bsuid = 'US.4f4f4f'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(lena, (None, "US.4f4f4f".into(), Some("@lena".into())));
}

#[tokio::test]
async fn history_declined_is_no_history_not_failure() {
    let store = mirror(&["13_"]).await;
    let s = store.stats().await.unwrap();
    assert_eq!(s.history.state, "declined");
    assert_eq!((s.journal.applied, s.journal.failed), (1, 0));
}

#[tokio::test]
async fn media_followup_fills_the_placeholder() {
    let store = mirror(&["10_", "14_"]).await;
    let (kind, media, available): (String, String, bool) =
        sqlx::query_as("SELECT type, media_id, media_available FROM message WHERE wamid = 'wamid.H0005'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), media.as_str(), available),
        ("image", "24230790383178626", true)
    );
    assert_eq!(store.stats().await.unwrap().messages.history, 3);
    // Follow-up first, placeholder later: the media is not overwritten.
    let store = mirror(&["14_", "10_"]).await;
    assert_eq!(
        scalar_str(&store, "SELECT media_id FROM message WHERE wamid = 'wamid.H0005'")
            .await
            .as_deref(),
        Some("24230790383178626")
    );
    let status = scalar_str(&store, "SELECT status FROM message WHERE wamid = 'wamid.H0005'").await;
    assert_eq!(status.as_deref(), Some("delivered"));
    assert_eq!(store.stats().await.unwrap().messages.history, 3);
}

#[tokio::test]
async fn state_sync_adds_and_removes_contacts() {
    let store = mirror(&["15_"]).await;
    let s = store.stats().await.unwrap();
    assert_eq!((s.contacts.active, s.contacts.removed), (1, 1));
    let ravi: (Option<String>, Option<i64>) =
        sqlx::query_as("SELECT name, removed_at FROM contact WHERE wa_id = '919812345678'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(ravi, (Some("Ravi (supplier)".into()), Some(1_761_700_500)));
}

#[tokio::test]
async fn account_updates_move_the_link() {
    let store = mirror(&["16_"]).await;
    assert_eq!(store.stats().await.unwrap().link, "dropped");
    let (urgency, detail): (String, String) =
        sqlx::query_as("SELECT urgency, detail FROM reminder WHERE kind = 'link_dropped'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(urgency, "urgent");
    assert!(detail.contains("14 days"), "{detail}");
    assert_eq!(mirror(&["17_"]).await.stats().await.unwrap().link, "offboarded");
    assert_eq!(
        mirror(&["16_", "17_", "18_"]).await.stats().await.unwrap().link,
        "connected"
    );
    // A late, older event does not undo a newer one.
    assert_eq!(mirror(&["18_", "16_"]).await.stats().await.unwrap().link, "connected");
}

#[tokio::test]
async fn stop_keyword_records_an_opt_out_and_sends_nothing() {
    let store = mirror(&["19_"]).await;
    let (kind, source, source_ref): (String, String, String) =
        sqlx::query_as("SELECT kind, source, source_ref FROM consent")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        (kind.as_str(), source.as_str(), source_ref.as_str()),
        ("opt_out", "keyword", "wamid.ID0002")
    );
    assert_eq!(
        scalar_i64(&store, "SELECT COUNT(*) FROM message WHERE direction = 'outbound'").await,
        Some(0)
    );
    // Echoes and history never count as opt-outs.
    let echo_stop = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"smb_message_echoes","value":{"message_echoes":[{"from":"15550783881","to":"6281234567890","id":"wamid.E9","timestamp":"1761901000","type":"text","text":{"body":"STOP"}}]}}]}]}"#;
    let store = Store::open_in_memory().await.unwrap();
    store
        .journal_append(echo_stop, SignatureVerdict::Imported, NOW)
        .await
        .unwrap();
    apply_pending(&store, &Rules::default(), &FixedClock::new(NOW))
        .await
        .unwrap();
    assert_eq!(scalar_i64(&store, "SELECT COUNT(*) FROM consent").await, Some(0));
}

#[tokio::test]
async fn free_customer_service_delivery_keeps_reported_type() {
    let store = mirror(&["20_"]).await;
    let (billable, kind, category, status): (bool, String, String, String) =
        sqlx::query_as("SELECT pricing_billable, pricing_type, pricing_category, status FROM message")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        (billable, kind.as_str(), category.as_str(), status.as_str()),
        (false, "free_customer_service", "utility", "delivered")
    );
}

#[tokio::test]
async fn malformed_is_journaled_with_its_error_and_nothing_else_lost() {
    let store = mirror(&["01_", "90_", "02_"]).await;
    let s = store.stats().await.unwrap();
    assert_eq!((s.journal.received, s.journal.applied, s.journal.failed), (3, 2, 1));
    assert_eq!(s.messages.customer, 2);
    let (body, error): (Vec<u8>, String) = sqlx::query_as(
        "SELECT j.body, a.error FROM journal j JOIN journal_apply a ON a.seq = j.seq WHERE a.outcome = 'failed'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(body, self::body("90_"));
    assert!(error.contains("not a readable webhook body"), "{error}");
}

#[tokio::test]
async fn unknown_field_is_skipped_not_an_error() {
    let store = mirror(&["91_"]).await;
    let s = store.stats().await.unwrap();
    assert_eq!((s.journal.skipped, s.journal.failed, s.journal.applied), (1, 0, 0));
    let error = scalar_str(&store, "SELECT error FROM journal_apply").await.unwrap();
    assert!(error.contains("message_template_quality_update"));
}

#[tokio::test]
async fn status_then_history_joins_contact_by_phone_and_bsuid() {
    // 06 knows 5511987654321 by phone only; 10 names the same person with a BSUID.
    let store = mirror(&["06_", "10_"]).await;
    assert_eq!(store.stats().await.unwrap().contacts.active, 1);
    // The other way round: BSUID-only first, then a message naming both joins the two records.
    let a = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"contacts":[{"profile":{"name":"X"},"wa_id":"","user_id":"US.j1"}],"messages":[{"from":"","from_user_id":"US.j1","id":"wamid.J1","timestamp":"100","type":"text","text":{"body":"a"}}]}}]}]}"#;
    let b = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"contacts":[{"profile":{"name":"X"},"wa_id":"15551230000"}],"messages":[{"from":"15551230000","id":"wamid.J2","timestamp":"200","type":"text","text":{"body":"b"}}]}}]}]}"#;
    let c = br#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":{"contacts":[{"profile":{"name":"X"},"wa_id":"15551230000","user_id":"US.j1"}],"messages":[{"from":"15551230000","from_user_id":"US.j1","id":"wamid.J3","timestamp":"300","type":"text","text":{"body":"c"}}]}}]}]}"#;
    let store = Store::open_in_memory().await.unwrap();
    for body in [&a[..], &b[..], &c[..]] {
        store
            .journal_append(body, SignatureVerdict::Imported, NOW)
            .await
            .unwrap();
    }
    apply_pending(&store, &Rules::default(), &FixedClock::new(NOW))
        .await
        .unwrap();
    assert_eq!(store.stats().await.unwrap().contacts.active, 1);
    assert_eq!(scalar_i64(&store, "SELECT unread FROM conversation").await, Some(3));
    assert_eq!(
        scalar_i64(&store, "SELECT COUNT(DISTINCT contact_id) FROM message").await,
        Some(1)
    );
}

#[tokio::test]
async fn conversation_list_is_newest_first_with_origin() {
    let store = mirror(&["01_", "02_", "07_", "11_"]).await;
    let list = store.list_conversations(&Default::default(), 50, 0).await.unwrap();
    let got: Vec<(String, Option<String>)> = list
        .iter()
        .map(|c| (c.display_name.clone(), c.last_origin.map(|o| o.to_string())))
        .collect();
    assert_eq!(
        got,
        vec![
            ("Asha Verma".to_string(), Some("phone".to_string())),
            ("@marco.p".to_string(), Some("customer".to_string()))
        ]
    );
}

#[tokio::test]
async fn thread_pages_oldest_first_and_reading_clears_unread() {
    let store = mirror(&["11_", "01_", "07_", "08_", "09_"]).await;
    let asha: i64 = scalar_i64(&store, "SELECT id FROM contact WHERE wa_id = '919876543210'")
        .await
        .unwrap();
    let page = store.thread(asha, None, 3).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|m| m.wamid.as_str()).collect();
    assert_eq!(ids, ["wamid.IN0001", "wamid.ECHO0001", "wamid.ECHO0002"]);
    assert!(page[1].edited && page[2].revoked);
    let older = store.thread(asha, Some(page[0].id), 10).await.unwrap();
    let ids: Vec<&str> = older.iter().map(|m| m.wamid.as_str()).collect();
    assert_eq!(ids, ["wamid.H0001", "wamid.H0002"]);
    assert_eq!(scalar_i64(&store, "SELECT unread FROM conversation").await, Some(1));
    store.mark_read(asha).await.unwrap();
    assert_eq!(scalar_i64(&store, "SELECT unread FROM conversation").await, Some(0));
}

#[tokio::test]
async fn two_appliers_on_one_workspace_apply_each_body_once() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open_dir(dir.path()).await.unwrap();
    let b = Store::open_dir(dir.path()).await.unwrap();
    let names = all_names();
    for n in &names {
        a.journal_append(&body(n), SignatureVerdict::Imported, NOW)
            .await
            .unwrap();
    }
    let clock = FixedClock::new(NOW);
    let rules = Rules::default();
    let (ra, rb) = tokio::join!(apply_pending(&a, &rules, &clock), apply_pending(&b, &rules, &clock));
    let (ra, rb) = (ra.unwrap(), rb.unwrap());
    assert_eq!(
        ra.total() + rb.total(),
        23,
        "every body applied exactly once: {ra:?} {rb:?}"
    );
    assert_eq!(ra.failed + rb.failed, 1, "only the malformed body fails");
    let s = a.stats().await.unwrap();
    assert_eq!(
        (
            s.messages.customer,
            s.messages.phone,
            s.messages.api,
            s.messages.history
        ),
        (4, 2, 3, 6)
    );
}

#[tokio::test]
async fn inbox_filters_vip_and_assignment() {
    use coexist_core::store::ConversationFilter as F;
    let store = mirror(&all_names().iter().map(String::as_str).collect::<Vec<_>>()).await;
    let all = store.list_conversations(&F::All, 100, 0).await.unwrap();
    let first = all[0].contact_id;
    store.set_vip(first, true, "ana", NOW).await.unwrap();
    store.set_assignee(first, Some("ana"), "ana", NOW).await.unwrap();
    let ids =
        |rows: Vec<coexist_core::store::ConversationRow>| rows.into_iter().map(|r| r.contact_id).collect::<Vec<_>>();
    assert_eq!(
        ids(store.list_conversations(&F::Vip, 100, 0).await.unwrap()),
        vec![first]
    );
    assert_eq!(
        ids(store
            .list_conversations(&F::AssignedTo("ana".into()), 100, 0)
            .await
            .unwrap()),
        vec![first]
    );
    assert_eq!(
        store.list_conversations(&F::Unassigned, 100, 0).await.unwrap().len(),
        all.len() - 1
    );
    let unread = store.list_conversations(&F::Unread, 100, 0).await.unwrap();
    assert!(!unread.is_empty() && unread.iter().all(|r| r.unread > 0));
    let needs = store.list_conversations(&F::NeedsReply, 100, 0).await.unwrap();
    assert!(needs
        .iter()
        .all(|r| r.last_origin == Some(coexist_core::states::Origin::Customer)));
    assert!(needs.len() < all.len());
    assert!(store.audit_verify().await.unwrap().ok);
}
