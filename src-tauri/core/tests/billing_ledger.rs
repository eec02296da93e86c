//! The ledger against a real SQLite mirror fed through the journal and the applier, with
//! hand-computed expectations (card prices below; every figure worked out in the comments).

use coexist_core::billing::parse_day;
use coexist_core::webhook::{apply_pending, Rules, SignatureVerdict};
use coexist_core::{FixedClock, Store};
use coexist_testkit::envelope;
use serde_json::{json, Value};

const CARD: &str = "market,marketing,utility,authentication,authentication_international\n\
                    India,0.0118,0.0014,0.0014,0.0280\n\
                    North America,0.0250,0.0040,0.0135,\n";
const TIERS: &str = "market,category,from,to,price\nIndia,utility,1,2,0.0014\nIndia,utility,3,,0.0010\n";
const A: &str = "919800000001";
const B: &str = "15550000002";
const C: &str = "919800000003";
const D: &str = "919800000004";
const H: i64 = 3600;

struct Mirror {
    store: Store,
    seq: u32,
}

impl Mirror {
    async fn new() -> Self {
        let store = Store::open_in_memory().await.unwrap();
        store
            .import_rate_card(CARD, Some(TIERS), "USD", "2024-01-01", "test card", 0)
            .await
            .unwrap();
        Mirror { store, seq: 0 }
    }

    async fn feed(&mut self, body: Vec<u8>) {
        self.store
            .journal_append(&body, SignatureVerdict::Imported, 0)
            .await
            .unwrap();
        apply_pending(&self.store, &Rules::default(), &FixedClock::new(0))
            .await
            .unwrap();
    }

    fn id(&mut self) -> String {
        self.seq += 1;
        format!("wamid.T{}", self.seq)
    }

    async fn customer(&mut self, from: &str, at: i64, referral: bool) {
        let id = self.id();
        let mut m =
            json!({"from": from, "id": id, "timestamp": at.to_string(), "type": "text", "text": {"body": "hello"}});
        if referral {
            m["referral"] = json!({"source_type": "ad", "source_url": "https://fb.me/x"});
        }
        self.feed(envelope(
            "messages",
            json!({"messaging_product": "whatsapp", "contacts": [{"wa_id": from, "profile": {"name": "x"}}], "messages": [m]}),
        ))
        .await;
    }

    async fn echo(&mut self, to: &str, at: i64) {
        let id = self.id();
        self.feed(envelope(
            "smb_message_echoes",
            json!({"messaging_product": "whatsapp", "message_echoes": [{"from": "15550009999", "to": to, "id": id,
                    "timestamp": at.to_string(), "type": "text", "text": {"body": "from the phone"}}]}),
        ))
        .await;
    }

    /// An API message as the dispatcher records it, then its statuses from webhooks.
    async fn api(&mut self, to: &str, at: i64, category: Option<&str>, status: &str, pricing: Option<Value>) -> String {
        let id = self.id();
        sqlx::query("INSERT INTO contact (wa_id, source, created_at) VALUES (?, 'manual', 0) ON CONFLICT DO NOTHING")
            .bind(to)
            .execute(self.store.pool())
            .await
            .unwrap();
        sqlx::query(
            "INSERT INTO message (wamid, contact_id, direction, origin, type, timestamp, template_name, template_category)
             VALUES (?, (SELECT id FROM contact WHERE wa_id = ?), 'outbound', 'api', ?, ?, ?, ?)",
        )
        .bind(&id)
        .bind(to)
        .bind(if category.is_some() { "template" } else { "text" })
        .bind(at)
        .bind(category.map(|c| format!("t_{c}")))
        .bind(category)
        .execute(self.store.pool())
        .await
        .unwrap();
        let mut s = json!({"id": id, "status": status, "timestamp": (at + 5).to_string(), "recipient_id": to});
        if let Some(p) = pricing {
            s["pricing"] = p;
        }
        self.feed(envelope(
            "messages",
            json!({"messaging_product": "whatsapp", "statuses": [s]}),
        ))
        .await;
        id
    }

