//! Billing accounting: what each message cost or will cost under Meta's rules of its date and a
//! rate card, what the phone saved, and where Meta's own `pricing` disagrees. Amounts are exact
//! decimals (`rust_decimal`), never floats.

pub mod category;
mod forecast;
mod ledger;
pub mod policy;
pub mod rates;
mod report;
pub mod rules;

pub use forecast::{CampaignForecast, ForecastLine, ReplyCost};
pub use ledger::RefreshReport;
pub(crate) use ledger::{mark_dirty, mark_window};
pub use policy::{parse_day, PricingPolicy};
pub use rates::{Card, LineError, MarketMap};
pub use report::{Disagreement, Report};

use crate::error::{CoreError, Result};
use crate::store::Store;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::Row;
use std::collections::HashMap;

const SETTING_SERVICE_ALLOWANCE: &str = "billing.service_allowance";
const SETTING_POLICY: &str = "billing.policy";
const SETTING_CURRENCY: &str = "billing.currency";

/// Everything pricing needs, loaded once per refresh, report or forecast.
#[derive(Debug, Clone)]
pub struct BillingContext {
    pub policy: PricingPolicy,
    pub markets: MarketMap,
    pub currency: String,
    /// The cards in `currency`, oldest first.
    pub cards: Vec<Card>,
}

impl BillingContext {
    /// The card in force at `at`: the newest one already effective, else the oldest.
    pub fn card_at(&self, at: i64) -> Option<&Card> {
        self.cards
            .iter()
            .rev()
            .find(|c| c.effective <= at)
            .or_else(|| self.cards.first())
    }
}

/// What an import kept and what it refused, line by line.
#[derive(Debug, Clone, Serialize)]
pub struct ImportOutcome {
    pub card_id: Option<i64>,
    pub imported: usize,
    pub rejected: Vec<LineError>,
}

/// Card facts shown next to every figure, so a sample card is never mistaken for Meta's.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CardInfo {
    pub id: i64,
    pub currency: String,
    pub effective: String,
    pub source: String,
    pub sample: bool,
}

