//! Connecting a number: the eligibility check from dated policy data, the link check, and the
//! once-only, 24-hour contact and history sync requests (recorded before the call, never retried
//! blindly).

use crate::billing::parse_day;
use crate::cloud::{CloudClient, GraphError};
use crate::error::{CoreError, Result};
use crate::reminders::schedule::SYNC_WINDOW_SECS;
use crate::store::Store;
use serde::{Deserialize, Serialize};

pub const SHIPPED_ELIGIBILITY: &str = include_str!("../policy/eligibility.json");

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct EligibilityPolicy {
    pub version: String,
    pub min_app_version: String,
    pub default_since: String,
    pub source: String,
    pub regions: Vec<Region>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Region {
    pub name: String,
    pub since: String,
    pub calling_codes: Vec<String>,
}

/// The answer, in words an owner reads: each line says what is fine or what to do.
#[derive(Debug, Clone, Serialize)]
pub struct Eligibility {
    pub eligible: bool,
    pub answers: Vec<String>,
    pub policy_version: String,
}

fn version_parts(v: &str) -> Option<Vec<u32>> {
    v.trim().split('.').map(|p| p.parse().ok()).collect()
}

impl EligibilityPolicy {
    pub fn shipped() -> Self {
        serde_json::from_str(SHIPPED_ELIGIBILITY).expect("the shipped eligibility policy is valid")
    }

    /// `number` in digits (a leading `+` is fine); `app_version` as the phone shows it.
    pub fn check(&self, number: &str, app_version: Option<&str>, now: i64) -> Result<Eligibility> {
        let digits: String = number.chars().filter(char::is_ascii_digit).collect();
        if digits.len() < 8 {
            return Err(CoreError::Invalid(format!(
                "'{number}' is not a full phone number: write it with the country code, like +44 7700 900123"
            )));
        }
        let mut answers = Vec::new();
        let mut eligible = true;
        let region = self
            .regions
            .iter()
            .flat_map(|r| r.calling_codes.iter().map(move |c| (c, r)))
            .filter(|(c, _)| digits.starts_with(c.as_str()))
            .max_by_key(|(c, _)| c.len())
            .map(|(_, r)| r);
        let (since, place) = match region {
            Some(r) => (parse_day(&r.since)?, format!("Numbers from {}", r.name)),
            None => (parse_day(&self.default_since)?, "Numbers from this country".to_string()),
        };
        let day =
            chrono::DateTime::from_timestamp(since, 0).map_or_else(String::new, |d| d.format("%-d %B %Y").to_string());
        if now >= since {
            answers.push(format!(
                "{place} can use the WhatsApp Business app and the API together (since {day})."
            ));
        } else {
            eligible = false;
            answers.push(format!(
                "{place} can use the app and the API together only from {day}. Until then, keep using the phone alone."
            ));
        }
        match app_version {
            None => answers.push(format!(
                "Check the WhatsApp Business app version on the phone (Settings → Help → App info): it must be {} or newer.",
                self.min_app_version
            )),
            Some(v) => match (version_parts(v), version_parts(&self.min_app_version)) {
                (Some(have), Some(need)) if have >= need => {
                    answers.push(format!("The app version {v} is new enough."))
                }
                (Some(_), _) => {
                    eligible = false;
                    answers.push(format!(
                        "The app version {v} is too old: update WhatsApp Business to {} or newer from the app store first.",
                        self.min_app_version
                    ));
                }
                (None, _) => {
                    return Err(CoreError::Invalid(format!(
                        "'{v}' is not an app version (it looks like 2.24.17)"
                    )))
                }
            },
        }
        Ok(Eligibility {
            eligible,
            answers,
            policy_version: self.version.clone(),
        })
    }
}

/// The two syncs Meta allows once each, within 24 hours of onboarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum SyncType {
    Contacts,
    History,
}

impl SyncType {
    pub fn api_name(self) -> &'static str {
        match self {
            SyncType::Contacts => "smb_app_state_sync",
            SyncType::History => "history",
        }
    }
    fn label(self) -> &'static str {
        match self {
            SyncType::Contacts => "contact sync",
            SyncType::History => "chat history import",
        }
    }
}