    async fn report(&self, from: &str, to: &str) -> coexist_core::billing::Report {
        let ctx = self.store.billing_context(0).await.unwrap();
        self.store
            .billing_report(&ctx, parse_day(from).unwrap(), parse_day(to).unwrap())
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn per_message_pricing_windows_tiers_and_savings() {
    let mut m = Mirror::new().await;
    let t0 = parse_day("2025-08-01").unwrap() + 10 * H;
    m.customer(A, t0, false).await;
    m.api(A, t0 + H, Some("utility"), "delivered", None).await; // in window: free
    m.api(A, t0 + 2 * H, Some("marketing"), "read", None).await; // 0.0118
    m.api(A, t0 + 30 * H, Some("utility"), "delivered", None).await; // window closed: India utility #1 = 0.0014
    m.api(C, t0 + H, Some("utility"), "delivered", None).await; // India utility #2 = 0.0014
    m.api(C, t0 + 2 * H, Some("utility"), "delivered", None).await; // #3: tier price 0.0010
    m.api(B, t0, Some("marketing"), "failed", None).await; // never delivered: 0
    m.api(B, t0, Some("authentication"), "delivered", None).await; // 0.0135
    m.echo(A, t0 + 3 * H).await; // phone, inside A's window: would have been free
    m.echo(B, t0 + 3 * H).await; // phone, no window: a utility template to North America, 0.0040 saved
    m.customer(B, t0 + 5 * H, true).await; // B answers an ad: 72 h free entry point
    m.api(B, t0 + 6 * H, Some("marketing"), "delivered", None).await; // free entry point: 0

    let r = m.report("2025-08-01", "2025-09-01").await;
    assert_eq!(r.currency, "USD");
    assert_eq!(r.total, "0.0291"); // 0.0118 + 0.0014 + 0.0014 + 0.0010 + 0.0135
    assert_eq!(r.by_category["marketing"], "0.0118");
    assert_eq!(r.by_category["utility"], "0.0038");
    assert_eq!(r.by_category["authentication"], "0.0135");
    assert_eq!(r.by_market["India"], "0.0156");
    assert_eq!(r.by_market["North America"], "0.0135");
    assert_eq!(r.by_origin["api"], "0.0291");
    assert_eq!(r.by_origin["phone"], "0");
    assert_eq!(r.savings, "0.004");
    assert_eq!((r.messages.api, r.messages.phone, r.messages.charged), (8, 2, 5));
    assert_eq!(r.disagreements.count, 0);
    assert!(!r.sample_rates);

    // A report that starts mid-month continues the month's tier numbering.
    let late = m.report("2025-08-02", "2025-09-01").await;
    // Only A's second utility (day 2, 16:00) falls in it; by delivery order it was India utility
    // #3 of the month (C's two on day 1 came first), so it costs the tier price.
    assert_eq!(late.total, "0.001");

    // Refreshing again changes nothing: the ledger is idempotent.
    let again = m.report("2025-08-01", "2025-09-01").await;
    assert_eq!(again.total, r.total);
}

#[tokio::test]
async fn cbp_conversation_across_the_switch_and_reported_pricing() {
    let mut m = Mirror::new().await;
    let switch = parse_day("2025-07-01").unwrap();
    m.api(D, switch - H, Some("marketing"), "delivered", None).await; // CBP: opens a marketing conversation, 0.0118
    m.api(D, switch + H, Some("marketing"), "delivered", None).await; // same conversation, still CBP: free
    m.api(D, switch + 25 * H, Some("marketing"), "delivered", None).await; // PMP: 0.0118
    let r = m.report("2025-06-01", "2025-08-01").await;
    assert_eq!(r.total, "0.0236");
    assert_eq!(r.by_month["2025-06"], "0.0118");
    assert_eq!(r.by_month["2025-07"], "0.0118");

    // Meta's reported pricing wins, and a difference is flagged once per message.
    let day = parse_day("2025-09-10").unwrap();
    let free =
        json!({"billable": false, "pricing_model": "PMP", "type": "free_customer_service", "category": "utility"});
    let w = m.api(A, day, Some("utility"), "delivered", Some(free)).await; // computed: billable (no window)
    let intl = json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "authentication_international"});
    m.api(A, day + H, Some("authentication"), "delivered", Some(intl)).await; // Meta's call: 0.0280
    let agree = json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"});
    m.api(A, day + 2 * H, Some("marketing"), "delivered", Some(agree)).await; // 0.0118, agrees
    let r = m.report("2025-09-01", "2025-10-01").await;
    assert_eq!(r.total, "0.0398");
    assert_eq!(r.by_category["authentication_international"], "0.028");
    assert_eq!(r.disagreements.count, 1);
    assert_eq!(r.disagreements.examples[0].wamid, w);
    assert!(
        r.disagreements.examples[0].detail.contains("Meta says free"),
        "{}",
        r.disagreements.examples[0].detail
    );
}

