//! Pricing rules as dated data (DESIGN §4): shipped with the app, importable by the user, and
//! read here into the few dates the charge rules need.

use crate::error::{CoreError, Result};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// The policy file shipped with this build.
pub const SHIPPED_POLICY: &str = include_str!("../../policy/pricing-policy.json");

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PolicyFile {
    pub version: String,
    pub service_window_hours: i64,
    pub free_entry_point_hours: i64,
    pub rules: Vec<RuleEntry>,
}

/// One dated rule, with where it comes from so an owner can check it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuleEntry {
    pub id: String,
    pub kind: RuleKind,
    /// YYYY-MM-DD, UTC.
    pub effective: String,
    pub summary: String,
    pub source: String,
    /// Announced by partners but not yet on Meta's page.
    #[serde(default)]
    pub announced: bool,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// For `service_allowance`: how many service messages a month are free per number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monthly_free: Option<i64>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    ConversationBased,
    ServiceFree,
    PerMessage,
    ServiceCharged,
    /// A monthly allowance of free service messages that partners report (not Meta's page).
    ServiceAllowance,
}

/// The dates and windows the charge rules read, resolved from a policy file.
#[derive(Debug, Clone)]
pub struct PricingPolicy {
    pub file: PolicyFile,
    pub cbp_service_free_from: i64,
    pub pmp_from: i64,
    /// None when the rule is absent or switched off.
    pub service_charged_from: Option<i64>,
    /// From when, and how many service messages a month are free; None unless turned on.
    pub service_allowance: Option<(i64, i64)>,
    pub window_secs: i64,
    pub free_entry_secs: i64,
}

/// The allowance rule's start and monthly count, when it is on (`enabled` overrides the file).
fn allowance(file: &PolicyFile, enabled: Option<bool>) -> Result<Option<(i64, i64)>> {
    let Some(r) = file.rules.iter().find(|r| r.kind == RuleKind::ServiceAllowance) else {
        return Ok(None);
    };
    if !enabled.unwrap_or(r.enabled) {
        return Ok(None);
    }
    let n = r
        .monthly_free
        .filter(|n| *n > 0)
        .ok_or_else(|| CoreError::Invalid("the service allowance rule needs a positive monthly_free".into()))?;
    Ok(Some((parse_day(&r.effective)?, n)))
}

/// Midnight UTC of a `YYYY-MM-DD` date, as unix seconds.
pub fn parse_day(s: &str) -> Result<i64> {
    let d = NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d")
        .map_err(|_| CoreError::Invalid(format!("'{s}' is not a date written as YYYY-MM-DD")))?;
    Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp())
}

impl PricingPolicy {
    pub fn shipped() -> Self {
        Self::from_json(SHIPPED_POLICY).expect("the shipped pricing policy is valid")
    }

    /// Reads a policy file; every rule kind the charge rules need must be present once.
    pub fn from_json(text: &str) -> Result<Self> {
        let file: PolicyFile = serde_json::from_str(text)
            .map_err(|e| CoreError::Invalid(format!("the pricing policy file cannot be read: {e}")))?;
        let day_of = |kind: RuleKind| -> Result<Option<(i64, bool)>> {
            let mut found = file.rules.iter().filter(|r| r.kind == kind);
            match (found.next(), found.next()) {
                (Some(r), None) => Ok(Some((parse_day(&r.effective)?, r.enabled))),
                (None, _) => Ok(None),
                (Some(_), Some(_)) => Err(CoreError::Invalid(format!(
                    "the pricing policy has more than one rule of kind {kind:?}"
                ))),
            }
        };
        let need = |kind: RuleKind| -> Result<i64> {
            day_of(kind)?
                .map(|(d, _)| d)
                .ok_or_else(|| CoreError::Invalid(format!("the pricing policy has no rule of kind {kind:?}")))
        };
        if file.service_window_hours <= 0 || file.free_entry_point_hours <= 0 {
            return Err(CoreError::Invalid(
                "the pricing policy's windows must be positive".into(),
            ));
        }
        Ok(Self {
            cbp_service_free_from: need(RuleKind::ServiceFree)?,
            pmp_from: need(RuleKind::PerMessage)?,
            service_charged_from: day_of(RuleKind::ServiceCharged)?.and_then(|(d, on)| on.then_some(d)),
            service_allowance: allowance(&file, None)?,
            window_secs: file.service_window_hours * 3600,
            free_entry_secs: file.free_entry_point_hours * 3600,
            file,
        })
    }

    /// The owner's choice about the partner-reported allowance (`None`: as the file says).
    pub fn with_service_allowance(mut self, enabled: Option<bool>) -> Self {
        self.service_allowance = allowance(&self.file, enabled).ok().flatten();
        self
    }

    /// How many service messages of `at`'s month are free, when the allowance applies then.
    pub fn service_allowance_at(&self, at: i64) -> Option<i64> {
        self.service_allowance.filter(|(from, _)| at >= *from).map(|(_, n)| n)
    }

    pub fn service_charged(&self, at: i64) -> bool {
        self.service_charged_from.is_some_and(|d| at >= d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policy_dates() {
        let p = PricingPolicy::shipped();
        assert_eq!(p.pmp_from, 1_751_328_000); // 2025-07-01
        assert_eq!(p.cbp_service_free_from, 1_730_419_200); // 2024-11-01
        assert_eq!(p.service_charged_from, Some(1_790_812_800)); // 2026-10-01
        assert!(p.file.rules.iter().all(|r| !r.source.is_empty()));
    }

    #[test]
    fn bad_policy_is_refused_in_words() {
        let e = PricingPolicy::from_json(
            r#"{"version":"x","service_window_hours":24,"free_entry_point_hours":72,"rules":[]}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("no rule of kind"), "{e}");
        assert!(parse_day("2025-13-01").is_err());
    }
}
