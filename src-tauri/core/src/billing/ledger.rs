//! The ledger: one row per outbound API or phone message with its charge under the rules of its
//! date. Kept current incrementally: triggers mark changed messages in `ledger_dirty`, and a
//! refresh prices just those, oldest first, so CBP conversations see what opened them.

use super::category;
use super::rules::{self, Charge, Facts};
use super::BillingContext;
use crate::error::Result;
use crate::store::Store;
use chrono::DateTime;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Row, SqliteConnection};
use std::collections::HashMap;

/// Messages priced per transaction: big enough to be quick, small enough not to hold the write
/// lock (and the webhook applier) for long.
const CHUNK: usize = 1000;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RefreshReport {
    pub priced: usize,
}

struct Pending {
    id: i64,
    origin: String,
    contact_id: Option<i64>,
    /// The recipient's phone, or the BSUID of one known only by it (its market is its country's).
    wa_id: Option<String>,
    at: i64,
    delivered: bool,
    delivered_at: Option<i64>,
    content_known: bool,
    template_category: Option<String>,
    reported_billable: Option<bool>,
    reported_model: Option<String>,
    reported_type: Option<String>,
    reported_category: Option<String>,
    conversation_id: Option<String>,
    first_of_conversation: bool,
    window_open: bool,
    free_entry: bool,
}

struct Entry {
    message_id: i64,
    at: i64,
    month: String,
    contact_id: Option<i64>,
    origin: String,
    market: String,
    category: String,
    model: String,
    pricing_type: String,
    charged: bool,
    amount: Decimal,
    tiered: bool,
    savings: Decimal,
    card_id: Option<i64>,
    rule: String,
    conversation_key: Option<String>,
    computed: Charge,
    reported: bool,
    disagreement: Option<String>,
}

/// A new (or newly known) API or phone message needs pricing.
pub(crate) async fn mark_dirty(conn: &mut SqliteConnection, message_id: i64) -> sqlx::Result<()> {
    sqlx::query("INSERT OR IGNORE INTO ledger_dirty (message_id) VALUES (?)")
        .bind(message_id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// A customer message opens windows (24 h service, 72 h free entry) for what follows it: when it
/// arrives late, the outbound messages after it are priced again.
pub(crate) async fn mark_window(conn: &mut SqliteConnection, contact_id: i64, at: i64) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT OR IGNORE INTO ledger_dirty (message_id)
         SELECT id FROM message WHERE contact_id = ? AND direction = 'outbound' AND timestamp >= ? AND timestamp <= ?",
    )
    .bind(contact_id)
    .bind(at)
    .bind(at + 259_200)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub(crate) fn month_of(at: i64) -> String {
    DateTime::from_timestamp(at, 0).map_or_else(|| "1970-01".into(), |d| d.format("%Y-%m").to_string())
}

impl Store {
    /// Prices every message whose charge may have changed since the last refresh.
    #[tracing::instrument(skip_all)]
    pub async fn refresh_ledger(&self, ctx: &BillingContext) -> Result<RefreshReport> {
        let mut ids: Vec<(i64, i64)> =
            sqlx::query_as("SELECT m.timestamp, m.id FROM ledger_dirty d JOIN message m ON m.id = d.message_id")
                .fetch_all(self.pool())
                .await?;
        ids.sort_unstable();
        let mut report = RefreshReport::default();
        for chunk in ids.chunks(CHUNK) {
            let list =
                serde_json::to_string(&chunk.iter().map(|(_, id)| id).collect::<Vec<_>>()).expect("ids serialise");
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            let pending = load(&mut tx, ctx, &list).await?;
            let mut entries: Vec<Entry> = Vec::with_capacity(pending.len());
            for p in &pending {
                let e = price(&mut tx, ctx, p, &entries).await?;
                entries.push(e);
            }
            let mut deltas = old_rows(&mut tx, &list).await?;
            for e in &entries {
                let key = (
                    e.at.div_euclid(DAY),
                    e.origin.clone(),
                    e.category.clone(),
                    e.market.clone(),
                    e.charged,
                    e.tiered,
                    e.amount.to_string(),
                    e.savings.to_string(),
                );
                let d = deltas.entry(key).or_insert((e.month.clone(), 0, 0));
                d.1 += 1;
                d.2 += i64::from(e.disagreement.is_some());
            }
            write(&mut tx, &entries, &ctx.currency).await?;
            write_days(&mut tx, deltas).await?;
            sqlx::query("DELETE FROM ledger_dirty WHERE message_id IN (SELECT value FROM json_each(?))")
                .bind(&list)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            report.priced += entries.len();
        }
        Ok(report)
    }
}

/// Loads a chunk with its windows: the customer messages before it, found through the thread index.
async fn load(conn: &mut SqliteConnection, ctx: &BillingContext, list: &str) -> Result<Vec<Pending>> {
    let rows = sqlx::query(
        "SELECT m.id, m.origin, m.contact_id, COALESCE(c.wa_id, c.bsuid), m.timestamp, m.status, m.delivered_at, m.content_known,
                m.template_category, m.pricing_billable, m.pricing_model, m.pricing_type, m.pricing_category,
                m.conversation_id,
                (SELECT MIN(x.id) FROM message x WHERE x.conversation_id = m.conversation_id) AS conv_first,
                EXISTS (SELECT 1 FROM message i WHERE i.contact_id = m.contact_id AND i.origin = 'customer'
                          AND i.timestamp <= m.timestamp AND i.timestamp > m.timestamp - ?2) AS window_open,
                EXISTS (SELECT 1 FROM message i WHERE i.contact_id = m.contact_id AND i.origin = 'customer'
                          AND i.referral_source IS NOT NULL
                          AND i.timestamp <= m.timestamp AND i.timestamp > m.timestamp - ?3) AS free_entry
         FROM message m LEFT JOIN contact c ON c.id = m.contact_id
         WHERE m.id IN (SELECT value FROM json_each(?1)) AND m.origin IN ('api', 'phone')
         ORDER BY m.timestamp, m.id",
    )
    .bind(list)
    .bind(ctx.policy.window_secs)
    .bind(ctx.policy.free_entry_secs)
    .fetch_all(&mut *conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let status: Option<String> = r.get(5);
            let delivered_at: Option<i64> = r.get(6);
            let id: i64 = r.get(0);
            Pending {
                id,
                origin: r.get(1),
                contact_id: r.get(2),
                wa_id: r.get(3),
                at: r.get(4),
                delivered: delivered_at.is_some() || matches!(status.as_deref(), Some("delivered" | "read" | "played")),
                delivered_at,
                content_known: r.get(7),
                template_category: category::normalize_opt(r.get::<Option<&str>, _>(8)),
                reported_billable: r.get(9),
                reported_model: r.get(10),
                reported_type: r.get(11),
                // Mirrors written before categories were normalised on entry may hold other spellings.
                reported_category: category::normalize_opt(r.get::<Option<&str>, _>(12)),
                conversation_id: r.get(13),
                first_of_conversation: r.get::<Option<i64>, _>(14) == Some(id),
                window_open: r.get(15),
                free_entry: r.get(16),
            }
        })
        .collect())
}