/// What Meta answered a sync request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncAnswer {
    Accepted {
        request_id: String,
    },
    Refused(GraphError),
    /// No connection was made: Meta never saw it.
    Unreachable(String),
    /// The request may have reached Meta and the answer was lost.
    Lost(String),
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncOutcome {
    pub sync_type: SyncType,
    pub request_id: Option<String>,
    pub result: String,
    pub message: String,
}

/// What the number looks like to Meta (the link check).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct PhoneStatus {
    #[serde(default)]
    pub display_phone_number: Option<String>,
    #[serde(default)]
    pub verified_name: Option<String>,
    #[serde(default)]
    pub is_on_biz_app: Option<bool>,
    #[serde(default)]
    pub platform_type: Option<String>,
    /// The portfolio's messaging limit tier, e.g. `TIER_2K` (read as text, whatever its form).
    #[serde(default, deserialize_with = "tier_text")]
    pub whatsapp_business_manager_messaging_limit: Option<String>,
}

/// Meta names tiers as strings (`TIER_2K`); a number or an object with a `tier` is read too.
fn tier_text<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<String>, D::Error> {
    let v: Option<serde_json::Value> = serde::Deserialize::deserialize(d)?;
    Ok(match v {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        Some(serde_json::Value::Object(o)) => o.get("tier").and_then(|t| t.as_str()).map(String::from),
        _ => None,
    })
}

impl PhoneStatus {
    /// In coexistence the number is on the business app *and* on the Cloud API.
    pub fn linked(&self) -> bool {
        self.is_on_biz_app == Some(true) && self.platform_type.as_deref() == Some("CLOUD_API")
    }
}

