//! What a message will cost before it is sent: a campaign before launch, and one reply in compose
//! (through the API versus free from the phone). Assumes delivery, so the figure is an upper bound.

use super::ledger::month_of;
use super::rates::tiered_cost;
use super::report::money;
use super::rules::{self, Facts};
use super::BillingContext;
use crate::error::{CoreError, Result};
use crate::store::Store;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct CampaignForecast {
    pub campaign: i64,
    pub template: String,
    pub category: String,
    pub currency: String,
    pub recipients: i64,
    /// Recipients whose message would be free (free entry point, or utility inside a window).
    pub free: i64,
    pub total: String,
    pub by_market: BTreeMap<String, ForecastLine>,
    pub by_category: BTreeMap<String, ForecastLine>,
    pub assumes: String,
    pub sample_rates: bool,
    /// The portfolio's messaging limit (unique customers per 24 h); `None`: unlimited or unknown.
    pub messaging_limit: Option<i64>,
    /// Recipients the limit counts: outside any window and not reached in the last 24 h.
    pub limit_recipients: i64,
    /// What is left of the limit now.
    pub limit_left: Option<i64>,
    /// Days the campaign takes under the limit (1 when it fits).
    pub days: i64,
    /// Why it takes more than a day, in words; `None` when it fits.
    pub pacing: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ForecastLine {
    pub messages: i64,
    pub amount: String,
}

/// The cost of one reply to a contact now.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ReplyCost {
    pub currency: String,
    /// None when the API cannot send it at all (free-form outside the window).
    pub api: Option<String>,
    pub phone: String,
    pub window_open: bool,
    pub pricing_type: String,
    pub explanation: String,
    pub sample_rates: bool,
}

/// Messages and amount per key, while summing.
type Lines = BTreeMap<String, (i64, Decimal)>;

struct Recipient {
    wa_id: Option<String>,
    window_open: bool,
    free_entry: bool,
}

impl Store {
    async fn recipient_windows(
        &self,
        contact_ids_sql: &str,
        bind: i64,
        now: i64,
        ctx: &BillingContext,
    ) -> Result<Vec<Recipient>> {
        let rows: Vec<(Option<String>, Option<i64>, Option<i64>)> = sqlx::query_as(contact_ids_sql)
            .bind(bind)
            .fetch_all(self.pool())
            .await?;
        Ok(rows
            .into_iter()
            .map(|(wa_id, last_in, free_until)| Recipient {
                wa_id,
                window_open: last_in.is_some_and(|t| now - t < ctx.policy.window_secs),
                free_entry: free_until.is_some_and(|t| now < t),
            })
            .collect())
    }

    /// The cost of a campaign's frozen audience if it were sent at `now`, volume tiers included.
    pub async fn forecast_campaign(&self, ctx: &BillingContext, id: i64, now: i64) -> Result<CampaignForecast> {
        self.refresh_ledger(ctx).await?;
        let found: Option<(String, Option<String>)> = sqlx::query_as(
            "SELECT c.template_name, t.category FROM campaign c
             LEFT JOIN template t ON t.name = c.template_name AND t.language = c.language WHERE c.id = ?",
        )
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let (template, category) = found.ok_or_else(|| CoreError::Invalid(format!("there is no campaign {id}")))?;
        let category = category.map(|c| super::category::normalize(&c)).ok_or_else(|| {
            CoreError::Invalid(format!(
                "the template {template} of campaign {id} is not in this workspace; refresh the templates from Meta first"
            ))
        })?;
        let recipients = self
            .recipient_windows(
                "SELECT COALESCE(k.wa_id, k.bsuid), v.last_inbound_at, v.free_entry_until FROM campaign_recipient r
                 JOIN contact k ON k.id = r.contact_id LEFT JOIN conversation v ON v.contact_id = r.contact_id
                 WHERE r.campaign_id = ?",
                id,
                now,
                ctx,
            )
            .await?;
        let card = ctx.card_at(now);
        let month = month_of(now);
        let mut groups: HashMap<(String, &'static str), i64> = HashMap::new();
        let mut free = 0;
        for r in &recipients {
            let c = rules::charge(
                &ctx.policy,
                &Facts {
                    at: now,
                    template_category: Some(&category),
                    window_open: r.window_open,
                    free_entry: r.free_entry,
                    cbp_conversation_open: false,
                },
            );
            match c.rate_column {
                Some(column) if c.billable => {
                    *groups
                        .entry((
                            ctx.markets
                                .market_at(r.wa_id.as_deref(), now, |m| card.is_some_and(|c| c.prices_market(m)))
                                .to_string(),
                            column,
                        ))
                        .or_default() += 1
                }
                _ => free += 1,
            }
        }
        let (mut by_market, mut by_category): (Lines, Lines) = Default::default();
        let mut total = Decimal::ZERO;
        for ((market, column), n) in groups {
            let base = card.and_then(|c| c.price(&market, column)).unwrap_or(Decimal::ZERO);
            let tiers = card.map_or(&[][..], |c| c.tiers(&market, column));
            let amount = if tiers.is_empty() {
                base * Decimal::from(n)
            } else {
                let so_far: i64 = sqlx::query_scalar(
                    "SELECT COUNT(*) FROM ledger WHERE month = ? AND market = ? AND category = ? AND charged = 1",
                )
                .bind(&month)
                .bind(&market)
                .bind(column)
                .fetch_one(self.pool())
                .await?;
                tiered_cost(tiers, base, so_far, n)
            };
            total += amount;
            for (map, key) in [(&mut by_market, market.clone()), (&mut by_category, column.to_string())] {
                let e = map.entry(key).or_default();
                e.0 += n;
                e.1 += amount;
            }
        }
        let lines = |m: Lines| {
            m.into_iter()
                .map(|(k, (messages, amount))| {
                    (
                        k,
                        ForecastLine {
                            messages,
                            amount: money(amount),
                        },
                    )
                })
                .collect()
        };
        let budget = self.limit_budget(now).await?;
        let limit_recipients: i64 = sqlx::query_scalar(&format!(
            "SELECT COUNT(DISTINCT k.id) FROM campaign_recipient r JOIN contact k ON k.id = r.contact_id
             WHERE r.campaign_id = ?2 AND r.outbox_id IS NULL
               AND NOT EXISTS (SELECT 1 FROM conversation v WHERE v.contact_id = k.id
                                 AND (v.last_inbound_at > ?1 - {w} OR v.free_entry_until > ?1))
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.contact_id = k.id
                                 AND p.limit_counted_at > ?1 - {w} AND p.state != 'failed')",
            w = crate::send::limit::LIMIT_WINDOW_SECS
        ))
        .bind(now)
        .bind(id)
        .fetch_one(self.pool())
        .await?;
        let days = crate::send::limit::days_needed(&budget, limit_recipients);
        let pacing = (days > 1).then(|| pacing_words(&budget, limit_recipients, days));
        Ok(CampaignForecast {
            messaging_limit: budget.limit,
            limit_recipients,
            limit_left: budget.left(),
            days,
            pacing,
            campaign: id,
            template,
            category,
            currency: ctx.currency.clone(),
            recipients: recipients.len() as i64,
            free,
            total: money(total),
            by_market: lines(by_market),
            by_category: lines(by_category),
            assumes: "every recipient receives the message (templates are charged on delivery)".into(),
            sample_rates: card.is_some_and(|c| c.sample),
        })
    }

