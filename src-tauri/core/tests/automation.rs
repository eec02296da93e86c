//! Automation against a real SQLite mirror fed through the journal and applier: FAQ replies in
//! the customer's language, away and greeting, routing, human takeover and its expiry, stale
//! messages, follow-ups — and never a rule on history, echoes or statuses.

use coexist_core::automation::{decide, AutomationConfig};
use coexist_core::webhook::{apply_pending, Rules, SignatureVerdict};
use coexist_core::{FixedClock, Store};
use coexist_testkit::envelope;
use serde_json::json;

const T: i64 = 1_790_236_800; // a Thursday, 08:00 UTC
const H: i64 = 3600;
const ALICE: &str = "919800000001";

fn config() -> String {
    json!({
        "enabled": true,
        "max_age_minutes": 30,
        "business_hours": {"utc_offset_minutes": 330, "days": {"mon": ["09:00", "18:00"], "thu": ["09:00", "18:00"]},
                           "away_message": {"en": "We are closed now, back at 9.", "pt": "Estamos fechados."}, "away_every_hours": 12},
        "greeting": {"default": "Welcome to the shop!"},
        "faq": [{"name": "hours", "variants": {
            "en": {"keywords": ["opening hours", "open"], "reply": "We are open 9 to 6, Monday and Thursday."},
            "pt": {"keywords": ["horário", "aberto"], "reply": "Abrimos das 9 às 18."}}}],
        "routing": [{"name": "refunds", "keywords": ["refund"], "tag": "billing", "assign": "ana", "vip": true}],
        "follow_ups": [{"name": "nudge", "after_hours": 24, "template": "order_update", "language": "en"}]
    })
    .to_string()
}

struct W {
    store: Store,
    n: u32,
}

impl W {
    async fn new() -> W {
        let store = Store::open_in_memory().await.unwrap();
        store.set_automation_config(&config(), "owner", T).await.unwrap();
        W { store, n: 0 }
    }
    async fn feed(&self, b: Vec<u8>, at: i64) {
        self.store
            .journal_append(&b, SignatureVerdict::Imported, at)
            .await
            .unwrap();
        apply_pending(&self.store, &Rules::default(), &FixedClock::new(at))
            .await
            .unwrap();
    }
    fn id(&mut self) -> String {
        self.n += 1;
        format!("wamid.A{}", self.n)
    }
    async fn customer(&mut self, from: &str, text: &str, at: i64) {
        let id = self.id();
        self.feed(
            envelope("messages", json!({"messaging_product": "whatsapp", "contacts": [{"wa_id": from, "profile": {"name": "A"}}],
                "messages": [{"from": from, "id": id, "timestamp": at.to_string(), "type": "text", "text": {"body": text}}]})),
            at,
        )
        .await;
    }
    async fn echo(&mut self, to: &str, text: &str, at: i64) {
        let id = self.id();
        self.feed(
            envelope(
                "smb_message_echoes",
                json!({"messaging_product": "whatsapp", "message_echoes": [{"from": "15550001111", "to": to,
                "id": id, "timestamp": at.to_string(), "type": "text", "text": {"body": text}}]}),
            ),
            at,
        )
        .await;
    }
    async fn run(&self, at: i64) -> coexist_core::automation::RunReport {
        let cfg = self.store.automation_config().await.unwrap();
        self.store.run_automation(&cfg, at).await.unwrap()
    }
    /// Automation's queued replies: (source, text).
    async fn replies(&self) -> Vec<(String, String)> {
        sqlx::query_as(
            "SELECT source, COALESCE(text, '') FROM outbox WHERE source IN ('automation', 'follow_up') ORDER BY id",
        )
        .fetch_all(self.store.pool())
        .await
        .unwrap()
    }
}

