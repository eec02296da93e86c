//! Automation with human takeover: FAQ replies, an away message outside business hours, a
//! first-contact greeting, routing, and follow-ups. It looks only at customer messages received
//! live (never history, echoes or statuses), answers through the outbox (so every limit and the
//! service window apply), and steps back for a chat as soon as a person replies there.

pub mod config;

pub use config::AutomationConfig;

use crate::audit;
use crate::clock::Clock;
use crate::error::{CoreError, Result};
use crate::send::{self, compose_template, compose_text};
use crate::store::Store;
use chrono::{Datelike, Timelike};
use config::Route;
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

const SETTING: &str = "automation.config";
const ACTOR: &str = "automation";

/// Lowercased words, so keywords match whole words in any script.
fn words(text: &str) -> String {
    let w: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    format!(" {} ", w.join(" "))
}

fn has_keyword(padded: &str, keywords: &[String]) -> bool {
    keywords.iter().any(|k| {
        let k = words(k);
        !k.trim().is_empty() && padded.contains(&k)
    })
}

/// A reply in the contact's language when there is one, else `default`, else the first.
fn pick<'a>(by_lang: &'a std::collections::BTreeMap<String, String>, lang: Option<&str>) -> Option<&'a String> {
    lang.and_then(|l| by_lang.get(l))
        .or_else(|| by_lang.get("default"))
        .or_else(|| by_lang.values().next())
}

/// What the rules say about one customer message, before anything is sent.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Decision {
    /// `faq:<name>`, `away` or `greeting`, and the text to send.
    pub reply: Option<(String, String)>,
    pub routes: Vec<String>,
    pub in_business_hours: bool,
}

/// Are we open at `at`? No hours configured means always open.
pub fn open_at(cfg: &AutomationConfig, at: i64) -> bool {
    let Some(h) = &cfg.business_hours else { return true };
    let Some(local) = chrono::DateTime::from_timestamp(at + h.utc_offset_minutes * 60, 0) else {
        return true;
    };
    let day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][local.weekday().num_days_from_monday() as usize];
    let now = format!("{:02}:{:02}", local.hour(), local.minute());
    h.days.get(day).is_some_and(|(from, to)| now >= *from && now < *to)
}

