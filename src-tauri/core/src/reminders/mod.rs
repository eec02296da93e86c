//! Heartbeat and deadline reminders (DESIGN §4 "Phone app", "Sync trigger"): a persisted
//! schedule, planned from the mirror and fired through a [`Notifier`] the shell provides (real OS
//! notifications) or the CLI provides (the log). Time always comes from a [`Clock`].

pub mod schedule;

use crate::clock::Clock;
use crate::error::Result;
use crate::store::Store;
use schedule::{Facts, Planned, DAY, LINK_DROP_AFTER_DAYS};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Urgency {
    Normal,
    Urgent,
}

crate::states::named!(Urgency { Normal => "normal", Urgent => "urgent" });

/// One notification for the owner, with the view of the app that deals with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    pub title: String,
    pub body: String,
    pub urgency: Urgency,
    /// The view the notification's action opens (`dashboard`, `settings`…).
    pub view: String,
}

/// How reminders reach the owner. The shell shows desktop notifications; tests record them.
pub trait Notifier: Send + Sync {
    fn notify(&self, n: &Notification) -> std::result::Result<(), String>;

    /// Whether what this notifier shows reaches the owner (a desktop). Reminders count as shown
    /// only then; a headless `serve` logging them leaves them for the desktop app.
    fn reaches_owner(&self) -> bool {
        true
    }
}

/// Keeps every notification, for tests and for `coexist reminders --fire` previews.
#[derive(Debug, Default)]
pub struct MemoryNotifier(pub std::sync::Mutex<Vec<Notification>>);

impl Notifier for MemoryNotifier {
    fn notify(&self, n: &Notification) -> std::result::Result<(), String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).push(n.clone());
        Ok(())
    }
}

impl MemoryNotifier {
    pub fn take(&self) -> Vec<Notification> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

/// For headless `serve`: reminders go to the log.
#[derive(Debug, Default)]
pub struct LogNotifier;

impl Notifier for LogNotifier {
    fn notify(&self, n: &Notification) -> std::result::Result<(), String> {
        tracing::warn!(title = %n.title, body = %n.body, "reminder");
        Ok(())
    }

    fn reaches_owner(&self) -> bool {
        false
    }
}

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Reminder {
    pub id: i64,
    pub kind: String,
    pub urgency: Urgency,
    pub title: Option<String>,
    pub detail: Option<String>,
    pub due_at: i64,
    pub fired_at: Option<i64>,
    pub acknowledged_at: Option<i64>,
    pub cancelled_at: Option<i64>,
    pub skipped: bool,
}

impl Reminder {
    pub fn notification(&self) -> Notification {
        let title = self.title.clone().unwrap_or_else(|| match self.kind.as_str() {
            "link_dropped" => "WhatsApp API disconnected from your number".to_string(),
            other => other.replace('_', " "),
        });
        Notification {
            title,
            body: self.detail.clone().unwrap_or_default(),
            urgency: self.urgency,
            view: "dashboard".into(),
        }
    }
}

/// Where the heartbeat stands, for the dashboard and `coexist doctor`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HeartbeatStatus {
    pub last_heartbeat: Option<i64>,
    /// `echo`, `ack`, `connect`, `reconnected` or `onboarded`.
    pub source: Option<String>,
    pub days_since: Option<i64>,
    /// Coexist's deadline (day 13) and Meta's (day 14).
    pub deadline_at: Option<i64>,
    pub drop_expected_at: Option<i64>,
    pub link_state: crate::states::LinkState,
    pub link_reason: Option<String>,
    pub next_reminder: Option<Reminder>,
}

/// The signs of phone-app use the mirror holds.
#[derive(sqlx::FromRow)]
struct Signs {
    echo: Option<i64>,
    ack: Option<i64>,
    connect: Option<i64>,
    onboarded_at: Option<i64>,
    link_state: String,
    link_changed_at: Option<i64>,
}

const COLUMNS: &str = "id, kind, urgency, title, detail, due_at, fired_at, acknowledged_at, cancelled_at, skipped";

impl Store {
    /// The newest sign that the phone app was used, and what it was.
    pub async fn last_heartbeat(&self) -> Result<Option<(i64, String)>> {
        let s: Signs = sqlx::query_as(
            "SELECT (SELECT MAX(timestamp) FROM message WHERE origin = 'phone') AS echo,
                    (SELECT MAX(at) FROM heartbeat WHERE source = 'ack') AS ack,
                    (SELECT MAX(at) FROM heartbeat WHERE source = 'connect') AS connect,
                    onboarded_at, link_state, link_changed_at
             FROM account WHERE id = 1",
        )
        .fetch_one(self.pool())
        .await?;
        let Signs {
            echo,
            ack,
            connect,
            onboarded_at: onboarded,
            link_state,
            link_changed_at,
        } = s;
        // A link that changed and is connected now was reconnected: the owner used the phone.
        let reconnected = link_changed_at.filter(|_| link_state == "connected");
        // On a tie the most telling sign wins (`max_by_key` keeps the last maximum).
        Ok([
            (onboarded, "onboarded"),
            (connect, "connect"),
            (reconnected, "reconnected"),
            (ack, "ack"),
            (echo, "echo"),
        ]
        .into_iter()
        .filter_map(|(t, s)| t.map(|t| (t, s.to_string())))
        .max_by_key(|(t, _)| *t))
    }