#[tokio::test]
async fn cbp_charges_once_per_reported_conversation() {
    let mut m = Mirror::new().await;
    let t = parse_day("2025-03-03").unwrap();
    let conv = |_: ()| json!({"billable": true, "pricing_model": "CBP", "category": "marketing"});
    for i in 0..3 {
        let id = m.id();
        sqlx::query("INSERT INTO contact (wa_id, source, created_at) VALUES (?, 'manual', 0) ON CONFLICT DO NOTHING")
            .bind(D)
            .execute(m.store.pool())
            .await
            .unwrap();
        let s = json!({"id": id, "status": "delivered", "timestamp": (t + i * H).to_string(), "recipient_id": D,
                       "pricing": conv(()), "conversation": {"id": "CONV1", "origin": {"type": "marketing"}}});
        m.feed(envelope(
            "messages",
            json!({"messaging_product": "whatsapp", "statuses": [s]}),
        ))
        .await;
    }
    let r = m.report("2025-03-01", "2025-04-01").await;
    assert_eq!(
        r.total, "0.0118",
        "three messages in one reported conversation cost one conversation"
    );
    assert_eq!(r.disagreements.count, 0);
}

#[tokio::test]
async fn the_2026_service_charge_is_a_dated_rule_not_a_switch() {
    let mut m = Mirror::new().await;
    for day in ["2026-09-28", "2026-10-05"] {
        let t = parse_day(day).unwrap();
        m.customer(C, t, false).await;
        m.api(C, t + H, None, "delivered", None).await; // free-form reply in window
        m.api(C, t + 2 * H, Some("utility"), "delivered", None).await; // in-window utility
        m.echo(C, t + 3 * H).await; // phone reply in window
    }
    let before = m.report("2026-09-01", "2026-10-01").await;
    assert_eq!(
        (before.total.as_str(), before.savings.as_str()),
        ("0", "0"),
        "free before 2026-10-01"
    );
    let after = m.report("2026-10-01", "2026-11-01").await;
    assert!(after.service_charge_2026);
    assert_eq!(
        after.total, "0.0028",
        "both charged at the utility rate from 2026-10-01"
    );
    assert_eq!(after.savings, "0.0014");
    // There is no switch: asking for one is refused with the reason, and the bill stays.
    let ctx = coexist_core::ops::Ctx::new(&m.store, "owner", None, 0);
    let change = coexist_core::ops::PricingChange {
        service_charge: Some(false),
        ..Default::default()
    };
    let e = coexist_core::ops::change_pricing(&ctx, &change).await.unwrap_err();
    assert!(e.to_string().contains("not a setting"), "{e}");
    assert_eq!(m.report("2026-10-01", "2026-11-01").await.total, "0.0028");
}

#[tokio::test]
async fn a_late_customer_message_reprices_what_followed_it() {
    let mut m = Mirror::new().await;
    let t = parse_day("2025-08-10").unwrap();
    m.api(A, t + H, Some("utility"), "delivered", None).await;
    assert_eq!(m.report("2025-08-01", "2025-09-01").await.total, "0.0014");
    m.customer(A, t, false).await; // delivered late, but written an hour before: the window was open
    assert_eq!(m.report("2025-08-01", "2025-09-01").await.total, "0");
}