/// Is a CBP conversation of this category with this customer already open at `at`?
/// `earlier` are the rows of this chunk already priced, not yet written.
async fn cbp_open(
    conn: &mut SqliteConnection,
    ctx: &BillingContext,
    p: &Pending,
    category: &str,
    earlier: &[Entry],
) -> Result<bool> {
    if p.at >= ctx.policy.pmp_from + ctx.policy.window_secs {
        return Ok(false);
    }
    let Some(contact) = p.contact_id else { return Ok(false) };
    if earlier.iter().any(|e| {
        e.contact_id == Some(contact)
            && e.origin == p.origin
            && e.conversation_key.is_some()
            && e.computed.category == category
            && e.at > p.at - ctx.policy.window_secs
            && e.at <= p.at
    }) {
        return Ok(true);
    }
    Ok(sqlx::query_scalar::<_, i64>(
        "SELECT 1 FROM ledger WHERE contact_id = ? AND pricing_model = 'CBP' AND at > ? AND at <= ?
           AND origin = ? AND conversation_key IS NOT NULL AND computed_category = ? AND message_id != ? LIMIT 1",
    )
    .bind(contact)
    .bind(p.at - ctx.policy.window_secs)
    .bind(p.at)
    .bind(&p.origin)
    .bind(category)
    .bind(p.id)
    .fetch_optional(&mut *conn)
    .await?
    .is_some())
}