    async fn reminder_facts(&self, now: i64) -> Result<Facts> {
        let (link, onboarded_at): (String, Option<i64>) =
            sqlx::query_as("SELECT link_state, onboarded_at FROM account WHERE id = 1")
                .fetch_one(self.pool())
                .await?;
        let synced: i64 = sqlx::query_scalar(
            "SELECT COUNT(DISTINCT sync_type) FROM sync_request WHERE COALESCE(result, '') NOT LIKE 'unreachable%'",
        )
        .fetch_one(self.pool())
        .await?;
        Ok(Facts {
            last_heartbeat: self.last_heartbeat().await?.map(|(t, _)| t),
            link_connected: link == "connected",
            onboarded_at,
            sync_done: synced >= 2,
            now,
        })
    }

    /// Writes the schedule for what is known now; reminders that no longer apply and have not
    /// fired are cancelled. Idempotent.
    pub async fn plan_reminders(&self, now: i64) -> Result<Vec<Planned>> {
        let planned = schedule::plan(&self.reminder_facts(now).await?);
        let mut tx = self.pool().begin().await?;
        for p in &planned {
            sqlx::query(
                "INSERT INTO reminder (kind, urgency, source_ref, title, detail, due_at) VALUES (?, ?, ?, ?, ?, ?)
                 ON CONFLICT(source_ref) DO NOTHING",
            )
            .bind(p.kind)
            .bind(p.urgency)
            .bind(&p.source_ref)
            .bind(&p.title)
            .bind(&p.body)
            .bind(p.due_at)
            .execute(&mut *tx)
            .await?;
        }
        let keep =
            serde_json::to_string(&planned.iter().map(|p| &p.source_ref).collect::<Vec<_>>()).expect("refs serialise");
        sqlx::query(
            "UPDATE reminder SET cancelled_at = ?
             WHERE fired_at IS NULL AND cancelled_at IS NULL AND kind IN ('heartbeat', 'heartbeat_warning', 'heartbeat_urgent', 'sync_deadline')
               AND source_ref NOT IN (SELECT value FROM json_each(?))",
        )
        .bind(now)
        .bind(keep)
        .execute(&mut *tx)
        .await?;
        // A drop alarm not yet shown is moot once the link is back.
        sqlx::query(
            "UPDATE reminder SET cancelled_at = ? WHERE kind = 'link_dropped' AND fired_at IS NULL AND cancelled_at IS NULL
               AND (SELECT link_state = 'connected' AND link_changed_at >= reminder.due_at FROM account WHERE id = 1)",
        )
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(planned)
    }

    /// The reminders to show now. Of each series only the newest due one fires: after a week
    /// with the computer off, the owner gets one notification, not a burst; the older ones are
    /// recorded as skipped.
    /// Reminders that fell due in `(since, now]` and no desktop has shown yet.
    pub async fn reminders_due_since(&self, since: i64, now: i64) -> Result<Vec<Reminder>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM reminder WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at > ? AND due_at <= ?
             ORDER BY due_at, id"
        ))
        .bind(since)
        .bind(now)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn take_due_reminders(&self, now: i64) -> Result<Vec<Reminder>> {
        let mut tx = self.pool().begin_with("BEGIN IMMEDIATE").await?;
        let due: Vec<Reminder> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM reminder WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at <= ? ORDER BY due_at, id"
        ))
        .bind(now)
        .fetch_all(&mut *tx)
        .await?;
        let mut newest: HashMap<&'static str, &Reminder> = HashMap::new();
        for r in &due {
            newest.insert(schedule::series(&r.kind), r);
        }
        let fire: Vec<i64> = newest.values().map(|r| r.id).collect();
        for r in &due {
            sqlx::query("UPDATE reminder SET fired_at = ?, skipped = ? WHERE id = ?")
                .bind(now)
                .bind(!fire.contains(&r.id))
                .bind(r.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        let mut out: Vec<Reminder> = due.into_iter().filter(|r| fire.contains(&r.id)).collect();
        for r in &mut out {
            r.fired_at = Some(now);
        }
        Ok(out)
    }

    /// "I opened it": a heartbeat now; the reminders shown so far are acknowledged and the
    /// schedule starts again from now.
    pub async fn acknowledge_heartbeat(&self, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO heartbeat (at, source) VALUES (?, 'ack')")
            .bind(now)
            .execute(self.pool())
            .await?;
        sqlx::query(
            "UPDATE reminder SET acknowledged_at = ? WHERE acknowledged_at IS NULL AND fired_at IS NOT NULL
               AND kind IN ('heartbeat', 'heartbeat_warning', 'heartbeat_urgent', 'link_dropped')",
        )
        .bind(now)
        .execute(self.pool())
        .await?;
        self.plan_reminders(now).await?;
        Ok(())
    }

    /// Every reminder still to come, and those shown but not acknowledged.
    pub async fn reminders(&self) -> Result<Vec<Reminder>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM reminder
             WHERE cancelled_at IS NULL AND skipped = 0 AND (fired_at IS NULL OR acknowledged_at IS NULL)
             ORDER BY due_at, id"
        ))
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn heartbeat_status(&self, now: i64) -> Result<HeartbeatStatus> {
        let (link_state, link_reason): (crate::states::LinkState, Option<String>) =
            sqlx::query_as("SELECT link_state, link_reason FROM account WHERE id = 1")
                .fetch_one(self.pool())
                .await?;
        let last = self.last_heartbeat().await?;
        let next: Option<Reminder> = sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM reminder WHERE fired_at IS NULL AND cancelled_at IS NULL AND due_at > ? ORDER BY due_at LIMIT 1"
        ))
        .bind(now)
        .fetch_optional(self.pool())
        .await?;
        Ok(HeartbeatStatus {
            last_heartbeat: last.as_ref().map(|l| l.0),
            source: last.as_ref().map(|l| l.1.clone()),
            days_since: last.as_ref().map(|l| (now - l.0).div_euclid(DAY)),
            deadline_at: last.as_ref().map(|l| l.0 + 13 * DAY),
            drop_expected_at: last.as_ref().map(|l| l.0 + LINK_DROP_AFTER_DAYS * DAY),
            link_state,
            link_reason,
            next_reminder: next,
        })
    }
}