impl Store {
    /// Records a connected number: ids, and the onboarding time (kept if already known).
    pub async fn record_connection(
        &self,
        waba_id: Option<&str>,
        phone_number_id: Option<&str>,
        display_number: Option<&str>,
        onboarded_at: i64,
        now: i64,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE account SET waba_id = COALESCE(?, waba_id), phone_number_id = COALESCE(?, phone_number_id),
                    display_number = COALESCE(?, display_number), onboarded_at = COALESCE(onboarded_at, ?)
             WHERE id = 1",
        )
        .bind(waba_id)
        .bind(phone_number_id)
        .bind(display_number)
        .bind(onboarded_at)
        .execute(self.pool())
        .await?;
        // Connecting is done from the phone app (Meta's QR flow): a sign it is in use.
        sqlx::query("INSERT INTO heartbeat (at, source) VALUES (?, 'connect')")
            .bind(now)
            .execute(self.pool())
            .await?;
        self.plan_reminders(now).await?;
        Ok(())
    }

    /// Requests a sync once, inside the 24-hour window. The intent is written before the call;
    /// a request whose answer was lost is never sent again automatically.
    pub(crate) async fn request_sync(
        &self,
        client: &CloudClient,
        phone_number_id: &str,
        sync: SyncType,
        now: i64,
    ) -> Result<SyncOutcome> {
        let onboarded: Option<i64> = sqlx::query_scalar("SELECT onboarded_at FROM account WHERE id = 1")
            .fetch_one(self.pool())
            .await?;
        let onboarded = onboarded.ok_or_else(|| {
            CoreError::NotConfigured("the onboarding time is unknown: connect the number first".into())
        })?;
        if now > onboarded + SYNC_WINDOW_SECS {
            return Err(CoreError::CannotSend(format!(
                "the {} can only be requested within 24 hours of connecting the number, and that window closed {} hours ago. Meta does not allow it later.",
                sync.label(),
                (now - onboarded - SYNC_WINDOW_SECS) / 3600
            )));
        }
        let earlier: Option<(i64, Option<String>, Option<String>)> = sqlx::query_as(
            "SELECT intent_at, request_id, result FROM sync_request WHERE sync_type = ?
               AND COALESCE(result, '') NOT LIKE 'unreachable%' ORDER BY id DESC LIMIT 1",
        )
        .bind(sync.api_name())
        .fetch_optional(self.pool())
        .await?;
        if let Some((at, request_id, result)) = earlier {
            let when = chrono::DateTime::from_timestamp(at, 0)
                .map_or_else(String::new, |d| d.format("%-d %b %H:%M UTC").to_string());
            let msg = match (result.as_deref(), request_id) {
                (Some("accepted"), Some(id)) => format!("the {} was already requested on {when} (request {id}); Meta allows it once", sync.label()),
                (Some(r), _) if r.starts_with("refused") => format!("the {} was requested on {when} and Meta refused it ({r}); Meta allows one request, so Coexist does not send another", sync.label()),
                _ => format!("the {} was requested on {when} but the answer was lost; Meta allows one request, so Coexist will not send another. If nothing arrives within a few hours, contact Meta support.", sync.label()),
            };
            return Err(CoreError::CannotSend(msg));
        }
        let id: i64 = sqlx::query_scalar("INSERT INTO sync_request (sync_type, intent_at) VALUES (?, ?) RETURNING id")
            .bind(sync.api_name())
            .bind(now)
            .fetch_one(self.pool())
            .await?;
        let answer = client.request_sync(phone_number_id, sync.api_name()).await;
        let (request_id, result, message) = match answer {
            SyncAnswer::Accepted { request_id } => (
                Some(request_id),
                "accepted".to_string(),
                format!("The {} was requested. Progress shows on the dashboard as it arrives.", sync.label()),
            ),
            SyncAnswer::Refused(e) => (
                None,
                format!("refused: {} ({})", e.message, e.code),
                format!("Meta refused the {}: {}", sync.label(), e.details.unwrap_or(e.message)),
            ),
            SyncAnswer::Unreachable(e) => (
                None,
                format!("unreachable: {e}"),
                format!("Meta could not be reached ({e}); nothing was sent, so you can try again."),
            ),
            SyncAnswer::Lost(e) => (
                None,
                format!("lost: {e}"),
                format!("The answer to the {} request was lost ({e}). Meta allows one request, so Coexist will not send it again.", sync.label()),
            ),
        };
        sqlx::query("UPDATE sync_request SET request_id = ?, result = ? WHERE id = ?")
            .bind(&request_id)
            .bind(&result)
            .bind(id)
            .execute(self.pool())
            .await?;
        self.plan_reminders(now).await?;
        Ok(SyncOutcome {
            sync_type: sync,
            request_id,
            result,
            message,
        })
    }

    /// The sync requests so far: (type, intent time, result).
    pub async fn sync_requests(&self) -> Result<Vec<(String, i64, Option<String>)>> {
        Ok(
            sqlx::query_as("SELECT sync_type, intent_at, result FROM sync_request ORDER BY id")
                .fetch_all(self.pool())
                .await?,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_connection_never_prints_its_secrets() {
        let c = NewConnection {
            waba_id: "1022".into(),
            phone_number_id: "1065".into(),
            access_token: "EAAG-TOKEN".into(),
            app_secret: "app-SECRET".into(),
            verify_token: String::new(),
            ..Default::default()
        };
        let shown = format!("{c:?}");
        assert!(
            shown.contains("1022") && shown.contains("(redacted)") && shown.contains("(empty)"),
            "{shown}"
        );
        assert!(
            !shown.contains("EAAG-TOKEN") && !shown.contains("app-SECRET"),
            "{shown}"
        );
    }

    #[test]
    fn eligibility_by_country_date_and_version() {
        let p = EligibilityPolicy::shipped();
        let day = |s| parse_day(s).unwrap();
        let ng = p.check("+234 803 123 4567", Some("2.25.1"), day("2026-01-10")).unwrap();
        assert!(!ng.eligible);
        assert!(
            ng.answers[0].contains("Nigeria") && ng.answers[0].contains("15 April 2026"),
            "{:?}",
            ng.answers
        );
        assert!(
            p.check("+234 803 123 4567", Some("2.25.1"), day("2026-04-15"))
                .unwrap()
                .eligible
        );
        let uk = p.check("447700900123", Some("2.24.16"), day("2026-01-10")).unwrap();
        assert!(!uk.eligible, "too old an app");
        assert!(uk.answers[1].contains("too old"));
        // India from 2025-05-05 (DESIGN §4, issue 15).
        let early = p.check("919876543210", Some("2.24.17"), day("2025-01-10")).unwrap();
        assert!(
            !early.eligible && early.answers[0].contains("India"),
            "{:?}",
            early.answers
        );
        assert!(
            p.check("919876543210", Some("2.24.17"), day("2025-05-05"))
                .unwrap()
                .eligible
        );
        assert!(p.check("12", None, 0).is_err());
        assert!(p.check("919876543210", Some("two"), 0).is_err());
    }
}

/// The 24-hour sync window and the history import, for the dashboard's countdown.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct OnboardingStatus {
    pub onboarded_at: Option<i64>,
    pub sync_window_closes_at: Option<i64>,
    pub sync_window_open: bool,
    pub requests: Vec<SyncRequestRow>,
    pub history_state: crate::states::HistoryState,
    pub history_progress: i64,
}

