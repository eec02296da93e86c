//! Which Graph API version Coexist calls, as dated data: Meta retires a version about two years
//! after its release, and a retired version stops answering. The shipped table names each
//! version with its release and, where Meta has dated it, its end; the default is the newest
//! version Coexist is tested with. `COEXIST_API_VERSION` still picks another one, and
//! `COEXIST_GRAPH_VERSIONS` (a file of the same shape) replaces the table.

use serde::{Deserialize, Serialize};

/// The table shipped with this Coexist.
pub const SHIPPED: &str = include_str!("../../policy/graph-versions.json");

/// How long before a version's end the owner is warned.
pub const WARN_DAYS: i64 = 90;

#[derive(Debug, Clone, Deserialize)]
pub struct GraphVersions {
    pub source: String,
    /// The version Coexist's tests run against: the default.
    pub tested: String,
    pub versions: Vec<GraphVersion>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphVersion {
    pub version: String,
    pub released: chrono::NaiveDate,
    /// Meta's published end, when there is one.
    pub ends: Option<chrono::NaiveDate>,
}

/// What `doctor` and the Dashboard say about the version in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct VersionCheck {
    pub version: String,
    /// The end as Meta dates it, or two years after release (then `estimated`).
    pub ends: Option<String>,
    pub estimated: bool,
    pub days_left: Option<i64>,
    /// A sentence for the owner when the end is within 90 days, past, or the version unknown.
    pub warning: Option<String>,
}

impl GraphVersions {
    pub fn shipped() -> Self {
        serde_json::from_str(SHIPPED).expect("the shipped Graph version table is valid")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        let t: GraphVersions =
            serde_json::from_str(text).map_err(|e| format!("the Graph version table cannot be read: {e}"))?;
        if !t.versions.iter().any(|v| v.version == t.tested) {
            return Err(format!("the tested version {} is not in the table", t.tested));
        }
        Ok(t)
    }

    /// The shipped table, or the one `COEXIST_GRAPH_VERSIONS` names (a bad file is reported and
    /// the shipped table used, so a typo never stops sending).
    pub fn from_env() -> Self {
        match std::env::var_os("COEXIST_GRAPH_VERSIONS") {
            Some(path) => match std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|t| Self::from_json(&t))
            {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(file = ?path, error = %e, "Graph version table not used; the shipped one is");
                    Self::shipped()
                }
            },
            None => Self::shipped(),
        }
    }

    /// The version requests go to: `COEXIST_API_VERSION` when set, else the tested one.
    pub fn in_use(&self) -> String {
        std::env::var("COEXIST_API_VERSION")
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| self.tested.clone())
    }

    /// The version in use, checked against the table this process reads (`doctor`, the Dashboard).
    pub fn check_in_use(now: i64) -> VersionCheck {
        let t = Self::from_env();
        t.check(&t.in_use(), now)
    }

    /// How long `version` has left on `today` (unix seconds), and a warning when it is short.
    pub fn check(&self, version: &str, now: i64) -> VersionCheck {
        let today = chrono::DateTime::from_timestamp(now, 0)
            .map(|d| d.date_naive())
            .unwrap_or_default();
        let Some(v) = self.versions.iter().find(|v| v.version == version) else {
            return VersionCheck {
                version: version.into(),
                ends: None,
                estimated: false,
                days_left: None,
                warning: Some(format!(
                    "Graph API {version} is not in Coexist's table of versions: its end date is unknown (this Coexist is tested with {})",
                    self.tested
                )),
            };
        };
        let (ends, estimated) = match v.ends {
            Some(e) => (e, false),
            None => (
                v.released
                    .checked_add_months(chrono::Months::new(24))
                    .unwrap_or(v.released),
                true,
            ),
        };
        let days_left = (ends - today).num_days();
        let about = if estimated { "about " } else { "" };
        let warning = if days_left < 0 {
            Some(format!(
                "Graph API {version} ended on {about}{ends}: Meta no longer answers it; use {} (unset COEXIST_API_VERSION)",
                self.tested
            ))
        } else if days_left <= WARN_DAYS {
            Some(format!(
                "Graph API {version} ends on {about}{ends}, in {days_left} days: update Coexist or use {}",
                self.tested
            ))
        } else {
            None
        };
        VersionCheck {
            version: version.into(),
            ends: Some(ends.to_string()),
            estimated,
            days_left: Some(days_left),
            warning,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(day: &str) -> i64 {
        chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
            .unwrap()
            .and_hms_opt(12, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp()
    }

    #[test]
    fn the_default_is_a_current_version_and_old_ones_are_warned_about() {
        let t = GraphVersions::shipped();
        assert!(t.tested.as_str() >= "v24.0", "{}", t.tested);
        let now = at("2026-12-02");
        assert_eq!(t.check(&t.tested, now).warning, None);
        // v20 ended on 2026-09-24, as Meta dated it.
        let v20 = t.check("v20.0", now);
        assert!(!v20.estimated && v20.days_left.unwrap() < 0);
        assert!(v20.warning.unwrap().contains("ended on 2026-09-24"));
        // v23 ends 2027-10-08: warned from 90 days before, not earlier.
        assert_eq!(t.check("v23.0", at("2027-07-09")).warning, None);
        let soon = t.check("v23.0", at("2027-07-11"));
        assert!(soon.warning.unwrap().contains("in 89 days"), "{:?}", soon.days_left);
        // v21 has no published end: two years after release, said to be an estimate.
        let v21 = t.check("v21.0", now);
        assert!(v21.estimated && v21.warning.unwrap().contains("about 2026-10-02"));
        assert!(t.check("v9.0", now).warning.unwrap().contains("not in Coexist's table"));
    }

    #[test]
    fn an_imported_table_must_name_its_tested_version() {
        assert!(GraphVersions::from_json(r#"{"source":"x","tested":"v30.0","versions":[]}"#).is_err());
        let ok = GraphVersions::from_json(
            r#"{"source":"x","tested":"v30.0","versions":[{"version":"v30.0","released":"2028-01-01"}]}"#,
        )
        .unwrap();
        assert_eq!(ok.tested, "v30.0");
    }
}
