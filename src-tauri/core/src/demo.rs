//! Webhook bodies for the demo workspace and for benchmarks: a small shop's week, and history
//! imports of any size. They go through the same journal and applier as real webhooks.

use serde_json::{json, Value};

const WABA: &str = "100000000000001";
const PHONE_ID: &str = "200000000000002";
/// Meta's reserved-for-fiction 555 range.
pub const BUSINESS_NUMBER: &str = "15550001234";

fn envelope(field: &str, value: Value) -> Vec<u8> {
    let mut value = value;
    value["messaging_product"] = json!("whatsapp");
    value["metadata"] = json!({"display_phone_number": BUSINESS_NUMBER, "phone_number_id": PHONE_ID});
    serde_json::to_vec(&json!({
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA, "changes": [{"field": field, "value": value}]}]
    }))
    .expect("JSON values serialise")
}

fn inbound(name: &str, wa_id: &str, bsuid: &str, id: &str, at: i64, text: &str) -> Vec<u8> {
    envelope(
        "messages",
        json!({
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id, "user_id": bsuid}],
            "messages": [{"from": wa_id, "from_user_id": bsuid, "id": id, "timestamp": at.to_string(),
                          "type": "text", "text": {"body": text}}]
        }),
    )
}

fn echo(to: &str, id: &str, at: i64, text: &str) -> Vec<u8> {
    envelope(
        "smb_message_echoes",
        json!({"message_echoes": [{"from": BUSINESS_NUMBER, "to": to, "id": id, "timestamp": at.to_string(),
                                   "type": "text", "text": {"body": text}}]}),
    )
}

fn status(id: &str, to: &str, at: i64, status: &str, category: &str, kind: &str) -> Vec<u8> {
    envelope(
        "messages",
        json!({"statuses": [{"id": id, "status": status, "timestamp": at.to_string(), "recipient_id": to,
            "pricing": {"billable": kind == "regular", "pricing_model": "PMP", "type": kind, "category": category}}]}),
    )
}

/// A week in a small shop, ending shortly before `now`: history from the phone, customers
/// writing in, the owner answering from the phone, API messages with their statuses.
pub fn shop_week(now: i64) -> Vec<Vec<u8>> {
    let h = 3600;
    let d = 86_400;
    let mut out = vec![envelope(
        "history",
        json!({"history": [{"metadata": {"phase": 0, "chunk_order": 1, "progress": 100}, "threads": [
            {"id": "447700900123", "context": {"wa_id": "447700900123", "user_id": "GB.demo01"}, "messages": [
                {"from": "447700900123", "id": "wamid.DEMO.H1", "timestamp": (now - 40 * d).to_string(), "type": "text",
                 "text": {"body": "Could you make the cake gluten-free?"}, "history_context": {"status": "READ"}},
                {"from": BUSINESS_NUMBER, "to": "447700900123", "id": "wamid.DEMO.H2", "timestamp": (now - 40 * d + 600).to_string(),
                 "type": "text", "text": {"body": "Of course, no extra charge."}, "history_context": {"status": "READ"}}]},
            {"id": "4915112345678", "context": {"wa_id": "4915112345678", "user_id": "DE.demo02"}, "messages": [
                {"from": "4915112345678", "id": "wamid.DEMO.H3", "timestamp": (now - 20 * d).to_string(), "type": "text",
                 "text": {"body": "Danke, die Torte war wunderbar!"}, "history_context": {"status": "READ"}}]}
        ]}]}),
    )];
    out.push(inbound(
        "Priya Nair",
        "919800012345",
        "IN.demo03",
        "wamid.DEMO.1",
        now - 3 * h,
        "Hi! Do you have the chocolate box for Saturday?",
    ));
    out.push(echo(
        "+919800012345",
        "wamid.DEMO.2",
        now - 3 * h + 240,
        "Yes, we do. Shall I reserve one for you?",
    ));
    out.push(inbound(
        "Priya Nair",
        "919800012345",
        "IN.demo03",
        "wamid.DEMO.3",
        now - 2 * h,
        "Yes please, pick-up at 11.",
    ));
    out.push(inbound(
        "Lucas Souza",
        "5511900001111",
        "BR.demo04",
        "wamid.DEMO.4",
        now - 26 * h,
        "Vocês fazem entrega em Pinheiros?",
    ));
    out.push(status(
        "wamid.DEMO.5",
        "447700900123",
        now - 5 * d,
        "delivered",
        "marketing",
        "regular",
    ));
    out.push(status(
        "wamid.DEMO.5",
        "447700900123",
        now - 5 * d + 300,
        "read",
        "marketing",
        "regular",
    ));
    out.push(inbound(
        "Amelia Hart",
        "447700900123",
        "GB.demo01",
        "wamid.DEMO.6",
        now - 30 * 60,
        "Is the order ready to collect?",
    ));
    out.push(envelope(
        "messages",
        json!({"contacts": [{"profile": {"name": "", "username": "@kenji.t"}, "wa_id": "", "user_id": "JP.demo05"}],
               "messages": [{"from": "", "from_user_id": "JP.demo05", "id": "wamid.DEMO.7", "timestamp": (now - 50 * h).to_string(),
                             "type": "text", "text": {"body": "Are you open on Sunday?"}}]}),
    ));
    out.push(echo(
        "81900000000",
        "wamid.DEMO.8",
        now - 4 * d,
        "Thank you for your order!",
    ));
    out
}