#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SyncRequestRow {
    pub sync_type: String,
    pub intent_at: i64,
    pub result: Option<String>,
}

impl Store {
    pub async fn onboarding_status(&self, now: i64) -> Result<OnboardingStatus> {
        let (onboarded_at, history_state, history_progress): (Option<i64>, crate::states::HistoryState, i64) =
            sqlx::query_as("SELECT onboarded_at, history_state, history_progress FROM account WHERE id = 1")
                .fetch_one(self.pool())
                .await?;
        let closes = onboarded_at.map(|o| o + SYNC_WINDOW_SECS);
        Ok(OnboardingStatus {
            onboarded_at,
            sync_window_closes_at: closes,
            sync_window_open: closes.is_some_and(|c| now <= c),
            requests: self
                .sync_requests()
                .await?
                .into_iter()
                .map(|(sync_type, intent_at, result)| SyncRequestRow {
                    sync_type,
                    intent_at,
                    result,
                })
                .collect(),
            history_state,
            history_progress,
        })
    }
}

/// What the owner typed to connect a number; an empty secret keeps the stored one.
#[derive(Clone, Default, Deserialize)]
pub struct NewConnection {
    pub waba_id: String,
    pub phone_number_id: String,
    pub access_token: String,
    pub app_secret: String,
    pub verify_token: String,
    /// The number with its country code, when Meta cannot be asked.
    #[serde(default)]
    pub number: Option<String>,
    /// When the number was connected to the API, if not now (only the first time counts).
    #[serde(default)]
    pub onboarded_at: Option<i64>,
}

/// Secrets show only whether they were given: a `{:?}` in a log must not print them.
impl std::fmt::Debug for NewConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let given = |s: &str| if s.is_empty() { "(empty)" } else { "(redacted)" };
        f.debug_struct("NewConnection")
            .field("waba_id", &self.waba_id)
            .field("phone_number_id", &self.phone_number_id)
            .field("access_token", &given(&self.access_token))
            .field("app_secret", &given(&self.app_secret))
            .field("verify_token", &given(&self.verify_token))
            .field("number", &self.number)
            .field("onboarded_at", &self.onboarded_at)
            .finish()
    }
}

/// What Meta said about the number when connecting.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LinkCheck {
    /// Whether Meta could be asked at all.
    pub checked: bool,
    pub linked: Option<bool>,
    pub is_on_biz_app: Option<bool>,
    pub platform_type: Option<String>,
    pub verified_name: Option<String>,
    /// Why it could not be asked, in Meta's words.
    pub error: Option<String>,
    /// Meta's error code (190: the token was refused).
    pub error_code: Option<i64>,
    /// The messaging limit tier Meta reported (`TIER_2K`…).
    pub messaging_limit: Option<String>,
}

/// What connecting found. Secrets come back only as the names of those stored.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectReport {
    pub waba_id: String,
    pub phone_number_id: String,
    pub linked: bool,
    pub verified_name: Option<String>,
    pub display_number: Option<String>,
    pub link: LinkCheck,
    pub onboarded_at: Option<i64>,
    /// Until when the once-only contact and history syncs can be requested.
    pub sync_deadline: Option<i64>,
    /// What to fix, in the owner's words (empty when all is well).
    pub problems: Vec<String>,
    pub secrets_set: Vec<String>,
}