async fn price(conn: &mut SqliteConnection, ctx: &BillingContext, p: &Pending, earlier: &[Entry]) -> Result<Entry> {
    let card = ctx.card_at(p.at);
    let market = ctx
        .markets
        .market_at(p.wa_id.as_deref(), p.at, |m| card.is_some_and(|c| c.prices_market(m)))
        .to_string();
    let price_of = |column: Option<&str>| -> Decimal {
        column
            .and_then(|c| card.and_then(|card| card.price(&market, c)))
            .unwrap_or(Decimal::ZERO)
    };
    let phone = p.origin == "phone";
    // A message of unknown content (sent by another tool) is priced in the category Meta reported.
    let template_category = p.template_category.clone().or_else(|| {
        (!p.content_known)
            .then(|| p.reported_category.clone())
            .flatten()
            .filter(|c| c != "service")
    });
    let mut facts = Facts {
        at: p.at,
        template_category: template_category.as_deref(),
        window_open: p.window_open,
        free_entry: p.free_entry,
        cbp_conversation_open: false,
    };
    let first_guess = if phone {
        rules::as_if_api(&ctx.policy, &facts)
    } else {
        rules::charge(&ctx.policy, &facts)
    };
    if first_guess.model == "CBP" || p.at < ctx.policy.pmp_from + ctx.policy.window_secs {
        facts.cbp_conversation_open = cbp_open(conn, ctx, p, &first_guess.category, earlier).await?;
    }
    let computed = if phone {
        rules::as_if_api(&ctx.policy, &facts)
    } else {
        rules::charge(&ctx.policy, &facts)
    };
    let opens_conversation = computed.model == "CBP" && computed.billable;
    if phone {
        let savings = if computed.billable {
            price_of(computed.rate_column)
        } else {
            Decimal::ZERO
        };
        return Ok(Entry {
            message_id: p.id,
            at: p.at,
            month: month_of(p.at),
            contact_id: p.contact_id,
            origin: p.origin.clone(),
            market,
            category: computed.category.clone(),
            model: computed.model.into(),
            pricing_type: "phone".into(),
            charged: false,
            amount: Decimal::ZERO,
            tiered: false,
            savings,
            card_id: card.map(|c| c.id),
            rule: format!("phone-free; api-equivalent {}", computed.rule),
            conversation_key: opens_conversation.then(|| p.id.to_string()),
            computed,
            reported: false,
            disagreement: None,
        });
    }
    let reported = p.reported_billable.is_some() || p.reported_category.is_some();
    let category = p.reported_category.clone().unwrap_or_else(|| computed.category.clone());
    let model = p.reported_model.clone().unwrap_or_else(|| computed.model.into());
    let cbp_reported = model == "CBP" && p.conversation_id.is_some();
    let billable = if reported {
        // Under CBP Meta marks every message of a conversation billable: charge it once.
        p.reported_billable.unwrap_or(computed.billable) && (!cbp_reported || p.first_of_conversation)
    } else {
        computed.billable
    };
    let mut charged = billable && p.delivered;
    let mut pricing_type = p.reported_type.clone().unwrap_or_else(|| computed.pricing_type.into());
    // The partner-reported monthly allowance (when the owner turned it on): the month's first
    // service messages cost nothing.
    if charged && category == "service" && model == "PMP" {
        if let Some(free) = ctx.policy.service_allowance_at(p.at) {
            if allowance_used(conn, p, earlier).await? < free {
                charged = false;
                pricing_type = ALLOWANCE.into();
            }
        }
    }
    let column = rules::rate_column(&category);
    let amount = if charged { price_of(column) } else { Decimal::ZERO };
    let tiered = charged && column.is_some_and(|c| card.is_some_and(|card| !card.tiers(&market, c).is_empty()));
    let at = if charged && model == "PMP" {
        p.delivered_at.unwrap_or(p.at)
    } else {
        p.at
    };
    let disagreement = reported.then(|| disagreement(p, &computed, cbp_reported)).flatten();
    Ok(Entry {
        message_id: p.id,
        at,
        month: month_of(at),
        contact_id: p.contact_id,
        origin: p.origin.clone(),
        market,
        category,
        model,
        pricing_type,
        charged,
        amount,
        tiered,
        savings: Decimal::ZERO,
        card_id: card.map(|c| c.id),
        rule: computed.rule.into(),
        conversation_key: opens_conversation.then(|| p.id.to_string()),
        computed,
        reported,
        disagreement,
    })
}

/// The pricing type of a service message the monthly allowance covered.
const ALLOWANCE: &str = "free_allowance";

/// Service messages of `p`'s month before it that were charged or covered by the allowance.
async fn allowance_used(conn: &mut SqliteConnection, p: &Pending, earlier: &[Entry]) -> Result<i64> {
    let month = month_of(p.at);
    let stored: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ledger WHERE month = ?1 AND origin = 'api' AND category = 'service'
           AND (charged = 1 OR pricing_type = ?2) AND (at < ?4 OR (at = ?4 AND message_id < ?3))
           -- Rows still to be repriced are stale; this chunk's new prices are in `earlier`.
           AND message_id NOT IN (SELECT message_id FROM ledger_dirty)",
    )
    .bind(&month)
    .bind(ALLOWANCE)
    .bind(p.id)
    .bind(p.at)
    .fetch_one(&mut *conn)
    .await?;
    let batch = earlier
        .iter()
        .filter(|e| e.month == month && e.origin == "api" && e.category == "service")
        .filter(|e| e.charged || e.pricing_type == ALLOWANCE)
        .count() as i64;
    Ok(stored + batch)
}