/// A generated history import: `threads` conversations of `per_thread` messages each, in chunks of
/// about `chunk_size` messages, progress rising to 100 on the last chunk.
pub fn history_import(threads: usize, per_thread: usize, chunk_size: usize, start: i64) -> Vec<Vec<u8>> {
    let total = threads * per_thread;
    let mut chunks = Vec::new();
    let mut current: Vec<Value> = Vec::new();
    let mut in_chunk = 0usize;
    let mut done = 0usize;
    let flush = |threads_json: &mut Vec<Value>, done: usize, order: usize, chunks: &mut Vec<Vec<u8>>| {
        let progress = if done >= total {
            100
        } else {
            (done * 100 / total.max(1)).min(99)
        };
        chunks.push(envelope(
            "history",
            json!({"history": [{"metadata": {"phase": (order * 3 / 1000).min(2), "chunk_order": order + 1, "progress": progress},
                                "threads": std::mem::take(threads_json)}]}),
        ));
    };
    for t in 0..threads {
        let wa = format!("1555{:07}", t);
        let mut msgs = Vec::new();
        for i in 0..per_thread {
            let outbound = i % 3 == 2;
            let id = format!("wamid.GEN.{t}.{i}");
            let ts = (start + (t * per_thread + i) as i64).to_string();
            let text = format!("message {i} in thread {t}: is the order ready for pick-up tomorrow?");
            let m = if outbound {
                json!({"from": BUSINESS_NUMBER, "to": wa, "id": id, "timestamp": ts, "type": "text",
                       "text": {"body": text}, "history_context": {"status": "READ"}})
            } else {
                json!({"from": wa, "id": id, "timestamp": ts, "type": "text",
                       "text": {"body": text}, "history_context": {"status": "READ"}})
            };
            msgs.push(m);
            in_chunk += 1;
            done += 1;
            if in_chunk >= chunk_size {
                current.push(json!({"id": wa, "context": {"wa_id": wa}, "messages": std::mem::take(&mut msgs)}));
                flush(&mut current, done, chunks.len(), &mut chunks);
                in_chunk = 0;
            }
        }
        if !msgs.is_empty() {
            current.push(json!({"id": wa, "context": {"wa_id": wa}, "messages": msgs}));
        }
    }
    if !current.is_empty() {
        flush(&mut current, done, chunks.len(), &mut chunks);
    }
    chunks
}

/// Words the synthetic mirror's messages are made of; one message in 100,000 also carries the
/// rare word `zardozi`, so searches for it have few hits.
pub const WORDS: &[&str] = &[
    "order",
    "delivery",
    "kurta",
    "blue",
    "red",
    "size",
    "price",
    "discount",
    "tomorrow",
    "today",
    "shop",
    "open",
    "closed",
    "payment",
    "refund",
    "thanks",
    "hello",
    "available",
    "stock",
    "shipping",
    "address",
    "invoice",
    "saree",
    "cotton",
    "silk",
    "gift",
    "wrap",
    "pickup",
    "monday",
    "sunday",
];