impl Store {
    /// Connects a number: secrets into `secrets` (audited, never stored here), the link check
    /// with the token (the environment's, else the stored one) through `client_for`, and the ids
    /// and onboarding time recorded. Callers go through `ops::connect`, which checks the owner.
    pub(crate) async fn connect_number(
        &self,
        secrets: &dyn crate::secrets::SecretStore,
        form: &NewConnection,
        client_for: impl Fn(crate::secrets::Sensitive<String>) -> CloudClient,
        actor: &str,
        now: i64,
    ) -> Result<ConnectReport> {
        use crate::secrets::{lookup, SecretKind, Sensitive};
        let (waba, phone) = (form.waba_id.trim(), form.phone_number_id.trim());
        if waba.is_empty() || phone.is_empty() {
            return Err(CoreError::Invalid(
                "both ids are needed: Meta's app dashboard → WhatsApp → API setup shows them".into(),
            ));
        }
        let kinds = [
            (SecretKind::AccessToken, &form.access_token),
            (SecretKind::AppSecret, &form.app_secret),
            (SecretKind::VerifyToken, &form.verify_token),
        ];
        let (mut secrets_set, mut problems) = (Vec::new(), Vec::new());
        for (kind, value) in kinds {
            let value = value.trim();
            if !value.is_empty() {
                secrets.set(kind, &Sensitive::new(value.to_string())).map_err(|e| {
                    CoreError::Secret(format!(
                        "the OS keyring refused the {}: {e}",
                        kind.key().replace('_', " ")
                    ))
                })?;
                self.audit(
                    now,
                    actor,
                    crate::audit::Action::SecretSet,
                    Some(kind.key()),
                    serde_json::json!({}),
                )
                .await?;
            }
            if lookup(secrets, kind)?.is_some() {
                secrets_set.push(kind.key().to_string());
            } else {
                problems.push(format!("The {} is still missing.", kind.key().replace('_', " ")));
            }
        }
        let mut link = LinkCheck::default();
        let mut from_meta = None;
        match lookup(secrets, SecretKind::AccessToken)? {
            Some(token) => match client_for(token).phone_status(phone).await {
                Ok(s) => {
                    link.checked = true;
                    link.linked = Some(s.linked());
                    if !s.linked() {
                        problems.push(
                            "Meta does not show this number on both the WhatsApp Business app and the Cloud API yet: finish the QR step on the phone (Settings → Business platform), then check again."
                                .into(),
                        );
                    }
                    link.is_on_biz_app = s.is_on_biz_app;
                    link.platform_type = s.platform_type;
                    link.verified_name = s.verified_name;
                    link.messaging_limit = s.whatsapp_business_manager_messaging_limit;
                    from_meta = s.display_phone_number;
                }
                Err(e) => {
                    problems.push(if e.code == 190 {
                        format!(
                            "Meta refused the access token ({}). Create a system-user token with whatsapp_business_messaging and whatsapp_business_management.",
                            e.message
                        )
                    } else {
                        format!("The link check could not reach Meta: {}", e.message)
                    });
                    link.error = Some(e.message);
                    link.error_code = Some(e.code);
                }
            },
            None => link.error = Some("no access token to ask Meta with".into()),
        }
        self.finish_connect(form, waba, phone, from_meta, link, problems, secrets_set, now)
            .await
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish_connect(
        &self,
        form: &NewConnection,
        waba: &str,
        phone: &str,
        from_meta: Option<String>,
        link: LinkCheck,
        problems: Vec<String>,
        secrets_set: Vec<String>,
        now: i64,
    ) -> Result<ConnectReport> {
        let display_number = form.number.clone().or(from_meta);
        self.record_connection(
            Some(waba),
            Some(phone),
            display_number.as_deref(),
            form.onboarded_at.unwrap_or(now),
            now,
        )
        .await?;
        if let Some(tier) = &link.messaging_limit {
            self.set_messaging_limit(tier, now).await?;
        }
        let onboarded_at = self.onboarding_status(now).await?.onboarded_at;
        Ok(ConnectReport {
            waba_id: waba.to_string(),
            phone_number_id: phone.to_string(),
            linked: link.linked == Some(true),
            verified_name: link.verified_name.clone(),
            display_number,
            link,
            onboarded_at,
            sync_deadline: onboarded_at.map(|o| o + SYNC_WINDOW_SECS),
            problems,
            secrets_set,
        })
    }
}