/// Where Meta's reported pricing differs from the computed one, in words; counted once per message.
fn disagreement(p: &Pending, c: &Charge, cbp_reported: bool) -> Option<String> {
    let mut diffs = Vec::new();
    if let Some(b) = p.reported_billable {
        // Under CBP only the message that opened a conversation is compared on billability.
        if (!cbp_reported || p.first_of_conversation) && b != c.billable {
            diffs.push(format!(
                "Meta says {}, Coexist computed {}",
                if b { "billable" } else { "free" },
                if c.billable { "billable" } else { "free" }
            ));
        }
    }
    if let Some(cat) = &p.reported_category {
        if *cat != c.category && !(c.category == "authentication" && cat == "authentication_international") {
            diffs.push(format!("category {cat} vs computed {}", c.category));
        }
    }
    if let (Some(m), Some(t)) = (&p.reported_model, &p.reported_type) {
        if m == "PMP" && c.model == "PMP" && t != c.pricing_type {
            diffs.push(format!("type {t} vs computed {}", c.pricing_type));
        }
    }
    if let Some(m) = &p.reported_model {
        if m != c.model {
            diffs.push(format!("model {m} vs computed {}", c.model));
        }
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

const DAY: i64 = 86_400;

/// A `ledger_day` group: day, origin, category, market, charged, tiered, amount, savings.
type DayKey = (i64, String, String, String, bool, bool, String, String);
/// Per group: its month, and the change in message and disagreement counts.
type DayDeltas = HashMap<DayKey, (String, i64, i64)>;

/// The rows about to be replaced, counted out of their day groups.
async fn old_rows(conn: &mut SqliteConnection, list: &str) -> Result<DayDeltas> {
    let rows = sqlx::query(
        "SELECT at, origin, category, market, charged, tiered, amount, savings, month, disagreement IS NOT NULL
         FROM ledger WHERE message_id IN (SELECT value FROM json_each(?))",
    )
    .bind(list)
    .fetch_all(&mut *conn)
    .await?;
    let mut deltas = DayDeltas::new();
    for r in rows {
        let at: i64 = r.get(0);
        let key = (
            at.div_euclid(DAY),
            r.get(1),
            r.get(2),
            r.get(3),
            r.get(4),
            r.get(5),
            r.get(6),
            r.get(7),
        );
        let d = deltas.entry(key).or_insert((r.get(8), 0, 0));
        d.1 -= 1;
        d.2 -= i64::from(r.get::<bool, _>(9));
    }
    Ok(deltas)
}

async fn write_days(conn: &mut SqliteConnection, deltas: DayDeltas) -> Result<()> {
    let mut emptied = false;
    for ((day, origin, category, market, charged, tiered, amount, savings), (month, n, d)) in deltas {
        if n == 0 && d == 0 {
            continue;
        }
        emptied |= n < 0;
        sqlx::query(
            "INSERT INTO ledger_day (day, origin, category, market, charged, tiered, amount, savings, month, n, disagreements)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT DO UPDATE SET n = n + excluded.n, disagreements = disagreements + excluded.disagreements",
        )
        .bind(day)
        .bind(origin)
        .bind(category)
        .bind(market)
        .bind(charged)
        .bind(tiered)
        .bind(amount)
        .bind(savings)
        .bind(month)
        .bind(n)
        .bind(d)
        .execute(&mut *conn)
        .await?;
    }
    if emptied {
        sqlx::query("DELETE FROM ledger_day WHERE n <= 0")
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

async fn write(conn: &mut SqliteConnection, entries: &[Entry], currency: &str) -> Result<()> {
    const COLS: usize = 22;
    for batch in entries.chunks(32_000 / COLS) {
        let mut sql = String::from(
            "INSERT OR REPLACE INTO ledger (message_id, at, month, contact_id, origin, market, category, pricing_model,
               pricing_type, charged, amount, tiered, savings, currency, card_id, rule, conversation_key,
               computed_billable, computed_category, computed_type, reported, disagreement) VALUES ",
        );
        let row = format!("({})", vec!["?"; COLS].join(","));
        sql.push_str(&vec![row; batch.len()].join(","));
        let mut q = sqlx::query(&sql);
        for e in batch {
            q = q
                .bind(e.message_id)
                .bind(e.at)
                .bind(&e.month)
                .bind(e.contact_id)
                .bind(&e.origin)
                .bind(&e.market)
                .bind(&e.category)
                .bind(&e.model)
                .bind(&e.pricing_type)
                .bind(e.charged)
                .bind(e.amount.to_string())
                .bind(e.tiered)
                .bind(e.savings.to_string())
                .bind(currency)
                .bind(e.card_id)
                .bind(&e.rule)
                .bind(&e.conversation_key)
                .bind(e.computed.billable)
                .bind(&e.computed.category)
                .bind(e.computed.pricing_type)
                .bind(e.reported)
                .bind(&e.disagreement);
        }
        q.execute(&mut *conn).await?;
    }
    Ok(())
}
