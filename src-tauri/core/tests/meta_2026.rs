//! Meta as of late 2026 (issue 15): `account_update` events and disconnect reasons in the owner's
//! words, sending held where it stops, and nothing failing on an event or reason never seen.

use coexist_core::reminders::{self, MemoryNotifier, Urgency};

use coexist_core::Store;
use serde_json::{json, Value};

const T0: i64 = 1_795_000_000;

async fn connected() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    store
        .record_connection(Some("WABA1"), Some("PN1"), Some("15550001111"), T0, T0)
        .await
        .unwrap();
    (dir, store)
}

/// Journals and applies one change of `field`, which must apply cleanly.
async fn feed(store: &Store, field: &str, value: Value, at: i64) {
    let r = coexist_testkit::feed(store, coexist_testkit::envelope_at(field, value, at), at).await;
    assert_eq!(r.failed, 0, "{:?}", store.failed_journal_rows(5).await.unwrap());
}

async fn update(store: &Store, value: Value, at: i64) {
    feed(store, "account_update", value, at).await;
}

async fn link(store: &Store) -> (String, Option<String>) {
    sqlx::query_as("SELECT link_state, link_reason FROM account WHERE id = 1")
        .fetch_one(store.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn every_disconnect_reason_is_told_in_words_and_an_unknown_one_still_disconnects() {
    for (reason, words) in [
        ("PRIMARY_INACTIVITY", "14 days"),
        ("COMPANION_INACTIVITY", "30 days"),
        ("BUSINESS_DOWNGRADE", "plain WhatsApp Business app"),
        ("ACCOUNT_DISCONNECTED", "Business Platform"),
        ("CHANGE_NUMBER", "changed its phone number"),
        ("USER_RE_REGISTERED", "registered again"),
        ("SOMETHING_NEW_IN_2027", "SOMETHING_NEW_IN_2027"),
    ] {
        let (_dir, store) = connected().await;
        update(
            &store,
            json!({"phone_number": "15550001111", "event": "PARTNER_REMOVED",
                   "disconnection_info": {"reason": reason, "initiated_by": "SYSTEM"}}),
            T0 + 100,
        )
        .await;
        assert_eq!(link(&store).await, ("dropped".into(), Some(reason.into())));
        let n = MemoryNotifier::default();
        let shown = reminders::tick(&store, &n, T0 + 101).await.unwrap();
        let alarm = shown.iter().find(|r| r.kind == "link_dropped").expect("an alarm");
        assert!(
            alarm.detail.as_deref().unwrap().contains(words),
            "{reason}: {:?}",
            alarm.detail
        );
        assert!(n.take().iter().any(|x| x.urgency == Urgency::Urgent));
    }
}

#[tokio::test]
async fn events_that_stop_sending_hold_it_and_tell_the_owner_the_others_inform() {
    for (event, extra, state, title) in [
        ("ACCOUNT_OFFBOARDED", json!({}), "offboarded", "suspended"),
        (
            "PARTNER_APP_UNINSTALLED",
            json!({}),
            "dropped",
            "access to WhatsApp was removed",
        ),
        ("ACCOUNT_DELETED", json!({}), "dropped", "deleted"),
        (
            "DISABLED_UPDATE",
            json!({"ban_info": {"waba_ban_state": "DISABLE", "waba_ban_date": "2026-11-02"}}),
            "dropped",
            "disabled",
        ),
        (
            "ACCOUNT_RESTRICTION",
            json!({"restriction_info": [{"restriction_type": "RESTRICTED_ADD_PHONE_NUMBER_ACTION", "expiration": 1795600000}]}),
            "connected",
            "restricted",
        ),
        (
            "ACCOUNT_VIOLATION",
            json!({"violation_info": {"violation_type": "SCAM"}}),
            "connected",
            "violation",
        ),
    ] {
        let (_dir, store) = connected().await;
        let mut value = json!({"phone_number": "15550001111", "event": event});
        value
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        update(&store, value, T0 + 100).await;
        assert_eq!(link(&store).await.0, state, "{event}");
        let n = MemoryNotifier::default();
        reminders::tick(&store, &n, T0 + 101).await.unwrap();
        let shown = n.take();
        let told = shown
            .iter()
            .find(|x| x.title.contains(title))
            .unwrap_or_else(|| panic!("{event}: {shown:?}"));
        assert_eq!(told.urgency == Urgency::Urgent, state != "connected", "{event}");
        if event == "DISABLED_UPDATE" {
            assert!(
                told.body.contains("2026-11-02") && told.body.contains("(2026-11-02, disable)"),
                "{}",
                told.body
            );
        }
    }
    // Reconnecting after an offboarding lets sending resume; an unknown event is journaled only.
    let (_dir, store) = connected().await;
    update(&store, json!({"event": "ACCOUNT_OFFBOARDED"}), T0 + 10).await;
    update(&store, json!({"event": "ACCOUNT_RECONNECTED"}), T0 + 20).await;
    assert_eq!(link(&store).await, ("connected".into(), None));
    update(&store, json!({"event": "SOME_FUTURE_EVENT"}), T0 + 30).await;
    assert_eq!(link(&store).await.0, "connected");
}

fn inbound(from: Option<&str>, bsuid: Option<&str>, id: &str, at: i64) -> Value {
    let mut m = json!({"id": id, "timestamp": at.to_string(), "type": "text", "text": {"body": format!("hello {id}")}});
    let mut c = json!({"profile": {"name": "Dana"}});
    if let Some(f) = from {
        m["from"] = json!(f);
        c["wa_id"] = json!(f);
    }
    if let Some(b) = bsuid {
        m["from_user_id"] = json!(b);
        c["user_id"] = json!(b);
    }
    json!({"messaging_product": "whatsapp", "contacts": [c], "messages": [m]})
}

async fn feed_messages(store: &Store, value: Value, at: i64) {
    feed(store, "messages", value, at).await;
}

async fn contacts_of(store: &Store) -> Vec<(Option<String>, Option<String>, i64)> {
    sqlx::query_as(
        "SELECT wa_id, bsuid, (SELECT COUNT(*) FROM message m WHERE m.contact_id = c.id) FROM contact c ORDER BY id",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

/// `user_changed_number` and `user_changed_user_id`: the customer goes on as the same contact
/// under the new id, with their thread; a contact already known by the new id is folded in.
#[tokio::test]
async fn a_changed_number_or_user_id_keeps_one_contact_and_one_thread() {
    let (_dir, store) = connected().await;
    feed_messages(
        &store,
        inbound(Some("447700900123"), Some("GB.AAA"), "wamid.N1", T0),
        T0,
    )
    .await;
    // The new number is already in the address book as someone else (state sync, say).
    sqlx::query("INSERT INTO contact (wa_id, source, created_at) VALUES ('447700900999', 'manual', 0)")
        .execute(store.pool())
        .await
        .unwrap();
    feed_messages(
        &store,
        json!({"messaging_product": "whatsapp", "messages": [{"from": "447700900123", "id": "wamid.SYS1",
            "timestamp": (T0 + 10).to_string(), "type": "system",
            "system": {"body": "Dana changed from +44 7700 900123 to +44 7700 900999", "new_wa_id": "447700900999",
                       "type": "user_changed_number"}}]}),
        T0 + 10,
    )
    .await;
    feed_messages(
        &store,
        inbound(Some("447700900999"), Some("GB.AAA"), "wamid.N2", T0 + 20),
        T0 + 20,
    )
    .await;
    assert_eq!(
        contacts_of(&store).await,
        vec![(Some("447700900999".into()), Some("GB.AAA".into()), 2)],
        "one contact under the new number, both messages in its thread"
    );

    // A customer known only by a BSUID gets a new one.
    feed_messages(&store, inbound(None, Some("BR.OLD1"), "wamid.B1", T0 + 30), T0 + 30).await;
    feed_messages(
        &store,
        json!({"messaging_product": "whatsapp", "messages": [{"from_user_id": "BR.OLD1", "id": "wamid.SYS2",
            "timestamp": (T0 + 40).to_string(), "type": "system",
            "system": {"body": "User changed", "user_id": "BR.NEW1", "previous_user_id": "BR.OLD1",
                       "type": "user_changed_user_id"}}]}),
        T0 + 40,
    )
    .await;
    feed_messages(&store, inbound(None, Some("BR.NEW1"), "wamid.B2", T0 + 50), T0 + 50).await;
    let all = contacts_of(&store).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1], (None, Some("BR.NEW1".into()), 2));
}

/// History statuses now include `ERROR` and `PENDING`: an error is a failed message, a pending one
/// has no delivery status yet; neither fails the chunk, and the rest of it lands.
#[tokio::test]
async fn history_error_and_pending_statuses_land_with_the_rest_of_the_chunk() {
    let (_dir, store) = connected().await;
    let msg = |id: &str, from: &str, status: &str| {
        let mut m = json!({"from": from, "id": id, "timestamp": (T0 - 86_400).to_string(), "type": "text",
                           "text": {"body": format!("history {id}")}, "history_context": {"status": status}});
        if from == "15550001111" {
            m["to"] = json!("5511987650000");
        }
        m
    };
    let value = json!({"messaging_product": "whatsapp", "history": [{
    "metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
    "threads": [{"id": "5511987650000", "context": {"wa_id": "5511987650000"}, "messages": [
        msg("wamid.HE1", "15550001111", "ERROR"),
        msg("wamid.HE2", "15550001111", "PENDING"),
        msg("wamid.HE3", "15550001111", "DELIVERED"),
        msg("wamid.HE4", "5511987650000", "READ"),
        msg("wamid.HE5", "15550001111", "SOMETHING_NEW"),
    ]}]}]});
    feed(&store, "history", value, T0).await;
    let rows: Vec<(String, Option<String>)> = sqlx::query_as("SELECT wamid, status FROM message ORDER BY wamid")
        .fetch_all(store.pool())
        .await
        .unwrap();
    let got: Vec<(&str, Option<&str>)> = rows.iter().map(|(w, s)| (w.as_str(), s.as_deref())).collect();
    assert_eq!(
        got,
        vec![
            // DESIGN §4: history's ERROR and PENDING are statuses of their own.
            ("wamid.HE1", Some("error")),
            ("wamid.HE2", Some("pending")),
            ("wamid.HE3", Some("delivered")),
            ("wamid.HE4", Some("read")),
            ("wamid.HE5", None),
        ]
    );
}

/// `user_preferences` naming the customer by BSUID only (no phone): the consent lands on the
/// contact known by that BSUID.
#[tokio::test]
async fn user_preferences_by_bsuid_only_reach_that_contact() {
    let (_dir, store) = connected().await;
    feed_messages(
        &store,
        inbound(None, Some("US.13491208655302741918"), "wamid.UP1", T0),
        T0,
    )
    .await;
    let prefs = json!({"messaging_product": "whatsapp",
        "contacts": [{"profile": {"name": "Dana"}, "user_id": "US.13491208655302741918"}],
        "user_preferences": [{"user_id": "US.13491208655302741918", "category": "marketing_messages",
                              "value": "stop", "detail": "User requested to stop marketing messages",
                              "timestamp": T0 + 60}]});
    feed(&store, "user_preferences", prefs, T0 + 60).await;
    let contacts = contacts_of(&store).await;
    assert_eq!(contacts.len(), 1, "no second contact: {contacts:?}");
    let consent: Vec<(String, String)> = sqlx::query_as("SELECT kind, source FROM consent")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(consent, vec![("opt_out".to_string(), "user_preferences".to_string())]);
}

/// `standby` (Meta's Business Agent answers the chat) and `messaging_handovers`: the customer's
/// messages are mirrored, the chat shows as the agent's and automation stays out; a handover to
/// this app ends that, a take-over by the agent starts it again. Nothing is dropped.
#[tokio::test]
async fn standby_chats_are_mirrored_shown_as_the_agents_and_handovers_follow() {
    use coexist_core::store::ConversationFilter;
    let (_dir, store) = connected().await;
    let agent = |store: &Store| {
        let store = store.clone();
        async move {
            let rows = store.list_conversations(&ConversationFilter::All, 10, 0).await.unwrap();
            assert_eq!(rows.len(), 1, "{rows:?}");
            (rows[0].agent_since, rows[0].automation_paused_until)
        }
    };
    feed(
        &store,
        "standby",
        inbound(Some("5511987650001"), None, "wamid.SB1", T0),
        T0,
    )
    .await;
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message WHERE wamid = 'wamid.SB1' AND origin = 'customer'")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(n, 1, "the standby message is in the mirror");
    let (since, paused) = agent(&store).await;
    assert_eq!(since, Some(T0));
    assert!(paused.is_some_and(|p| p > T0), "automation stays out: {paused:?}");

    let handover = |kind: &str, at: i64| {
        json!({"messaging_product": "whatsapp", "contacts": [{"wa_id": "5511987650001"}],
               "handovers": [{"from": "5511987650001", "timestamp": at.to_string(),
                              kind: {"new_owner_app_id": "123", "previous_owner_app_id": "456"}}]})
    };
    feed(
        &store,
        "messaging_handovers",
        handover("pass_thread_control", T0 + 60),
        T0 + 60,
    )
    .await;
    assert_eq!(agent(&store).await.0, None, "handed over to this app");
    feed(
        &store,
        "messaging_handovers",
        handover("take_thread_control", T0 + 120),
        T0 + 120,
    )
    .await;
    assert_eq!(agent(&store).await.0, Some(T0 + 120), "the agent took it back");
    assert_eq!(
        store.stats().await.unwrap().journal.skipped,
        0,
        "neither field is skipped"
    );
}

/// Customer edits and revokes arrive on `messages` (`type: edit` / `type: revoke`, naming the
/// original), in either order with the original.
#[tokio::test]
async fn customer_edits_and_revokes_on_messages_apply_in_either_order() {
    let (_dir, store) = connected().await;
    let from = "5511987650002";
    let edit = json!({"messaging_product": "whatsapp", "contacts": [{"wa_id": from}], "messages": [
        {"from": from, "id": "wamid.CE2", "timestamp": (T0 + 30).to_string(), "type": "edit",
         "edit": {"original_message_id": "wamid.CE1", "text": {"body": "two medium pizzas, please"}}}]});
    // The edit first, then its original: it still lands.
    feed_messages(&store, edit, T0 + 30).await;
    feed_messages(&store, inbound(Some(from), None, "wamid.CE1", T0), T0).await;
    feed_messages(&store, inbound(Some(from), None, "wamid.CE3", T0 + 40), T0 + 40).await;
    let revoke = json!({"messaging_product": "whatsapp", "contacts": [{"wa_id": from}], "messages": [
        {"from": from, "id": "wamid.CE4", "timestamp": (T0 + 50).to_string(), "type": "revoke",
         "revoke": {"original_message_id": "wamid.CE3"}}]});
    feed_messages(&store, revoke, T0 + 50).await;
    let rows: Vec<(String, Option<String>, bool, bool)> =
        sqlx::query_as("SELECT wamid, text, edited, revoked FROM message ORDER BY wamid")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "edits and revokes are events, not messages: {rows:?}");
    assert_eq!(
        (rows[0].1.as_deref(), rows[0].2),
        (Some("two medium pizzas, please"), true)
    );
    assert!(rows[1].3, "the second message is revoked: {rows:?}");
}

/// 2026 statuses: a failed status carries no `contacts`, only `recipient_user_id`; `pricing` is
/// absent on it; it lands on its message with Meta's reason.
#[tokio::test]
async fn a_failed_status_without_contacts_lands_on_its_message() {
    let (_dir, store) = connected().await;
    feed_messages(&store, inbound(None, Some("BR.99887766"), "wamid.FS0", T0), T0).await;
    let sent = json!({"messaging_product": "whatsapp", "statuses": [
        {"id": "wamid.FS1", "status": "sent", "timestamp": (T0 + 10).to_string(), "recipient_user_id": "BR.99887766",
         "pricing": {"pricing_model": "PMP", "type": "free_customer_service", "category": "service"}}]});
    feed_messages(&store, sent, T0 + 10).await;
    let failed = json!({"messaging_product": "whatsapp", "statuses": [
        {"id": "wamid.FS1", "status": "failed", "timestamp": (T0 + 20).to_string(), "recipient_user_id": "BR.99887766",
         "errors": [{"code": 131026, "title": "Message undeliverable"}]}]});
    feed_messages(&store, failed, T0 + 20).await;
    let (status, code, contact): (String, Option<i64>, Option<String>) = sqlx::query_as(
        "SELECT m.status, m.error_code, c.bsuid FROM message m LEFT JOIN contact c ON c.id = m.contact_id
         WHERE m.wamid = 'wamid.FS1'",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!(status, "failed");
    assert_eq!(code, Some(131026));
    assert_eq!(contact.as_deref(), Some("BR.99887766"), "found by its BSUID");
    assert_eq!(contacts_of(&store).await.len(), 1, "no second contact");
}