impl Store {
    async fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(sqlx::query_scalar("SELECT value FROM setting WHERE key = ?")
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Every priced message is priced again on the next refresh (after a rule or card change).
    async fn reprice_all(&self) -> Result<()> {
        sqlx::query(
            "INSERT OR IGNORE INTO ledger_dirty (message_id) SELECT id FROM message WHERE origin IN ('api', 'phone')",
        )
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Installs the shipped market map and the sample card the first time billing is used.
    pub async fn billing_defaults(&self, now: i64) -> Result<()> {
        let markets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM market_map")
            .fetch_one(self.pool())
            .await?;
        if markets == 0 {
            self.import_markets(rates::SHIPPED_MARKETS).await?;
        }
        let cards: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rate_card")
            .fetch_one(self.pool())
            .await?;
        if cards == 0 {
            self.import_rate_card(
                rates::SAMPLE_CARD,
                None,
                rates::SAMPLE_CURRENCY,
                rates::SAMPLE_EFFECTIVE,
                "sample",
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// Imports a rate card (and optionally its volume tiers); a card with the same currency and
    /// effective date is replaced. Valid rows are kept, bad ones reported by line.
    pub async fn import_rate_card(
        &self,
        card_csv: &str,
        tiers_csv: Option<&str>,
        currency: &str,
        effective: &str,
        source: &str,
        now: i64,
    ) -> Result<ImportOutcome> {
        let currency = currency.trim().to_uppercase();
        if currency.len() != 3 || !currency.chars().all(|c| c.is_ascii_alphabetic()) {
            return Err(CoreError::Invalid(format!(
                "'{currency}' is not a currency code (use three letters, like USD or INR)"
            )));
        }
        parse_day(effective)?;
        let (prices, mut rejected) = rates::parse_rate_card(card_csv)?;
        let (tiers, tier_errors) = match tiers_csv {
            Some(t) => rates::parse_tiers(t)?,
            None => (Vec::new(), Vec::new()),
        };
        rejected.extend(tier_errors.into_iter().map(|e| LineError {
            line: e.line,
            error: format!("volume tiers: {}", e.error),
        }));
        if prices.is_empty() {
            return Ok(ImportOutcome {
                card_id: None,
                imported: 0,
                rejected,
            });
        }
        let mut tx = self.pool().begin().await?;
        sqlx::query("DELETE FROM rate_card WHERE currency = ? AND effective = ?")
            .bind(&currency)
            .bind(effective.trim())
            .execute(&mut *tx)
            .await?;
        let card_id: i64 = sqlx::query_scalar(
            "INSERT INTO rate_card (currency, effective, source, sample, imported_at) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(&currency)
        .bind(effective.trim())
        .bind(source)
        .bind(source == "sample")
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        for p in &prices {
            sqlx::query("INSERT OR REPLACE INTO rate (card_id, market, category, price) VALUES (?, ?, ?, ?)")
                .bind(card_id)
                .bind(&p.market)
                .bind(p.category)
                .bind(p.price.to_string())
                .execute(&mut *tx)
                .await?;
        }
        for t in &tiers {
            sqlx::query(
                "INSERT OR REPLACE INTO volume_tier (card_id, market, category, from_n, to_n, price) VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(card_id)
            .bind(&t.market)
            .bind(t.category)
            .bind(t.from)
            .bind(t.to)
            .bind(t.price.to_string())
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.reprice_all().await?;
        Ok(ImportOutcome {
            card_id: Some(card_id),
            imported: prices.len() + tiers.len(),
            rejected,
        })
    }

    /// Replaces the calling-code → market map.
    pub async fn import_markets(&self, text: &str) -> Result<ImportOutcome> {
        let (rows, rejected) = rates::parse_markets(text)?;
        let mut tx = self.pool().begin().await?;
        if !rows.is_empty() {
            sqlx::query("DELETE FROM market_map").execute(&mut *tx).await?;
        }
        for r in &rows {
            sqlx::query("INSERT OR REPLACE INTO market_map (calling_code, market, effective_from) VALUES (?, ?, ?)")
                .bind(&r.calling_code)
                .bind(&r.market)
                .bind(r.effective_from)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.reprice_all().await?;
        Ok(ImportOutcome {
            card_id: None,
            imported: rows.len(),
            rejected,
        })
    }

    /// Imports a user's policy file (validated first); it replaces the shipped one.
    pub async fn import_policy(&self, text: &str) -> Result<PricingPolicy> {
        let policy = PricingPolicy::from_json(text)?;
        self.set_setting(SETTING_POLICY, text).await?;
        self.reprice_all().await?;
        Ok(policy)
    }

    /// Counts (or stops counting) the free service messages a month that partners report; it is
    /// not on Meta's pricing page, so it is off until the owner turns it on.
    pub async fn set_service_allowance(&self, enabled: bool) -> Result<()> {
        self.set_setting(SETTING_SERVICE_ALLOWANCE, if enabled { "on" } else { "off" })
            .await?;
        self.reprice_all().await
    }

    /// The currency reports are priced in.
    pub async fn set_billing_currency(&self, currency: &str) -> Result<()> {
        let currency = currency.trim().to_uppercase();
        let known: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM rate_card WHERE currency = ?")
            .bind(&currency)
            .fetch_one(self.pool())
            .await?;
        if known == 0 {
            return Err(CoreError::Invalid(format!(
                "there is no rate card in {currency}: import a rate card in that currency first"
            )));
        }
        self.set_setting(SETTING_CURRENCY, &currency).await?;
        self.reprice_all().await
    }

    pub async fn pricing_policy(&self) -> Result<PricingPolicy> {
        // The 2026-10-01 service charge is Meta's published rule, dated in the policy like the
        // others; the on/off setting earlier versions kept is no longer read.
        let policy = match self.setting(SETTING_POLICY).await? {
            Some(text) => PricingPolicy::from_json(&text)?,
            None => PricingPolicy::shipped(),
        };
        let allowance = match self.setting(SETTING_SERVICE_ALLOWANCE).await?.as_deref() {
            Some("on") => Some(true),
            Some("off") => Some(false),
            _ => None,
        };
        Ok(policy.with_service_allowance(allowance))
    }

    /// Loads policy, market map and the cards of the chosen currency, installing defaults first.
    pub async fn billing_context(&self, now: i64) -> Result<BillingContext> {
        self.billing_defaults(now).await?;
        let policy = self.pricing_policy().await?;
        let markets: Vec<rates::MarketRow> =
            sqlx::query_as("SELECT calling_code, market, effective_from FROM market_map")
                .fetch_all(self.pool())
                .await?;
        let currency = match self.setting(SETTING_CURRENCY).await? {
            Some(c) => c,
            None => {
                sqlx::query_scalar("SELECT currency FROM rate_card ORDER BY imported_at DESC, id DESC LIMIT 1")
                    .fetch_one(self.pool())
                    .await?
            }
        };
        let rows = sqlx::query("SELECT id, effective, sample FROM rate_card WHERE currency = ? ORDER BY effective")
            .bind(&currency)
            .fetch_all(self.pool())
            .await?;
        let mut cards = Vec::new();
        for r in rows {
            let id: i64 = r.get(0);
            let effective: String = r.get(1);
            let prices: Vec<(String, String, String)> =
                sqlx::query_as("SELECT market, category, price FROM rate WHERE card_id = ?")
                    .bind(id)
                    .fetch_all(self.pool())
                    .await?;
            let tier_rows: Vec<(String, String, i64, Option<i64>, String)> = sqlx::query_as(
                "SELECT market, category, from_n, to_n, price FROM volume_tier WHERE card_id = ? ORDER BY from_n",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await?;
            let mut tiers: HashMap<(String, String), Vec<rates::Tier>> = HashMap::new();
            for (market, category, from, to, price) in tier_rows {
                let Some(column) = rules::rate_column(&category) else {
                    continue;
                };
                tiers.entry((market.clone(), category)).or_default().push(rates::Tier {
                    market,
                    category: column,
                    from,
                    to,
                    price: stored_decimal(&price)?,
                });
            }
            cards.push(Card {
                id,
                currency: currency.clone(),
                effective: parse_day(&effective)?,
                sample: r.get(2),
                prices: prices
                    .into_iter()
                    .map(|(m, c, p)| Ok(((m, c), stored_decimal(&p)?)))
                    .collect::<Result<_>>()?,
                tiers,
            });
        }
        Ok(BillingContext {
            policy,
            markets: MarketMap::new(markets),
            currency,
            cards,
        })
    }

    /// The cards on record, newest first.
    pub async fn rate_cards(&self) -> Result<Vec<CardInfo>> {
        let rows: Vec<(i64, String, String, String, bool)> = sqlx::query_as(
            "SELECT id, currency, effective, source, sample FROM rate_card ORDER BY effective DESC, id DESC",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .into_iter()
            .map(|(id, currency, effective, source, sample)| CardInfo {
                id,
                currency,
                effective,
                source,
                sample,
            })
            .collect())
    }
}

/// A decimal read back from the database, where only the core writes them.
pub(crate) fn stored_decimal(s: &str) -> Result<Decimal> {
    s.parse::<Decimal>()
        .map_err(|_| CoreError::Invalid(format!("the billing data holds '{s}' where an amount belongs")))
}