#[tokio::test]
async fn forecast_a_campaign_and_a_reply() {
    let mut m = Mirror::new().await;
    let now = parse_day("2025-08-20").unwrap();
    m.customer(A, now - H, false).await; // A's window is open
    for wa in [B, C] {
        sqlx::query("INSERT INTO contact (wa_id, source, created_at) VALUES (?, 'manual', 0)")
            .bind(wa)
            .execute(m.store.pool())
            .await
            .unwrap();
    }
    let pool = m.store.pool();
    sqlx::query("INSERT INTO template (id, name, language, category, status, synced_at) VALUES ('1', 'notice', 'en', 'UTILITY', 'APPROVED', 0)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO campaign (id, name, template_name, language, audience, created_at) VALUES (7, 'n', 'notice', 'en', 'all', 0)")
        .execute(pool)
        .await
        .unwrap();
    sqlx::query("INSERT INTO campaign_recipient (campaign_id, contact_id) SELECT 7, id FROM contact")
        .execute(pool)
        .await
        .unwrap();
    let ctx = m.store.billing_context(now).await.unwrap();
    let f = m.store.forecast_campaign(&ctx, 7, now).await.unwrap();
    assert_eq!(
        (f.recipients, f.free),
        (3, 1),
        "A is inside the window: a utility template is free"
    );
    assert_eq!(f.total, "0.0054"); // India 0.0014 + North America 0.0040
    assert_eq!(f.by_market["India"].amount, "0.0014");
    assert_eq!(f.by_market["North America"].messages, 1);

    let a: i64 = sqlx::query_scalar("SELECT id FROM contact WHERE wa_id = ?")
        .bind(A)
        .fetch_one(pool)
        .await
        .unwrap();
    let b: i64 = sqlx::query_scalar("SELECT id FROM contact WHERE wa_id = ?")
        .bind(B)
        .fetch_one(pool)
        .await
        .unwrap();
    let inside = m.store.reply_cost(&ctx, a, None, now).await.unwrap();
    assert_eq!(
        (inside.api.as_deref(), inside.phone.as_str(), inside.window_open),
        (Some("0"), "0", true)
    );
    let outside = m.store.reply_cost(&ctx, b, Some("utility"), now).await.unwrap();
    assert_eq!((outside.api.as_deref(), outside.window_open), (Some("0.004"), false));
    let closed = m.store.reply_cost(&ctx, b, None, now).await.unwrap();
    assert_eq!(
        closed.api, None,
        "a free-form message cannot go out through the API outside the window"
    );
    let oct = parse_day("2026-10-01").unwrap();
    m.customer(A, oct - H, false).await;
    let before = m.store.reply_cost(&ctx, a, None, oct - 1).await.unwrap();
    let after = m.store.reply_cost(&ctx, a, None, oct + H).await.unwrap();
    assert_eq!(
        (before.api.as_deref(), after.api.as_deref()),
        (Some("0"), Some("0.0014")),
        "the 2026-10-01 rule"
    );
}

/// Issue 17: Meta spells the category `authentication-international` on some statuses. It must land
/// under the one key `authentication_international`, in the month's total and in its market, and be
/// charged exactly once although both `sent` and `delivered` carry pricing (2026, no `billable`).
#[tokio::test]
async fn hyphenated_authentication_international_is_charged_once_under_one_key() {
    let mut m = Mirror::new().await;
    let day = parse_day("2026-03-10").unwrap();
    let hyphen = json!({"pricing_model": "PMP", "type": "regular", "category": "authentication-international"});
    let id = m
        .api(A, day, Some("authentication"), "sent", Some(hyphen.clone()))
        .await;
    let delivered = json!({"id": id, "status": "delivered", "timestamp": (day + 9).to_string(), "recipient_id": A,
                           "pricing": {"pricing_model": "PMP", "type": "regular", "category": "AUTHENTICATION-INTERNATIONAL"}});
    m.feed(envelope(
        "messages",
        json!({"messaging_product": "whatsapp", "statuses": [delivered]}),
    ))
    .await;
    // A utility template to the same market, for a total that is not just the one charge.
    let util = json!({"pricing_model": "PMP", "type": "regular", "category": "utility"});
    m.api(A, day + H, Some("utility"), "delivered", Some(util)).await;

    let r = m.report("2026-03-01", "2026-04-01").await;
    assert_eq!(r.total, "0.0294", "0.0280 + 0.0014: {r:?}");
    assert_eq!(
        r.by_category.get("authentication_international").map(String::as_str),
        Some("0.028")
    );
    assert!(
        r.by_category
            .keys()
            .all(|k| !k.contains('-') && k.chars().all(|c| !c.is_uppercase())),
        "one key per category: {:?}",
        r.by_category
    );
    assert_eq!(
        r.by_market.get("India").map(String::as_str),
        Some("0.0294"),
        "{:?}",
        r.by_market
    );
    assert_eq!(r.messages.charged, 2);
    // Meta's call on an authentication template (international) is not a disagreement.
    assert_eq!(r.disagreements.count, 0, "{:?}", r.disagreements.examples);
}