/// The rules applied to one message (pure: also "test this rule" in the UI and CLI).
/// `first_contact`: nothing was ever exchanged with this person; `away_due`: no away message was
/// sent to them within `away_every_hours`.
pub fn decide(cfg: &AutomationConfig, text: Option<&str>, first_contact: bool, away_due: bool, at: i64) -> Decision {
    let padded = words(text.unwrap_or(""));
    let faq = cfg.faq.iter().find_map(|f| {
        f.variants
            .iter()
            .find(|(_, v)| has_keyword(&padded, &v.keywords))
            .map(|(lang, v)| (format!("faq:{}", f.name), v.reply.clone(), lang.clone()))
    });
    let lang = faq.as_ref().map(|f| f.2.as_str());
    let open = open_at(cfg, at);
    let reply = if let Some((rule, text, _)) = faq.clone() {
        Some((rule, text))
    } else if let (false, true, Some(h)) = (open, away_due, &cfg.business_hours) {
        pick(&h.away_message, lang).map(|t| ("away".to_string(), t.clone()))
    } else if first_contact {
        pick(&cfg.greeting, lang).map(|t| ("greeting".to_string(), t.clone()))
    } else {
        None
    };
    let routes = cfg
        .routing
        .iter()
        .filter(|r| has_keyword(&padded, &r.keywords))
        .map(|r| r.name.clone())
        .collect();
    Decision {
        reply,
        routes,
        in_business_hours: open,
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    pub looked_at: usize,
    pub replies: usize,
    pub routed: usize,
    pub paused: usize,
    pub stale: usize,
    pub follow_ups_scheduled: u64,
    pub follow_ups_sent: usize,
    pub follow_ups_cancelled: u64,
}

#[derive(sqlx::FromRow)]
struct Candidate {
    id: i64,
    contact_id: i64,
    text: Option<String>,
    timestamp: i64,
    /// Where a reply goes: the phone, or the BSUID of a customer known only by a username.
    wa_id: Option<String>,
    paused_until: Option<i64>,
    earlier: i64,
}

impl Store {
    pub async fn automation_config(&self) -> Result<AutomationConfig> {
        let text: Option<String> = sqlx::query_scalar("SELECT value FROM setting WHERE key = ?")
            .bind(SETTING)
            .fetch_optional(self.pool())
            .await?;
        match text {
            Some(t) => serde_json::from_str(&t)
                .map_err(|e| CoreError::Invalid(format!("the stored automation settings cannot be read: {e}"))),
            None => Ok(AutomationConfig::default()),
        }
    }

    /// Replaces the automation settings (validated first), audited.
    pub async fn set_automation_config(&self, json_text: &str, actor: &str, now: i64) -> Result<AutomationConfig> {
        let cfg: AutomationConfig = serde_json::from_str(json_text)
            .map_err(|e| CoreError::Invalid(format!("the automation settings are not valid: {e}")))?;
        cfg.check_ranges().map_err(CoreError::Invalid)?;
        let text = serde_json::to_string(&cfg).expect("config serialises");
        let details = serde_json::to_value(&cfg).expect("json");
        self.audited(now, actor, audit::Action::AutomationSettings, None, |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )
                .bind(SETTING)
                .bind(text)
                .execute(&mut *tx)
                .await?;
                Ok(((), details))
            })
        })
        .await?;
        Ok(cfg)
    }

    /// Staff hand a chat back to automation (or take it for `hours`).
    pub async fn set_automation_pause(&self, contact_id: i64, until: Option<i64>, actor: &str, now: i64) -> Result<()> {
        let action = if until.is_some() {
            audit::Action::AutomationPause
        } else {
            audit::Action::AutomationResume
        };
        self.audited(now, actor, action, Some(&contact_id.to_string()), |tx| {
            Box::pin(async move {
                let n = sqlx::query("UPDATE conversation SET automation_paused_until = ? WHERE contact_id = ?")
                    .bind(until)
                    .bind(contact_id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if n == 0 {
                    return Err(CoreError::Invalid(format!(
                        "there is no conversation with contact {contact_id}"
                    )));
                }
                Ok(((), json!({"until": until})))
            })
        })
        .await
    }

    /// One pass of automation at `now`.
    pub async fn run_automation(&self, cfg: &AutomationConfig, now: i64) -> Result<RunReport> {
        let mut report = RunReport::default();
        if !cfg.enabled {
            return Ok(report);
        }
        self.engine_may_write()?;
        let candidates: Vec<Candidate> = sqlx::query_as(
            "SELECT m.id, m.contact_id, m.text, m.timestamp, COALESCE(c.wa_id, c.bsuid) AS wa_id,
                    v.automation_paused_until AS paused_until,
                    (SELECT COUNT(*) FROM message x WHERE x.contact_id = m.contact_id AND x.id < m.id) AS earlier
             FROM message m JOIN contact c ON c.id = m.contact_id
             LEFT JOIN conversation v ON v.contact_id = m.contact_id
             WHERE m.origin = 'customer' AND m.id > (SELECT COALESCE(MAX(message_id), 0) FROM automation_seen)
             ORDER BY m.id LIMIT 500",
        )
        .fetch_all(self.pool())
        .await?;
        for c in candidates {
            report.looked_at += 1;
            let outcome = self.handle(cfg, &c, now, &mut report).await?;
            tracing::debug!(message = c.id, outcome = %outcome, "automation");
        }
        self.follow_ups(cfg, now, &mut report).await?;
        Ok(report)
    }

    async fn handle(&self, cfg: &AutomationConfig, c: &Candidate, now: i64, report: &mut RunReport) -> Result<String> {
        let seen = |outcome: String| async move {
            sqlx::query("INSERT OR IGNORE INTO automation_seen (message_id, at, outcome) VALUES (?, ?, ?)")
                .bind(c.id)
                .bind(now)
                .bind(&outcome)
                .execute(self.pool())
                .await?;
            Ok::<String, CoreError>(outcome)
        };
        if now - c.timestamp > cfg.max_age_minutes * 60 {
            report.stale += 1;
            return seen("stale: left to people".into()).await;
        }
        if c.paused_until.is_some_and(|p| p > now) {
            report.paused += 1;
            return seen("paused: a person is handling this chat".into()).await;
        }
        // Read again: an earlier message of this same pass may have just sent the away message.
        let last_away: Option<i64> = sqlx::query_scalar("SELECT at FROM away_sent WHERE contact_id = ?")
            .bind(c.contact_id)
            .fetch_optional(self.pool())
            .await?;
        let away_due =
            last_away.is_none_or(|t| now - t >= cfg.business_hours.as_ref().map_or(12, |h| h.away_every_hours) * 3600);
        let d = decide(cfg, c.text.as_deref(), c.earlier == 0, away_due, c.timestamp);
        // Composed before the transaction (it only reads); everything else happens in one
        // transaction that first claims the message, so two processes running automation (the
        // app and `automation run`) never both answer it, and a crash answers it fully or not at all.
        let reply = match (&d.reply, &c.wa_id) {
            (Some((rule, text)), Some(wa)) => match compose_text(self, wa, text, now).await {
                Ok(compose) => Ok((rule.clone(), wa.clone(), compose)),
                Err(e) => Err(format!("could not reply: {e}")),
            },
            (Some(_), None) => Err("could not reply: the contact has neither a phone number nor a BSUID".into()),
            (None, _) => Err("no rule matched".into()),
        };
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let claimed = sqlx::query("INSERT OR IGNORE INTO automation_seen (message_id, at, outcome) VALUES (?, ?, ?)")
            .bind(c.id)
            .bind(now)
            .bind(match &reply {
                Ok((rule, _, _)) => format!("replied: {rule}"),
                Err(why) => why.clone(),
            })
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if claimed == 0 {
            tx.rollback().await?;
            return Ok("already handled by another process".into());
        }
        for name in &d.routes {
            let r: &Route = cfg
                .routing
                .iter()
                .find(|r| &r.name == name)
                .expect("decided from config");
            if let Some(tag) = &r.tag {
                sqlx::query(
                    "UPDATE contact SET tags = (SELECT json_group_array(value) FROM (SELECT value FROM json_each(tags)
                       UNION SELECT ?)) WHERE id = ?",
                )
                .bind(tag)
                .bind(c.contact_id)
                .execute(&mut *tx)
                .await?;
            }
            if let Some(who) = &r.assign {
                sqlx::query("UPDATE conversation SET assignee = ? WHERE contact_id = ?")
                    .bind(who)
                    .bind(c.contact_id)
                    .execute(&mut *tx)
                    .await?;
            }
            if r.vip {
                sqlx::query("UPDATE contact SET vip = 1 WHERE id = ?")
                    .bind(c.contact_id)
                    .execute(&mut *tx)
                    .await?;
            }
            audit::append_with(
                &mut tx,
                self.sealing().as_ref(),
                now,
                ACTOR,
                audit::Action::Route,
                Some(&c.contact_id.to_string()),
                &json!({"rule": name, "message": c.id}),
            )
            .await?;
            report.routed += 1;
        }
        let outcome = match reply {
            Ok((rule, wa, compose)) => {
                let id = send::insert_automation(&mut tx, &compose, "automation", now).await?;
                if rule == "away" {
                    sqlx::query("INSERT INTO away_sent (contact_id, at) VALUES (?, ?) ON CONFLICT(contact_id) DO UPDATE SET at = excluded.at")
                        .bind(c.contact_id)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                }
                audit::append_with(
                    &mut tx,
                    self.sealing().as_ref(),
                    now,
                    ACTOR,
                    audit::Action::Send,
                    Some(&wa),
                    &json!({"outbox": id, "rule": rule, "in_reply_to": c.id}),
                )
                .await?;
                sqlx::query("UPDATE automation_seen SET outcome = ? WHERE message_id = ?")
                    .bind(format!("replied: {rule} (outbox {id})"))
                    .bind(c.id)
                    .execute(&mut *tx)
                    .await?;
                report.replies += 1;
                format!("replied: {rule}")
            }
            Err(why) => why,
        };
        tx.commit().await?;
        Ok(outcome)
    }

    async fn follow_ups(&self, cfg: &AutomationConfig, now: i64, report: &mut RunReport) -> Result<()> {
        // Anyone writing in the chat after the message cancels its follow-up.
        report.follow_ups_cancelled = sqlx::query(
            "UPDATE follow_up SET state = 'cancelled', detail = 'someone wrote in the chat' WHERE state = 'waiting'
               AND EXISTS (SELECT 1 FROM message x WHERE x.contact_id = follow_up.contact_id
                             AND x.timestamp >= follow_up.after_at AND x.id != follow_up.after_message_id
                             AND x.origin IN ('customer', 'phone', 'api'))",
        )
        .execute(self.pool())
        .await?
        .rows_affected();
        for f in &cfg.follow_ups {
            report.follow_ups_scheduled += sqlx::query(
                "INSERT OR IGNORE INTO follow_up (contact_id, rule, template_name, language, after_message_id, after_at, due_at)
                 SELECT m.contact_id, ?1, ?2, ?3, m.id, m.timestamp, m.timestamp + ?4
                 FROM message m JOIN outbox o ON o.id = m.outbox_id
                 WHERE m.origin = 'api' AND (o.source = 'desk' OR o.campaign_id IS NOT NULL) AND m.timestamp > ?5 - ?4
                   AND m.id > (SELECT COALESCE(MAX(after_message_id), 0) FROM follow_up WHERE rule = ?1)",
            )
            .bind(&f.name)
            .bind(&f.template)
            .bind(&f.language)
            .bind(f.after_hours * 3600)
            .bind(now)
            .execute(self.pool())
            .await?
            .rows_affected();
        }
        let due: Vec<(i64, i64, String, String, Option<String>)> = sqlx::query_as(
            "SELECT f.id, f.contact_id, f.template_name, f.language, COALESCE(c.wa_id, c.bsuid) FROM follow_up f
             JOIN contact c ON c.id = f.contact_id LEFT JOIN conversation v ON v.contact_id = f.contact_id
             WHERE f.state = 'waiting' AND f.held_reason IS NULL AND f.due_at <= ? AND COALESCE(v.automation_paused_until, 0) <= ?",
        )
        .bind(now)
        .bind(now)
        .fetch_all(self.pool())
        .await?;
        for (id, _contact, template, lang, wa) in due {
            let composed = match &wa {
                Some(wa) => compose_template(self, wa, &template, &lang, &[], now).await,
                None => Err(CoreError::CannotSend(
                    "the contact has neither a phone number nor a BSUID".into(),
                )),
            };
            let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
            // Still waiting? Another process may have sent or cancelled it meanwhile.
            let waiting: bool = sqlx::query_scalar("SELECT state = 'waiting' FROM follow_up WHERE id = ?")
                .bind(id)
                .fetch_one(&mut *tx)
                .await?;
            if !waiting {
                tx.rollback().await?;
                continue;
            }
            match composed {
                Ok(c) => {
                    let out = send::insert_automation(&mut tx, &c, "follow_up", now).await?;
                    sqlx::query(
                        "UPDATE follow_up SET state = 'sent', outbox_id = ? WHERE id = ? AND state = 'waiting'",
                    )
                    .bind(out)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                    audit::append_with(
                        &mut tx,
                        self.sealing().as_ref(),
                        now,
                        ACTOR,
                        audit::Action::Send,
                        Some(&c.recipient),
                        &json!({"outbox": out, "follow_up": id}),
                    )
                    .await?;
                    report.follow_ups_sent += 1;
                }
                Err(e) => {
                    sqlx::query("UPDATE follow_up SET state = 'failed', detail = ? WHERE id = ? AND state = 'waiting'")
                        .bind(e.to_string())
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
            }
            tx.commit().await?;
        }
        Ok(())
    }
}

/// Runs automation every `every` (and whenever `wake` is notified) until dropped. `wake` must be
/// its own: a `Notify` shared with another loop would take that loop's wake-ups.
pub struct AutomationHandle {
    stop: Arc<Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl AutomationHandle {
    pub fn spawn(store: Store, clock: Arc<dyn Clock>, wake: Arc<Notify>, every: Duration) -> Self {
        let stop = Arc::new(Notify::new());
        let s = stop.clone();
        let task = tokio::spawn(async move {
            loop {
                let pass = async {
                    let cfg = store.automation_config().await?;
                    store.run_automation(&cfg, clock.now()).await
                };
                match pass.await {
                    Ok(r) if r.replies + r.follow_ups_sent > 0 => tracing::info!(?r, "automation answered"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "automation pass failed"),
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = wake.notified() => {}
                    _ = s.notified() => return,
                }
            }
        });
        AutomationHandle { stop, task: Some(task) }
    }
}

impl Drop for AutomationHandle {
    fn drop(&mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
