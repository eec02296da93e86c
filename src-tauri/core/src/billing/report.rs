//! Reports over the ledger: totals by category, market, origin and month, the phone's savings,
//! and Meta's disagreements. Grouped in SQL, summed exactly in Rust.

use super::rates::tiered_cost;
use super::{stored_decimal, BillingContext, CardInfo};
use crate::error::Result;
use crate::store::Store;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;

const DAY: i64 = 86_400;

/// Amounts are decimal strings in `currency`, exact.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Report {
    pub currency: String,
    pub from: i64,
    pub to: i64,
    pub total: String,
    pub by_category: BTreeMap<String, String>,
    pub by_market: BTreeMap<String, String>,
    pub by_origin: BTreeMap<String, String>,
    pub by_month: BTreeMap<String, String>,
    /// What the phone-sent messages would have cost through the API.
    pub savings: String,
    pub messages: MessageCounts,
    pub disagreements: Disagreements,
    pub rate_cards: Vec<CardInfo>,
    pub sample_rates: bool,
    /// Charged messages in a category Coexist has no price for (one Meta added since), by
    /// category: counted at zero and shown, never dropped.
    pub unpriced: BTreeMap<String, i64>,
    pub service_charge_2026: bool,
    /// Service messages free each month by the partner-reported allowance, when turned on.
    pub service_allowance: Option<i64>,
    pub policy_version: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "BillingMessageCounts"))]