/// Issue 15: a customer who withholds the phone number is priced in the market of the country
/// their BSUID starts with.
#[tokio::test]
async fn a_bsuid_only_recipient_is_priced_in_the_market_of_its_country() {
    let mut m = Mirror::new().await;
    let day = parse_day("2026-03-10").unwrap();
    sqlx::query("INSERT INTO contact (bsuid, source, created_at) VALUES ('IN.13491208655302741918', 'message', 0)")
        .execute(m.store.pool())
        .await
        .unwrap();
    let id = m.id();
    sqlx::query(
        "INSERT INTO message (wamid, contact_id, direction, origin, type, timestamp, template_name, template_category)
         VALUES (?, (SELECT id FROM contact WHERE bsuid = 'IN.13491208655302741918'), 'outbound', 'api', 'template', ?, 't', 'marketing')",
    )
    .bind(&id)
    .bind(day)
    .execute(m.store.pool())
    .await
    .unwrap();
    // 2026: no `recipient_id`, the BSUID in `recipient_user_id`.
    let s = json!({"id": id, "status": "delivered", "timestamp": (day + 5).to_string(),
                   "recipient_user_id": "IN.13491208655302741918"});
    m.feed(envelope(
        "messages",
        json!({"messaging_product": "whatsapp", "statuses": [s]}),
    ))
    .await;
    let r = m.report("2026-03-01", "2026-04-01").await;
    assert_eq!(
        r.by_market.get("India").map(String::as_str),
        Some("0.0118"),
        "{:?}",
        r.by_market
    );
    assert_eq!(r.total, "0.0118");
}

/// Issue 15: from 2026-10-01 a reply inside the window is charged; a card with a `service` column
/// prices it there, a card without one at the utility rate, and never with volume tiers.
#[tokio::test]
async fn a_service_column_prices_charged_replies() {
    let mut m = Mirror::new().await;
    let day = parse_day("2026-10-05").unwrap();
    m.customer(A, day, false).await;
    m.api(A, day + 60, None, "delivered", None).await; // a reply in the window: charged since 2026-10-01
    let r = m.report("2026-10-01", "2026-11-01").await;
    assert_eq!(r.total, "0.0014", "the utility rate, no service column yet: {r:?}");
    // The reply box says which rate it is.
    let ctx = m.store.billing_context(0).await.unwrap();
    let contact: i64 = sqlx::query_scalar("SELECT id FROM contact WHERE wa_id = ?")
        .bind(A)
        .fetch_one(m.store.pool())
        .await
        .unwrap();
    let cost = m.store.reply_cost(&ctx, contact, None, day + 120).await.unwrap();
    assert!(
        cost.explanation.contains("the utility rate for India"),
        "{}",
        cost.explanation
    );
    m.store
        .import_rate_card(
            "Market,Marketing,Utility,Authentication,Authentication-International,Service\nIndia,0.0118,0.0014,0.0014,0.0280,0.0009\n",
            None,
            "USD",
            "2026-10-01",
            "card with service",
            0,
        )
        .await
        .unwrap();
    let r = m.report("2026-10-01", "2026-11-01").await;
    assert_eq!(r.total, "0.0009", "the card's service price: {r:?}");
    assert_eq!(r.by_category.get("service").map(String::as_str), Some("0.0009"));
}