    /// What replying to a contact now costs through the API (a free-form reply, or a template of
    /// `template_category`) against the phone app, which is always free.
    pub async fn reply_cost(
        &self,
        ctx: &BillingContext,
        contact_id: i64,
        template_category: Option<&str>,
        now: i64,
    ) -> Result<ReplyCost> {
        let r = self
            .recipient_windows(
                "SELECT COALESCE(k.wa_id, k.bsuid), v.last_inbound_at, v.free_entry_until FROM contact k
                 LEFT JOIN conversation v ON v.contact_id = k.id WHERE k.id = ?",
                contact_id,
                now,
                ctx,
            )
            .await?
            .pop()
            .ok_or_else(|| CoreError::Invalid(format!("there is no contact {contact_id}")))?;
        let category = template_category.map(super::category::normalize);
        let c = rules::charge(
            &ctx.policy,
            &Facts {
                at: now,
                template_category: category.as_deref(),
                window_open: r.window_open,
                free_entry: r.free_entry,
                cbp_conversation_open: false,
            },
        );
        let card = ctx.card_at(now);
        let market = ctx
            .markets
            .market_at(r.wa_id.as_deref(), now, |m| card.is_some_and(|c| c.prices_market(m)))
            .to_string();
        let sendable = template_category.is_some() || r.window_open;
        let api = match c.rate_column {
            Some(col) if c.billable => card.and_then(|k| k.price(&market, col)).unwrap_or(Decimal::ZERO),
            _ => Decimal::ZERO,
        };
        let explanation = match (template_category, r.window_open, c.billable) {
            (None, false, _) => "The 24-hour reply window is closed: only a template can be sent through the API. From the phone it is free.".to_string(),
            (_, _, false) if c.pricing_type == "free_entry_point" => "Free: the customer came from an ad or a page button (72-hour free entry point).".into(),
            (_, _, false) => "Free: the customer wrote within the last 24 hours.".into(),
            (_, _, true) => {
                // A card without a service column prices service replies at the utility rate.
                let rate = match (c.rate_column, card) {
                    (Some(col), Some(k)) => k.column_for(&market, col),
                    (Some(col), None) => col,
                    (None, _) => "card",
                };
                format!("Charged at the {rate} rate for {market} ({}); free if you answer from the phone.", c.rule)
            }
        };
        Ok(ReplyCost {
            currency: ctx.currency.clone(),
            api: sendable.then(|| money(api)),
            phone: "0".into(),
            window_open: r.window_open,
            pricing_type: c.pricing_type.into(),
            explanation,
            sample_rates: card.is_some_and(|k| k.sample),
        })
    }
}

/// Why a campaign takes `days`, for the owner before launch.
fn pacing_words(budget: &crate::send::limit::LimitBudget, need: i64, days: i64) -> String {
    let limit = budget.limit.unwrap_or_default();
    let left = budget.left().unwrap_or_default();
    format!(
        "Meta lets this business reach {} new customers per 24 hours with templates (its messaging limit), and {} are left now. {} recipients count toward it, so the campaign takes {days} days: Coexist sends what the limit allows and goes on by itself as it frees up.",
        thousands(limit),
        thousands(left),
        thousands(need)
    )
}

fn thousands(n: i64) -> String {
    let s = n.abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}