/// Fills `store` with `total` messages over `contacts` contacts (customer and phone turns, ten
/// seconds apart) straight into the tables: the size benchmarks need in seconds, not the
/// journal's realism.
pub async fn synthetic_mirror(store: &crate::Store, total: i64, contacts: i64) -> crate::Result<()> {
    use sqlx::QueryBuilder;
    for start in (0..contacts).step_by(5_000) {
        let mut qb = QueryBuilder::new("INSERT INTO contact (wa_id, profile_name, source, created_at) ");
        qb.push_values(start..(start + 5_000).min(contacts), |mut b, i| {
            b.push_bind(format!("9198{i:08}"))
                .push_bind(format!("Customer {i}"))
                .push_bind("message")
                .push_bind(0);
        });
        qb.build().execute(store.pool()).await?;
    }
    let base = 1_780_000_000i64;
    for start in (0..total).step_by(3_000) {
        let mut qb =
            QueryBuilder::new("INSERT INTO message (wamid, contact_id, direction, origin, type, text, timestamp) ");
        qb.push_values(start..(start + 3_000).min(total), |mut b, i| {
            let w = |k: i64| WORDS[((i * 7 + k * 13) % WORDS.len() as i64) as usize];
            let text = if i % 100_000 == 7 {
                format!("{} {} zardozi", w(1), w(2))
            } else {
                format!("{} {} {} {}", w(1), w(2), w(3), w(4))
            };
            b.push_bind(format!("wamid.Q{i}"))
                .push_bind(i % contacts + 1)
                .push_bind(if i % 2 == 0 { "inbound" } else { "outbound" })
                .push_bind(if i % 2 == 0 { "customer" } else { "phone" })
                .push_bind("text")
                .push_bind(text)
                .push_bind(base + i * 10);
        });
        qb.build().execute(store.pool()).await?;
    }
    sqlx::query(
        "INSERT INTO conversation (contact_id, last_message_at, last_message_id, last_inbound_at, unread)
         SELECT contact_id, MAX(timestamp), MAX(id), MAX(timestamp), 1 FROM message GROUP BY contact_id",
    )
    .execute(store.pool())
    .await?;
    sqlx::query("PRAGMA optimize").execute(store.pool()).await?;
    Ok(())
}

/// Fills an empty demo workspace once: the sample week through the real journal and applier,
/// then a few regulars who signed up for offers at the counter, so a campaign has an audience.
pub async fn seed(store: &crate::Store, clock: &dyn crate::Clock) -> crate::Result<()> {
    use crate::webhook::{apply_pending, Rules, SignatureVerdict};
    if store.stats().await?.journal.received > 0 {
        return Ok(());
    }
    let now = clock.now();
    for body in shop_week(now) {
        store.journal_append(&body, SignatureVerdict::Imported, now).await?;
    }
    apply_pending(store, &Rules::default(), clock).await?;
    for (wa, tags) in [
        ("919800012345", ["regulars", "chocolate"]),
        ("447700900123", ["regulars", "gluten-free"]),
        ("4915112345678", ["regulars", "cakes"]),
    ] {
        if let Some(c) = store.contacts(Some(wa), 1, 0).await?.into_iter().next() {
            let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
            store.set_tags(c.id, &tags, "demo", now).await?;
            store
                .set_consent(c.id, true, "signed up for offers at the counter", "demo", now)
                .await?;
        }
    }
    Ok(())
}

/// Records the simulator's number as the demo's connection (onboarded an hour ago, so the
/// sync window is open).
pub async fn connect(store: &crate::Store, waba: &str, phone: &str, display: &str, now: i64) -> crate::Result<()> {
    store
        .record_connection(Some(waba), Some(phone), Some(display), now - 3600, now)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{apply_pending, Rules, SignatureVerdict};
    use crate::{FixedClock, Store};

    #[tokio::test]
    async fn demo_week_and_generated_history_apply_cleanly() {
        let store = Store::open_in_memory().await.unwrap();
        let now = 1_800_000_000;
        for b in shop_week(now)
            .iter()
            .chain(history_import(3, 50, 40, 1_700_000_000).iter())
        {
            store.journal_append(b, SignatureVerdict::Imported, now).await.unwrap();
        }
        let report = apply_pending(&store, &Rules::default(), &FixedClock::new(now))
            .await
            .unwrap();
        assert_eq!(report.failed, 0);
        let s = store.stats().await.unwrap();
        assert_eq!(s.messages.history, 3 + 150);
        assert_eq!(s.history.state, "complete");
        assert_eq!(s.messages.customer, 5);
        assert_eq!(s.messages.phone, 2);
        assert_eq!(s.messages.api, 1);
    }
}
