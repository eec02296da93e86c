//! `doctor`: everything that keeps the number connected, in one typed report — the link as the
//! mirror and Meta see it, the deadlines, the phone-app heartbeat, the webhook receiver, the
//! keyring, the messaging limit and the Graph API version. The CLI prints it (its JSON keys are a
//! contract) and the Dashboard can show the same lines.

use super::Ctx;
use crate::cloud::graph_version::{GraphVersions, VersionCheck};
use crate::config::Config;
use crate::error::Result;
use crate::onboarding::{Eligibility, EligibilityPolicy, SyncRequestRow};
use crate::policy::PHONE_APP_DEADLINE_DAYS;
use crate::reminders::Reminder;
use crate::send::limit::LimitBudget;
use crate::states::{HistoryState, LinkState};
use crate::store::JournalCounts;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Serialize)]
pub struct Doctor {
    pub link: Link,
    pub eligibility: Option<Eligibility>,
    pub deadlines: Deadlines,
    pub heartbeat: Heartbeat,
    pub webhooks: Webhooks,
    pub keyring: Keyring,
    pub reminders: Vec<Reminder>,
    pub messaging_limit: LimitBudget,
    pub graph_api: VersionCheck,
}

#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub state: LinkState,
    pub reason: Option<String>,
    pub api: ApiLink,
}