/// Issue 15: categories Meta added are kept as Meta named them: `marketing_lite` is priced as
/// marketing, one Coexist has never heard of is counted, shown as unpriced, and fails nothing.
#[tokio::test]
async fn new_and_unknown_categories_are_kept_and_flagged_never_failing() {
    let mut m = Mirror::new().await;
    let day = parse_day("2026-03-10").unwrap();
    let lite = json!({"pricing_model": "PMP", "type": "regular", "category": "marketing_lite", "billable": true});
    m.api(A, day, Some("marketing"), "delivered", Some(lite)).await;
    let novel = json!({"pricing_model": "PMP", "type": "regular", "category": "SHINY_NEW_THING", "billable": true});
    m.api(A, day + H, Some("utility"), "delivered", Some(novel)).await;
    // `billable` absent: Meta leaves it out on some statuses now.
    let quiet = json!({"pricing_model": "PMP", "type": "regular", "category": "utility"});
    m.api(A, day + 2 * H, Some("utility"), "delivered", Some(quiet)).await;
    // A free entry point conversion: reported free, kept under Meta's name.
    let referral = json!({"pricing_model": "PMP", "type": "free_entry_point", "category": "referral_conversion", "billable": false});
    m.api(A, day + 3 * H, Some("marketing"), "delivered", Some(referral))
        .await;

    let stats = m.store.stats().await.unwrap();
    assert_eq!(stats.journal.failed, 0, "nothing failed to apply");
    let r = m.report("2026-03-01", "2026-04-01").await;
    assert_eq!(
        r.by_category.get("marketing_lite").map(String::as_str),
        Some("0.0118"),
        "{r:?}"
    );
    assert_eq!(r.unpriced.get("shiny_new_thing"), Some(&1), "{r:?}");
    assert_eq!(r.messages.charged, 3, "{r:?}");
    assert_eq!(
        r.total, "0.0132",
        "marketing 0.0118 + utility 0.0014, the unknown one at zero: {r:?}"
    );
}

/// Issue 15: the calling-code → market map has dates. A Bangladeshi number is priced in "Rest of
/// Asia Pacific" up to 2026-09-30 and in "Bangladesh" from 2026-10-01, each with its own rate.
#[tokio::test]
async fn a_message_is_priced_with_the_market_map_of_its_date() {
    let mut m = Mirror::new().await;
    let card = "market,marketing,utility,authentication,authentication_international\n\
                Rest of Asia Pacific,0.0732,0.0113,0.0113,\n\
                Bangladesh,0.0800,0.0040,0.0040,0.0500\n";
    m.store
        .import_rate_card(card, None, "USD", "2025-01-01", "dated test card", 0)
        .await
        .unwrap();
    const BD: &str = "8801711000001";
    let marketing = json!({"pricing_model": "PMP", "type": "regular", "category": "marketing"});
    m.api(
        BD,
        parse_day("2026-09-30").unwrap(),
        Some("marketing"),
        "delivered",
        Some(marketing.clone()),
    )
    .await;
    m.api(
        BD,
        parse_day("2026-10-05").unwrap(),
        Some("marketing"),
        "delivered",
        Some(marketing),
    )
    .await;
    let r = m.report("2026-09-01", "2026-11-01").await;
    assert_eq!(
        r.by_market.get("Rest of Asia Pacific").map(String::as_str),
        Some("0.0732"),
        "{r:?}"
    );
    assert_eq!(r.by_market.get("Bangladesh").map(String::as_str), Some("0.08"), "{r:?}");
}

/// Issue 15: the partner-reported monthly allowance of free service messages is a dated entry of
/// its own, off by default; turned on, the month's first service messages cost nothing.
#[tokio::test]
async fn the_partner_reported_service_allowance_is_off_by_default_and_counts_when_on() {
    let mut m = Mirror::new().await;
    // The shipped policy with a small allowance, so a test can use it up.
    let mut policy: Value = serde_json::from_str(coexist_core::billing::policy::SHIPPED_POLICY).unwrap();
    let rule = policy["rules"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["kind"] == "service_allowance")
        .expect("the shipped policy has the allowance entry");
    assert_eq!(rule["enabled"], false, "off by default");
    assert_eq!(rule["monthly_free"], 1000);
    assert!(
        rule["source"].as_str().unwrap().contains("partner"),
        "its source says so"
    );
    rule["monthly_free"] = json!(2);
    m.store.import_policy(&policy.to_string()).await.unwrap();

    let t = parse_day("2026-10-05").unwrap();
    m.customer(C, t, false).await;
    for i in 1..=3 {
        m.api(C, t + i * 60, None, "delivered", None).await; // free-form replies in the window
    }
    let off = m.report("2026-10-01", "2026-11-01").await;
    assert_eq!(
        (off.total.as_str(), off.service_allowance),
        ("0.0042", None),
        "3 × 0.0014: {off:?}"
    );

    m.store.set_service_allowance(true).await.unwrap();
    let on = m.report("2026-10-01", "2026-11-01").await;
    assert_eq!(on.service_allowance, Some(2));
    assert_eq!(
        on.total, "0.0014",
        "the first two are free, the third is charged: {on:?}"
    );
    assert_eq!(on.messages.charged, 1);
}