impl Store {
    /// When a runtime key was last noted (unix seconds).
    pub async fn runtime_at(&self, key: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT at FROM runtime WHERE key = ?")
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    /// A runtime note with the time it was written (e.g. where the receiver listens).
    pub async fn runtime_note(&self, key: &str) -> Result<Option<(String, i64)>> {
        Ok(sqlx::query_as("SELECT value, at FROM runtime WHERE key = ?")
            .bind(key)
            .fetch_optional(self.pool())
            .await?)
    }

    /// A notice for the owner, shown once as a notification and listed with the reminders.
    pub async fn add_notice(&self, kind: &str, title: &str, detail: &str, now: i64) -> Result<()> {
        sqlx::query(
            "INSERT INTO reminder (kind, urgency, source_ref, title, detail, due_at) VALUES (?, 'normal', ?, ?, ?, ?)
             ON CONFLICT(source_ref) DO NOTHING",
        )
        .bind(kind)
        .bind(format!("{kind}:{now}"))
        .bind(title)
        .bind(detail)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Remembers where a running part of Coexist can be reached (the webhook receiver), for
    /// `coexist doctor` and the app.
    pub async fn note_runtime(&self, key: &str, value: &str, now: i64) -> Result<()> {
        sqlx::query("INSERT INTO runtime (key, value, at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, at = excluded.at")
            .bind(key)
            .bind(value)
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(())
    }
}

/// One pass: plan, then notify what is due. Returns what was shown.
pub async fn tick(store: &Store, notifier: &dyn Notifier, now: i64) -> Result<Vec<Reminder>> {
    store.engine_may_write()?;
    store.plan_reminders(now).await?;
    if !notifier.reaches_owner() {
        // Logged when they fall due, but left for a desktop to show (and count as shown).
        for r in store.reminders_due_since(now - LOG_WINDOW_SECS, now).await? {
            let _ = notifier.notify(&r.notification());
        }
        return Ok(Vec::new());
    }
    let due = store.take_due_reminders(now).await?;
    for r in &due {
        if let Err(e) = notifier.notify(&r.notification()) {
            // Still visible in the app and in `coexist reminders`; the log says why it was not shown.
            tracing::warn!(reminder = r.id, error = %e, "a reminder could not be shown as a notification");
        }
    }
    Ok(due)
}

/// A headless notifier logs a reminder once: in the tick after it falls due (ticks are a minute
/// apart).
const LOG_WINDOW_SECS: i64 = 60;

/// Runs [`tick`] every `every` (and when woken) until dropped.
pub struct ReminderHandle {
    stop: Arc<Notify>,
    wake: Arc<Notify>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl ReminderHandle {
    pub fn spawn(store: Store, notifier: Arc<dyn Notifier>, clock: Arc<dyn Clock>, every: Duration) -> Self {
        let stop = Arc::new(Notify::new());
        let wake = Arc::new(Notify::new());
        let (s, w) = (stop.clone(), wake.clone());
        let task = tokio::spawn(async move {
            loop {
                if let Err(e) = tick(&store, notifier.as_ref(), clock.now()).await {
                    tracing::warn!(error = %e, "reminders could not be checked");
                }
                tokio::select! {
                    _ = tokio::time::sleep(every) => {}
                    _ = w.notified() => {}
                    _ = s.notified() => return,
                }
            }
        });
        ReminderHandle {
            stop,
            wake,
            task: Some(task),
        }
    }

    /// Checks now (after an acknowledgement, a webhook about the link…).
    pub fn wake(&self) {
        self.wake.notify_one();
    }
}

impl Drop for ReminderHandle {
    fn drop(&mut self) {
        self.stop.notify_one();
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}