pub struct MessageCounts {
    pub api: i64,
    pub phone: i64,
    pub charged: i64,
    pub free: i64,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Disagreements {
    pub count: i64,
    pub examples: Vec<Disagreement>,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Disagreement {
    pub wamid: String,
    pub at: i64,
    pub detail: String,
}

/// One GROUP BY row of the ledger.
#[derive(sqlx::FromRow)]
struct Group {
    origin: String,
    category: String,
    market: String,
    month: String,
    charged: bool,
    tiered: bool,
    amount: String,
    savings: String,
    n: i64,
}

fn add(map: &mut BTreeMap<String, Decimal>, key: &str, v: Decimal) {
    *map.entry(key.to_string()).or_default() += v;
}

fn strings(map: BTreeMap<String, Decimal>) -> BTreeMap<String, String> {
    map.into_iter().map(|(k, v)| (k, money(v))).collect()
}

/// Exact, without trailing zeros.
pub(crate) fn money(d: Decimal) -> String {
    d.normalize().to_string()
}

impl Store {
    /// The bill for the UTC days of `[from, to)` (unix seconds, counted by whole days: a bound
    /// inside a day moves to that day's start), after pricing whatever changed.
    #[tracing::instrument(skip_all)]
    pub async fn billing_report(&self, ctx: &BillingContext, from: i64, to: i64) -> Result<Report> {
        self.refresh_ledger(ctx).await?;
        let (from_day, to_day) = (from.div_euclid(DAY), to.div_euclid(DAY));
        let (from, to) = (from_day * DAY, to_day * DAY);
        let groups: Vec<Group> = sqlx::query_as(
            "SELECT origin, category, market, month, charged, tiered, amount, savings, SUM(n) AS n
             FROM ledger_day WHERE day >= ? AND day < ?
             GROUP BY origin, category, market, month, charged, tiered, amount, savings",
        )
        .bind(from_day)
        .bind(to_day)
        .fetch_all(self.pool())
        .await?;
        let (mut by_category, mut by_market, mut by_origin, mut by_month) =
            (BTreeMap::new(), BTreeMap::new(), BTreeMap::new(), BTreeMap::new());
        by_origin.insert("api".to_string(), Decimal::ZERO);
        by_origin.insert("phone".to_string(), Decimal::ZERO);
        let (mut total, mut savings) = (Decimal::ZERO, Decimal::ZERO);
        let mut counts = MessageCounts::default();
        let mut unpriced = BTreeMap::new();
        // Tiered charges are priced per (month, market, category) count, continuing the month.
        let mut tiered: HashMap<(String, String, String), i64> = HashMap::new();
        for g in groups {
            let Group {
                origin,
                category,
                market,
                month,
                charged,
                tiered: is_tiered,
                amount,
                savings: saved,
                n,
            } = g;
            match origin.as_str() {
                "phone" => counts.phone += n,
                _ => counts.api += n,
            }
            if charged {
                counts.charged += n;
            } else {
                counts.free += n;
            }
            savings += stored_decimal(&saved)? * Decimal::from(n);
            if !charged {
                continue;
            }
            if super::rules::rate_column(&category).is_none() {
                *unpriced.entry(category.clone()).or_default() += n;
            }
            if is_tiered {
                *tiered.entry((month, market, category)).or_default() += n;
                continue;
            }
            let v = stored_decimal(&amount)? * Decimal::from(n);
            total += v;
            add(&mut by_category, &category, v);
            add(&mut by_market, &market, v);
            add(&mut by_origin, &origin, v);
            add(&mut by_month, &month, v);
        }
        for ((month, market, category), n) in tiered {
            let v = self.tiered_amount(ctx, &month, &market, &category, from, n).await?;
            total += v;
            add(&mut by_category, &category, v);
            add(&mut by_market, &market, v);
            add(&mut by_origin, "api", v);
            add(&mut by_month, &month, v);
        }
        let count: i64 =
            sqlx::query_scalar("SELECT COALESCE(SUM(disagreements), 0) FROM ledger_day WHERE day >= ? AND day < ?")
                .bind(from_day)
                .bind(to_day)
                .fetch_one(self.pool())
                .await?;
        let examples: Vec<(String, i64, String)> = sqlx::query_as(
            "SELECT m.wamid, l.at, l.disagreement FROM ledger l JOIN message m ON m.id = l.message_id
             WHERE l.at >= ? AND l.at < ? AND l.disagreement IS NOT NULL ORDER BY l.at LIMIT 20",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let cards = self.rate_cards().await?;
        Ok(Report {
            currency: ctx.currency.clone(),
            from,
            to,
            total: money(total),
            by_category: strings(by_category),
            by_market: strings(by_market),
            by_origin: strings(by_origin),
            by_month: strings(by_month),
            savings: money(savings),
            messages: counts,
            disagreements: Disagreements {
                count,
                examples: examples
                    .into_iter()
                    .map(|(wamid, at, detail)| Disagreement { wamid, at, detail })
                    .collect(),
            },
            sample_rates: ctx.cards.iter().any(|c| c.sample),
            unpriced,
            rate_cards: cards.into_iter().filter(|c| c.currency == ctx.currency).collect(),
            service_charge_2026: ctx.policy.service_charged_from.is_some(),
            service_allowance: ctx.policy.service_allowance.map(|(_, n)| n),
            policy_version: ctx.policy.file.version.clone(),
        })
    }

    /// `n` charged messages of a month at a tiered rate, numbered after those of the same month
    /// that fall before the report's start.
    async fn tiered_amount(
        &self,
        ctx: &BillingContext,
        month: &str,
        market: &str,
        category: &str,
        from: i64,
        n: i64,
    ) -> Result<Decimal> {
        let (offset, at): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), MIN(at) FROM ledger WHERE month = ? AND market = ? AND category = ? AND charged = 1
               AND tiered = 1 AND at < ?",
        )
        .bind(month)
        .bind(market)
        .bind(category)
        .bind(from)
        .fetch_one(self.pool())
        .await?;
        let at = match at {
            Some(a) => a,
            None => sqlx::query_scalar(
                "SELECT MIN(at) FROM ledger WHERE month = ? AND market = ? AND category = ? AND tiered = 1 AND at >= ?",
            )
            .bind(month)
            .bind(market)
            .bind(category)
            .bind(from)
            .fetch_one(self.pool())
            .await
            .unwrap_or(from),
        };
        let Some(column) = super::rules::rate_column(category) else {
            return Ok(Decimal::ZERO);
        };
        let Some(card) = ctx.card_at(at) else {
            return Ok(Decimal::ZERO);
        };
        let base = card.price(market, column).unwrap_or(Decimal::ZERO);
        Ok(tiered_cost(card.tiers(market, column), base, offset, n))
    }

    /// The ledger of `[from, to)` as CSV, one line per message, for an accountant.
    pub async fn billing_export_csv<W: Write>(&self, ctx: &BillingContext, from: i64, to: i64, out: W) -> Result<u64> {
        self.refresh_ledger(ctx).await?;
        let rows = sqlx::query(
            "SELECT m.wamid, l.at, l.origin, l.market, l.category, l.pricing_model, l.pricing_type, l.charged,
                    l.amount, l.savings, l.currency, l.rule, COALESCE(l.disagreement, '')
             FROM ledger l JOIN message m ON m.id = l.message_id WHERE l.at >= ? AND l.at < ? ORDER BY l.at, l.message_id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        let mut w = csv::Writer::from_writer(out);
        let io = |e: csv::Error| crate::error::CoreError::Invalid(format!("could not write the CSV: {e}"));
        w.write_record([
            "wamid",
            "at_utc",
            "origin",
            "market",
            "category",
            "pricing_model",
            "pricing_type",
            "charged",
            "amount",
            "savings",
            "currency",
            "rule",
            "disagreement",
        ])
        .map_err(io)?;
        let mut n = 0;
        for r in rows {
            let at: i64 = r.get(1);
            let when = chrono::DateTime::from_timestamp(at, 0)
                .map(|d| d.to_rfc3339())
                .unwrap_or_default();
            let text = |i: usize| r.get::<String, _>(i);
            let charged = if r.get::<bool, _>(7) { "yes" } else { "no" };
            w.write_record([
                text(0),
                when,
                text(2),
                text(3),
                text(4),
                text(5),
                text(6),
                charged.to_string(),
                text(8),
                text(9),
                text(10),
                text(11),
                text(12),
            ])
            .map_err(io)?;
            n += 1;
        }
        w.flush()
            .map_err(|e| crate::error::CoreError::Invalid(format!("could not write the CSV: {e}")))?;
        Ok(n)
    }
}
