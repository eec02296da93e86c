//! The messaging limit: how many unique customers a business portfolio may reach with templates
//! outside a customer-service window per rolling 24 hours (250, 2,000, 10,000, 100,000 or
//! unlimited; Meta reports it as `whatsapp_business_manager_messaging_limit`). A campaign larger
//! than what is left goes out as the limit frees up, over as many days as it needs.

use crate::error::Result;
use crate::store::Store;
use serde::Serialize;

/// The limit's rolling window.
pub const LIMIT_WINDOW_SECS: i64 = 24 * 3600;

/// Meta's tier name as a number of customers: `Some(None)` is unlimited, `None` unreadable.
/// Read leniently: `TIER_2K`, `TIER_250`, `TIER_UNLIMITED`, a bare number or `2K`.
pub fn parse_tier(tier: &str) -> Option<Option<i64>> {
    let t = tier.trim().to_ascii_uppercase();
    let t = t.strip_prefix("TIER_").unwrap_or(&t);
    if t == "UNLIMITED" {
        return Some(None);
    }
    let (digits, scale) = match t.strip_suffix('K') {
        Some(d) => (d, 1_000),
        None => (t, 1),
    };
    digits.parse::<i64>().ok().filter(|n| *n > 0).map(|n| Some(n * scale))
}

/// The predicate "this outbox row, sent at ?now, counts toward the limit": a template to a
/// customer outside any service or free-entry window, not already reached in the last 24 h.
/// `row` is the alias or name of the outbox row; `?1` must bind the time (unix seconds).
pub(crate) fn counts(row: &str) -> String {
    format!(
        "({row}.kind = 'template'
          AND NOT EXISTS (SELECT 1 FROM conversation v WHERE v.contact_id = {row}.contact_id
                            AND (v.last_inbound_at > ?1 - {LIMIT_WINDOW_SECS} OR v.free_entry_until > ?1))
          AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.recipient = {row}.recipient
                            AND p.limit_counted_at > ?1 - {LIMIT_WINDOW_SECS} AND p.state != 'failed'))"
    )
}

/// Where the limit stands at a moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LimitBudget {
    /// Unique customers per 24 h; `None`: unlimited or not known.
    pub limit: Option<i64>,
    /// Meta's own name for it, as last read.
    pub tier: Option<String>,
    /// Customers reached in the last 24 h.
    pub used: i64,
    /// When the oldest of those leaves the window (more may be reached then).
    pub frees_at: Option<i64>,
}

impl LimitBudget {
    pub fn left(&self) -> Option<i64> {
        self.limit.map(|l| (l - self.used).max(0))
    }
    pub fn full(&self) -> bool {
        self.left() == Some(0)
    }
}

impl Store {
    /// Records the limit Meta reported; an unreadable tier is kept for display, the number left
    /// as it was.
    pub async fn set_messaging_limit(&self, tier: &str, at: i64) -> Result<Option<i64>> {
        let parsed = parse_tier(tier);
        if parsed.is_none() {
            tracing::warn!(tier, "Meta reported a messaging limit Coexist cannot read");
        }
        sqlx::query(
            "UPDATE account SET messaging_limit_tier = ?1, messaging_limit_at = ?2,
                    messaging_limit = CASE WHEN ?3 THEN ?4 ELSE messaging_limit END WHERE id = 1",
        )
        .bind(tier)
        .bind(at)
        .bind(parsed.is_some())
        .bind(parsed.flatten())
        .execute(self.pool())
        .await?;
        Ok(parsed.flatten())
    }

    pub async fn limit_budget(&self, now: i64) -> Result<LimitBudget> {
        let (limit, tier): (Option<i64>, Option<String>) =
            sqlx::query_as("SELECT messaging_limit, messaging_limit_tier FROM account WHERE id = 1")
                .fetch_one(self.pool())
                .await?;
        let (used, oldest): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(DISTINCT recipient), MIN(limit_counted_at) FROM outbox
             WHERE limit_counted_at > ?1 - ?2 AND state != 'failed'",
        )
        .bind(now)
        .bind(LIMIT_WINDOW_SECS)
        .fetch_one(self.pool())
        .await?;
        Ok(LimitBudget {
            limit,
            tier,
            used,
            frees_at: oldest.map(|t| t + LIMIT_WINDOW_SECS),
        })
    }
}

/// How many days a send to `need` limit-counting customers takes with `budget` at its start:
/// what is left goes today, the rest a full limit per day after.
pub fn days_needed(budget: &LimitBudget, need: i64) -> i64 {
    match (budget.limit, budget.left()) {
        (Some(limit), Some(left)) if need > left => 1 + (need - left + limit - 1) / limit,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_read_as_meta_names_them() {
        assert_eq!(parse_tier("TIER_250"), Some(Some(250)));
        assert_eq!(parse_tier("TIER_2K"), Some(Some(2_000)));
        assert_eq!(parse_tier("tier_100k"), Some(Some(100_000)));
        assert_eq!(parse_tier("TIER_UNLIMITED"), Some(None));
        assert_eq!(parse_tier("10000"), Some(Some(10_000)));
        assert_eq!(parse_tier("TIER_SOMETHING"), None);
        assert_eq!(parse_tier("TIER_0"), None);
    }

    #[test]
    fn days_follow_what_is_left_then_a_limit_a_day() {
        let b = |limit: Option<i64>, used| LimitBudget {
            limit,
            tier: None,
            used,
            frees_at: None,
        };
        assert_eq!(days_needed(&b(Some(2_000), 0), 3_000), 2);
        assert_eq!(days_needed(&b(Some(2_000), 0), 2_000), 1);
        assert_eq!(days_needed(&b(Some(2_000), 1_500), 3_000), 3);
        assert_eq!(days_needed(&b(Some(250), 250), 1), 2);
        assert_eq!(days_needed(&b(None, 0), 1_000_000), 1);
    }
}