#[tokio::test]
async fn faq_in_the_customers_language_routing_and_greeting() {
    let mut w = W::new().await;
    let open = T + 2 * H; // 10:00 UTC = 15:30 in India: open
    w.customer(ALICE, "Hi! What are your opening hours?", open).await;
    let r = w.run(open + 5).await;
    assert_eq!((r.looked_at, r.replies), (1, 1));
    w.customer(ALICE, "Qual é o horário amanhã?", open + 60).await;
    w.customer(ALICE, "I want a refund", open + 120).await;
    let r = w.run(open + 125).await;
    assert_eq!(
        (r.replies, r.routed),
        (1, 1),
        "the refund message matched no FAQ but was routed: {:?}",
        w.replies().await
    );
    let texts: Vec<String> = w.replies().await.into_iter().map(|r| r.1).collect();
    assert_eq!(
        texts,
        vec!["We are open 9 to 6, Monday and Thursday.", "Abrimos das 9 às 18."]
    );
    let (tags, vip, assignee): (String, bool, Option<String>) = sqlx::query_as(
        "SELECT c.tags, c.vip, v.assignee FROM contact c JOIN conversation v ON v.contact_id = c.id WHERE c.wa_id = ?",
    )
    .bind(ALICE)
    .fetch_one(w.store.pool())
    .await
    .unwrap();
    assert_eq!(
        (tags.as_str(), vip, assignee.as_deref()),
        (r#"["billing"]"#, true, Some("ana"))
    );
    // A brand-new contact with a question no FAQ covers gets the greeting; running again does nothing.
    w.customer("919800000002", "hello there", open + 200).await;
    assert_eq!(w.run(open + 205).await.replies, 1);
    assert_eq!(w.replies().await[2].1, "Welcome to the shop!");
    assert_eq!(w.run(open + 300).await.looked_at, 0, "each message is looked at once");
    let audit = w.store.audit_verify().await.unwrap();
    assert!(
        audit.ok && audit.entries >= 5,
        "settings, sends and routing are audited: {audit:?}"
    );
}

#[tokio::test]
async fn away_once_per_period_and_stale_messages_left_to_people() {
    let mut w = W::new().await;
    let night = T + 16 * H; // 00:00 UTC → 05:30 Friday in India: closed (no Friday hours)
    w.customer(ALICE, "anyone there?", night).await;
    w.customer(ALICE, "hello??", night + 60).await;
    w.run(night + 61).await;
    let replies = w.replies().await;
    assert_eq!(replies.len(), 1, "one away message, not one per message: {replies:?}");
    assert_eq!(replies[0].1, "We are closed now, back at 9.");
    // After downtime, an hour-old message is left to people.
    w.customer("919800000003", "what are your opening hours", night + 120)
        .await;
    let r = w.run(night + 120 + H).await;
    assert_eq!((r.stale, r.replies), (1, 0));
}

#[tokio::test]
async fn never_on_history_echoes_or_statuses() {
    let mut w = W::new().await;
    let at = T + 2 * H;
    let history = json!({"messaging_product": "whatsapp", "history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 100},
        "threads": [{"id": ALICE, "messages": [{"from": ALICE, "id": "wamid.H1", "timestamp": (at - 10).to_string(), "type": "text",
        "text": {"body": "what are your opening hours"}, "history_context": {"status": "READ"}}]}]}]});
    w.feed(envelope("history", history), at).await;
    w.echo(ALICE, "our opening hours are 9-6", at + 1).await;
    w.feed(
        envelope(
            "messages",
            json!({"messaging_product": "whatsapp", "statuses": [{"id": "wamid.X", "status": "delivered",
            "timestamp": (at + 2).to_string(), "recipient_id": ALICE}]}),
        ),
        at + 2,
    )
    .await;
    let r = w.run(at + 3).await;
    assert_eq!((r.looked_at, r.replies), (0, 0), "{r:?}");
    let messages: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM message")
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    assert_eq!(messages, 3, "history, echo and the status's message all landed");
}

#[tokio::test]
async fn an_echo_pauses_automation_until_the_pause_expires_and_staff_can_hand_back() {
    let mut w = W::new().await;
    let at = T + 2 * H;
    w.customer(ALICE, "are you open", at).await;
    assert_eq!(w.run(at + 1).await.replies, 1);
    w.echo(ALICE, "Yes! I'm at the counter, ask me anything", at + 30).await; // the owner took over
    w.customer(ALICE, "are you open on Monday", at + 60).await;
    let r = w.run(at + 61).await;
    assert_eq!((r.paused, r.replies), (1, 0), "a person is handling the chat");
    // Twelve hours later (Friday 02:00 in India) the chat is automation's again.
    let later = at + 30 + 12 * H + 60;
    w.customer(ALICE, "open tomorrow?", later).await;
    assert_eq!(w.run(later + 1).await.replies, 1);
    // Staff take a chat by hand, then give it back.
    let contact: i64 = sqlx::query_scalar("SELECT id FROM contact WHERE wa_id = ?")
        .bind(ALICE)
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    w.store
        .set_automation_pause(contact, Some(later + 48 * H), "ana", later + 10)
        .await
        .unwrap();
    w.customer(ALICE, "open?", later + 20).await;
    assert_eq!(w.run(later + 21).await.paused, 1);
    w.store
        .set_automation_pause(contact, None, "ana", later + 30)
        .await
        .unwrap();
    w.customer(ALICE, "open??", later + 40).await;
    assert_eq!(w.run(later + 41).await.replies, 1);
}

