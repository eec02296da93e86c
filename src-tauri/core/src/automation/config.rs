//! What the owner configures: FAQ replies with language variants, business hours and the away
//! message, a first-contact greeting, routing, follow-ups and the takeover pause. Stored as JSON.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct AutomationConfig {
    #[serde(default)]
    pub enabled: bool,
    /// Customer messages older than this when automation sees them are left to people (after
    /// downtime, a day-old question should not get a bot answer).
    #[serde(default = "default_max_age")]
    pub max_age_minutes: i64,
    /// How long a human reply (from the phone or the desk) pauses automation in that chat.
    #[serde(default = "default_pause")]
    pub takeover_pause_hours: i64,
    #[serde(default)]
    pub business_hours: Option<BusinessHours>,
    /// First message ever from a contact: greeting by language (`default` when unknown).
    #[serde(default)]
    pub greeting: BTreeMap<String, String>,
    #[serde(default)]
    pub faq: Vec<Faq>,
    #[serde(default)]
    pub routing: Vec<Route>,
    #[serde(default)]
    pub follow_ups: Vec<FollowUp>,
}

fn default_max_age() -> i64 {
    60
}
fn default_pause() -> i64 {
    12
}

/// A year in hours: no pause, period or delay in these settings is longer.
const MAX_HOURS: i64 = 8_784;

impl AutomationConfig {
    /// Durations within sane bounds, so nothing overflows when turned into seconds and a typo
    /// (minutes for hours, milliseconds for seconds) is refused with the field named.
    pub fn check_ranges(&self) -> Result<(), String> {
        let hours = |what: &str, v: i64| {
            if (0..=MAX_HOURS).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "{what} must be between 0 and {MAX_HOURS} hours (a year), not {v}"
                ))
            }
        };
        hours("the take-over pause", self.takeover_pause_hours)?;
        if !(0..=MAX_HOURS * 60).contains(&self.max_age_minutes) {
            return Err(format!(
                "the oldest message automation answers must be between 0 and {} minutes, not {}",
                MAX_HOURS * 60,
                self.max_age_minutes
            ));
        }
        if let Some(b) = &self.business_hours {
            hours("the away message's period", b.away_every_hours)?;
            if !(-14 * 60..=14 * 60).contains(&b.utc_offset_minutes) {
                return Err(format!(
                    "the UTC offset must be between -840 and 840 minutes, not {}",
                    b.utc_offset_minutes
                ));
            }
        }
        for f in &self.follow_ups {
            hours(&format!("the follow-up {}'s delay", f.name), f.after_hours)?;
        }
        Ok(())
    }
}

impl Default for AutomationConfig {
    fn default() -> Self {
        serde_json::from_str("{}").expect("empty config")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BusinessHours {
    /// The shop's offset from UTC in minutes (e.g. 330 for India, -300 for New York in winter).
    pub utc_offset_minutes: i64,
    /// `mon`…`sun` → `["09:00", "18:00"]`; a missing day is closed.
    pub days: BTreeMap<String, (String, String)>,
    /// Sent outside hours, by language.
    pub away_message: BTreeMap<String, String>,
    /// At most once per this many hours per contact.
    #[serde(default = "default_away_every")]
    pub away_every_hours: i64,
}

fn default_away_every() -> i64 {
    12
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Faq {
    pub name: String,
    /// Language → keywords (whole words, case-insensitive) and the reply in that language.
    pub variants: BTreeMap<String, Variant>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Variant {
    pub keywords: Vec<String>,
    pub reply: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Route {
    pub name: String,
    pub keywords: Vec<String>,
    #[serde(default)]
    pub tag: Option<String>,
    #[serde(default)]
    pub assign: Option<String>,
    #[serde(default)]
    pub vip: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct FollowUp {
    pub name: String,
    /// After a message from the desk or a campaign, if nobody has written since.
    pub after_hours: i64,
    pub template: String,
    pub language: String,
}