/// What Meta answered about the number just now, or why it was not asked.
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum ApiLink {
    Checked {
        checked: bool,
        linked: bool,
        is_on_biz_app: Option<bool>,
        platform_type: Option<String>,
    },
    NotChecked {
        checked: bool,
        error: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub struct Deadlines {
    pub onboarded_at: Option<i64>,
    pub sync_window_closes_at: Option<i64>,
    pub sync_window_open: bool,
    pub sync_requests: Vec<SyncRequestRow>,
    pub history: History,
    pub phone_app_deadline_at: Option<i64>,
    pub link_drop_expected_at: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub state: HistoryState,
    pub progress: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Heartbeat {
    pub last_at: Option<i64>,
    pub source: Option<String>,
    pub days_since: Option<i64>,
    pub next_reminder: Option<Reminder>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Webhooks {
    pub receiver: Option<String>,
    /// Whether the receiver answered its health check; none when no receiver has run.
    pub reachable: Option<bool>,
    pub last_received_at: Option<i64>,
    pub journal: JournalCounts,
}

#[derive(Debug, Clone, Serialize)]
pub struct Keyring {
    pub backend: &'static str,
    pub working: bool,
    pub secrets: BTreeMap<&'static str, String>,
}

/// How a line of the report reads at a glance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mark {
    Ok,
    Problem,
    Note,
}

/// Checks the workspace, and asks Meta about the link when the number is configured (recording
/// the messaging-limit tier Meta reports on the way).
pub async fn doctor(ctx: &Ctx<'_>, config: &Config) -> Result<Doctor> {
    let (store, now) = (ctx.store, ctx.now);
    let hb = store.heartbeat_status(now).await?;
    store.plan_reminders(now).await?;
    let reminders = store.reminders().await?;
    let onboarding = store.onboarding_status(now).await?;
    let eligibility = store
        .display_number()
        .await?
        .and_then(|n| EligibilityPolicy::shipped().check(&n, None, now).ok());
    let api = match (config.cloud(), config.phone_number_id()) {
        (Ok(client), Ok(phone)) => match client.phone_status(phone).await {
            Ok(s) => {
                if let Some(tier) = &s.whatsapp_business_manager_messaging_limit {
                    store.set_messaging_limit(tier, now).await?;
                }
                ApiLink::Checked {
                    checked: true,
                    linked: s.linked(),
                    is_on_biz_app: s.is_on_biz_app,
                    platform_type: s.platform_type,
                }
            }
            Err(e) => not_checked(e.message),
        },
        (Err(e), _) | (_, Err(e)) => not_checked(e.body().message),
    };
    let receiver = store.runtime_note("receiver").await?.map(|(url, _)| url);
    let reachable = match &receiver {
        Some(url) => Some(answers(&url.replace("/webhook", "/healthz")).await),
        None => None,
    };
    let versions = GraphVersions::from_env();
    Ok(Doctor {
        link: Link {
            state: hb.link_state,
            reason: hb.link_reason.clone(),
            api,
        },
        eligibility,
        deadlines: Deadlines {
            onboarded_at: onboarding.onboarded_at,
            sync_window_closes_at: onboarding.sync_window_closes_at,
            sync_window_open: onboarding.sync_window_open,
            sync_requests: onboarding.requests,
            history: History {
                state: onboarding.history_state,
                progress: onboarding.history_progress,
            },
            phone_app_deadline_at: hb.deadline_at,
            link_drop_expected_at: hb.drop_expected_at,
        },
        heartbeat: Heartbeat {
            last_at: hb.last_heartbeat,
            source: hb.source,
            days_since: hb.days_since,
            next_reminder: hb.next_reminder,
        },
        webhooks: Webhooks {
            receiver,
            reachable,
            last_received_at: store.last_received_at().await?,
            journal: store.stats().await?.journal,
        },
        keyring: Keyring {
            backend: crate::secrets::keyring_backend(),
            working: config.keyring_working(),
            secrets: config.secret_states.iter().cloned().collect(),
        },
        reminders,
        messaging_limit: store.limit_budget(now).await?,
        graph_api: versions.check(&versions.in_use(), now),
    })
}

fn not_checked(error: String) -> ApiLink {
    ApiLink::NotChecked { checked: false, error }
}

/// Does the receiver answer its health check?
async fn answers(url: &str) -> bool {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()
        .expect("HTTP client builds");
    http.get(url).send().await.is_ok_and(|r| r.status().is_success())
}

/// A UTC date and time for people.
pub fn day(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0)
        .map_or_else(|| at.to_string(), |d| d.format("%a %-d %b %Y %H:%M UTC").to_string())
}

impl Doctor {
    /// The report as lines an owner reads, each marked fine, a problem, or a note; `now` judges
    /// whether the sync window is still open.
    pub fn lines(&self, now: i64) -> Vec<(Mark, String)> {
        let ok = |b: bool| if b { Mark::Ok } else { Mark::Problem };
        let mut out = Vec::new();
        let reason = self.link.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default();
        out.push((
            ok(self.link.state == LinkState::Connected),
            format!("link: {}{reason}", self.link.state),
        ));
        out.push(match &self.link.api {
            ApiLink::Checked { linked: true, .. } => {
                (Mark::Ok, "Meta reports the number on the app and the API".into())
            }
            ApiLink::Checked { .. } => (Mark::Problem, "Meta reports the number NOT in coexistence".into()),
            ApiLink::NotChecked { error, .. } => (Mark::Note, format!("Meta not asked: {error}")),
        });
        let g = &self.graph_api;
        out.push(match &g.warning {
            Some(w) => (Mark::Problem, w.clone()),
            None => (
                Mark::Ok,
                format!(
                    "Graph API {} (available until {}{})",
                    g.version,
                    if g.estimated { "about " } else { "" },
                    g.ends.as_deref().unwrap_or("?")
                ),
            ),
        });
        let budget = &self.messaging_limit;
        out.push(match (budget.limit, budget.left()) {
            (Some(limit), Some(left)) => (
                ok(left > 0),
                format!("messaging limit: {limit} new customers per 24 h, {left} left now"),
            ),
            _ => (
                Mark::Note,
                format!("messaging limit: {}", budget.tier.as_deref().unwrap_or("not known yet")),
            ),
        });
        if let Some(e) = &self.eligibility {
            out.extend(e.answers.iter().map(|a| (ok(e.eligible), a.clone())));
        }
        let hb = &self.heartbeat;
        out.push(match (hb.last_at, hb.days_since) {
            (Some(at), Some(d)) => (
                ok(d < 10),
                format!(
                    "phone app last used {d} days ago ({}, {}); open it before {}",
                    day(at),
                    hb.source.as_deref().unwrap_or_default(),
                    day(at + PHONE_APP_DEADLINE_DAYS * 86_400)
                ),
            ),
            _ => (Mark::Note, "no sign of the phone app yet".into()),
        });
        if let Some(closes) = self.deadlines.sync_window_closes_at {
            let when = if now <= closes { "closes" } else { "closed" };
            out.push((Mark::Note, format!("sync window {when} {}", day(closes))));
        }
        let w = &self.webhooks;
        out.push(match (&w.receiver, w.reachable) {
            (Some(url), Some(true)) => (Mark::Ok, format!("webhook receiver answering at {url}")),
            (Some(url), _) => (
                Mark::Problem,
                format!("webhook receiver at {url} does not answer: is `coexist serve` (or the app) running?"),
            ),
            (None, _) => (Mark::Note, "no webhook receiver has run yet (`coexist serve`)".into()),
        });
        let k = &self.keyring;
        let states: Vec<String> = k.secrets.iter().map(|(n, s)| format!("{n} {s}")).collect();
        out.push((
            ok(k.working),
            format!("secrets in {}: {}", k.backend, states.join(", ")),
        ));
        for r in &self.reminders {
            out.push((
                Mark::Note,
                format!(
                    "reminder {}: {} at {}",
                    r.kind,
                    r.title.as_deref().unwrap_or(""),
                    day(r.due_at)
                ),
            ));
        }
        out
    }
}