#[test]
fn test_this_rule() {
    let cfg: AutomationConfig = serde_json::from_str(&config()).unwrap();
    let d = decide(&cfg, Some("Are you OPEN today?"), false, true, T + 2 * H);
    assert_eq!(d.reply.unwrap().0, "faq:hours");
    assert!(d.in_business_hours);
    let d = decide(&cfg, Some("reopening soon?"), false, true, T + 2 * H);
    assert_eq!(d.reply, None, "keywords match whole words only");
    assert!(
        serde_json::from_str::<AutomationConfig>(r#"{"enabled": true, "faqs": []}"#).is_err(),
        "typos are refused"
    );
}

#[tokio::test]
async fn follow_up_after_silence_cancelled_when_anyone_writes() {
    let mut w = W::new().await;
    let at = T + 2 * H;
    sqlx::query("INSERT INTO template (id, name, language, category, status, synced_at) VALUES ('1', 'order_update', 'en', 'UTILITY', 'APPROVED', 0)")
        .execute(w.store.pool())
        .await
        .unwrap();
    let bob = "919800000009";
    for who in [ALICE, bob] {
        w.customer(who, "is my order ready", at).await;
    }
    w.run(at + 1).await;
    // The desk answers both (automation pauses in those chats); Meta accepts the sends.
    for (i, who) in [ALICE, bob].iter().enumerate() {
        let c = coexist_core::send::compose_text(&w.store, who, "Not yet, tomorrow!", at + 60)
            .await
            .unwrap();
        let out = w.store.enqueue_from_desk(&c, "ana", 3 * H, at + 60, 0).await.unwrap();
        sqlx::query(
            "INSERT INTO message (wamid, contact_id, direction, origin, type, text, timestamp, outbox_id)
             VALUES (?, ?, 'outbound', 'api', 'text', 'Not yet, tomorrow!', ?, ?)",
        )
        .bind(format!("wamid.D{i}"))
        .bind(c.contact_id)
        .bind(at + 61)
        .bind(out)
        .execute(w.store.pool())
        .await
        .unwrap();
    }
    assert_eq!(w.run(at + 120).await.follow_ups_scheduled, 2);
    w.customer(bob, "ok thanks", at + 5 * H).await; // Bob answered: his follow-up is cancelled
    let r = w.run(at + 61 + 24 * H).await;
    assert_eq!((r.follow_ups_sent, r.follow_ups_cancelled), (1, 1), "{r:?}");
    let sent: Vec<(String, String)> = w.replies().await.into_iter().filter(|r| r.0 == "follow_up").collect();
    assert_eq!(
        sent,
        vec![("follow_up".to_string(), "Template order_update".to_string())]
    );
    let desk: String =
        sqlx::query_scalar("SELECT actor FROM audit WHERE action = 'send' ORDER BY seq LIMIT 1 OFFSET 1")
            .fetch_one(w.store.pool())
            .await
            .unwrap();
    assert!(!desk.is_empty());
}

/// Issue 14, item 2: the app, `serve` and `automation run` each running automation on one
/// workspace answer every message once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn automation_in_several_processes_answers_each_message_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    store.set_automation_config(&config(), "owner", T).await.unwrap();
    let at = T + 5 * H; // 13:30 in India: open
    for i in 0..40 {
        let from = format!("9198000001{i:02}");
        let b = envelope(
            "messages",
            json!({"messaging_product": "whatsapp", "contacts": [{"wa_id": from, "profile": {"name": "A"}}],
            "messages": [{"from": from, "id": format!("wamid.P{i}"), "timestamp": at.to_string(), "type": "text",
                          "text": {"body": "what are your opening hours?"}}]}),
        );
        store.journal_append(&b, SignatureVerdict::Imported, at).await.unwrap();
    }
    apply_pending(&store, &Rules::default(), &FixedClock::new(at))
        .await
        .unwrap();
    let cfg = store.automation_config().await.unwrap();
    let mut runs = Vec::new();
    for _ in 0..4 {
        let (other, cfg) = (Store::open_dir(dir.path()).await.unwrap(), cfg.clone());
        runs.push(tokio::spawn(async move {
            other.run_automation(&cfg, at + 60).await.unwrap()
        }));
    }
    let mut replies = 0;
    for r in runs {
        replies += r.await.unwrap().replies;
    }
    let per: Vec<(i64, i64)> =
        sqlx::query_as("SELECT contact_id, COUNT(*) FROM outbox WHERE source = 'automation' GROUP BY contact_id")
            .fetch_all(store.pool())
            .await
            .unwrap();
    assert_eq!(per.len(), 40);
    assert!(per.iter().all(|(_, n)| *n == 1), "a customer answered twice: {per:?}");
    assert_eq!(replies, 40);
}

/// A customer known only by a username (no `from`, no `wa_id`: DESIGN §4) gets the FAQ reply,
/// addressed to their BSUID in `recipient`.
#[tokio::test]
async fn a_username_only_customer_gets_the_faq_reply_by_recipient() {
    let w = W::new().await;
    let open = T + 2 * H;
    w.feed(
        envelope(
            "messages",
            json!({"messaging_product": "whatsapp", "contacts": [{"user_id": "IN.55cc66dd", "profile": {"name": "R", "username": "@r"}}],
                   "messages": [{"from_user_id": "IN.55cc66dd", "id": "wamid.U1", "timestamp": open.to_string(),
                                 "type": "text", "text": {"body": "What are your opening hours?"}}]}),
        ),
        open,
    )
    .await;
    let r = w.run(open + 5).await;
    assert_eq!(r.replies, 1, "{r:?}");
    let (recipient, payload): (String, String) =
        sqlx::query_as("SELECT recipient, payload FROM outbox WHERE source = 'automation'")
            .fetch_one(w.store.pool())
            .await
            .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(recipient, "IN.55cc66dd");
    assert_eq!(payload["recipient"], "IN.55cc66dd");
    assert!(payload.get("to").is_none(), "{payload}");
}
