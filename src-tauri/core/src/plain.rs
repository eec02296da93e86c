//! How the core's reports read as plain text: the CLI prints them as they are, and a log line or
//! a support message can quote them. Written once here so every surface says the same words.

use crate::billing::{BillingContext, CampaignForecast, CardInfo, Report};
use crate::media::MediaUsage;
use crate::ops::doctor::day;
use crate::send::CampaignStatus;
use crate::store::Stats;
use std::fmt;

/// The day part of a UTC date-time, for report periods.
fn date(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(|| at.to_string(), |d| d.format("%Y-%m-%d").to_string())
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.currency;
        // `to` is the exclusive end of the period: the report covers up to the day before.
        let last = date(self.to - 1);
        writeln!(
            f,
            "{} to {last}: {} {c} spent through the API",
            date(self.from),
            self.total
        )?;
        writeln!(f, "  saved by answering from the phone: {} {c}", self.savings)?;
        for (k, v) in self.by_category.iter().chain(&self.by_market) {
            writeln!(f, "  {k}: {v} {c}")?;
        }
        let m = &self.messages;
        write!(
            f,
            "  messages: {} API ({} charged), {} from the phone",
            m.api, m.charged, m.phone
        )?;
        if self.disagreements.count > 0 {
            write!(
                f,
                "\n  {} messages where Meta's reported pricing differs:",
                self.disagreements.count
            )?;
            for d in &self.disagreements.examples {
                write!(f, "\n    {}: {}", d.wamid, d.detail)?;
            }
        }
        if self.sample_rates {
            write!(f, "\n  note: priced with the SAMPLE rate card shipped with Coexist; import Meta's current card for real figures")?;
        }
        Ok(())
    }
}

impl fmt::Display for CampaignForecast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "campaign #{} ({}, {}): {} {} for {} recipients ({} free)",
            self.campaign, self.template, self.category, self.total, self.currency, self.recipients, self.free
        )?;
        for (m, l) in &self.by_market {
            write!(f, "\n  {m}: {} messages, {} {}", l.messages, l.amount, self.currency)?;
        }
        write!(f, "\n  assumes {}", self.assumes)?;
        if let Some(why) = &self.pacing {
            write!(f, "\n  takes {} days: {why}", self.days)?;
        }
        Ok(())
    }
}

impl fmt::Display for CampaignStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "campaign #{} {} ({}): {} — {} recipients: {} queued, {} accepted, {} delivered, {} read, {} failed, {} uncertain, {} cancelled",
            self.id, self.name, self.template, self.state, self.total, self.queued, self.accepted, self.delivered,
            self.read, self.failed, self.uncertain, self.cancelled,
        )?;
        if let Some(r) = &self.stopped_reason {
            write!(f, " — stopped: {r}")?;
        }
        Ok(())
    }
}

/// The mirror's counts with its media, as `coexist stats` prints them.
pub struct StatsView<'a>(pub &'a Stats, pub &'a MediaUsage);

impl fmt::Display for StatsView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (s, m) = (self.0, self.1);
        let (c, msg, j) = (&s.contacts, &s.messages, &s.journal);
        writeln!(f, "contacts: {} active, {} removed", c.active, c.removed)?;
        writeln!(
            f,
            "messages: {} customer, {} phone, {} api, {} history",
            msg.customer, msg.phone, msg.api, msg.history
        )?;
        writeln!(
            f,
            "journal: {} received, {} applied, {} failed, {} skipped, {} pending",
            j.received, j.applied, j.failed, j.skipped, j.pending
        )?;
        writeln!(f, "history: {} ({}%)", s.history.state, s.history.progress)?;
        writeln!(f, "link: {}", s.link)?;
        write!(
            f,
            "media: {} files ({} bytes), {} pending, {} missing",
            m.files, m.bytes, m.pending, m.missing
        )
    }
}

/// The pricing in force and the rate cards, as `coexist billing policy` prints them.
pub struct PricingView<'a>(pub &'a BillingContext, pub &'a [CardInfo]);

impl fmt::Display for PricingView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (billing, cards) = (self.0, self.1);
        write!(f, "pricing policy {}", billing.policy.file.version)?;
        for r in &billing.policy.file.rules {
            // The allowance's on/off is the owner's choice, kept apart from the file.
            let on = match r.kind {
                crate::billing::policy::RuleKind::ServiceAllowance => billing.policy.service_allowance.is_some(),
                _ => r.enabled,
            };
            let state = match (r.announced, on) {
                (_, false) => " [off]",
                (true, true) => " [announced, on]",
                _ => "",
            };
            write!(
                f,
                "\n  {} from {}{state}: {}\n    source: {}",
                r.id, r.effective, r.summary, r.source
            )?;
        }
        write!(f, "\nreports are priced in {}", billing.currency)?;
        for c in cards {
            let sample = if c.sample {
                " (SAMPLE figures shipped with Coexist: import Meta's card)"
            } else {
                ""
            };
            write!(
                f,
                "\n  card #{} {} from {} ({}){sample}",
                c.id, c.currency, c.effective, c.source
            )?;
        }
        Ok(())
    }
}

/// A reminder as `coexist reminders` lists it.
impl fmt::Display for crate::reminders::Reminder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match (self.fired_at, self.acknowledged_at) {
            (Some(_), None) => "shown",
            _ => "due",
        };
        write!(
            f,
            "{} {state} {} [{}] {}",
            day(self.due_at),
            self.kind,
            self.urgency,
            self.title.as_deref().unwrap_or("")
        )
    }
}

impl fmt::Display for MediaUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "media: {} files, {} bytes; {} downloading, {} no longer available from Meta",
            self.files, self.bytes, self.pending, self.missing
        )?;
        match self.cap_bytes {
            Some(c) if self.at_cap => writeln!(f, "cap: {c} bytes, reached: new media waits to be downloaded")?,
            Some(c) => writeln!(f, "cap: {c} bytes")?,
            None => writeln!(f, "cap: none")?,
        }
        let keeps = if self.no_storage {
            "1 hour (No Storage)"
        } else {
            "7 days"
        };
        write!(f, "Meta keeps media for {keeps}")
    }
}

/// What a restore brought back and what it held for the owner to check.
pub struct RestoredView<'a>(pub &'a crate::safety::BackupInfo, pub &'a std::path::Path);

impl fmt::Display for RestoredView<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let info = self.0;
        write!(
            f,
            "restored {} messages and {} webhook bodies from {}",
            info.messages,
            info.journal,
            self.1.display()
        )?;
        if let Some(aside) = &info.set_aside {
            write!(
                f,
                "\nthe database it replaced is kept as {aside} (restore it the same way to undo)"
            )?;
        }
        if info.media_files > 0 {
            write!(
                f,
                "\nmedia: {} files ({} bytes) restored",
                info.media_files, info.media_bytes
            )?;
        }
        if info.held + info.held_follow_ups + info.paused_campaigns > 0 {
            write!(
                f,
                "\n{} queued message(s) and {} follow-up(s) held, {} campaign(s) paused: they may have gone out after the backup was taken. \
                 Check them, then `coexist outbox release --all` and `coexist campaign resume ID`.",
                info.held, info.held_follow_ups, info.paused_campaigns
            )?;
        }
        Ok(())
    }
}

/// What `coexist connect` found, as its JSON (a contract: these keys stay) and as text.
pub struct Connected<'a> {
    pub report: &'a crate::onboarding::ConnectReport,
    pub eligibility: Option<&'a crate::onboarding::Eligibility>,
    /// Each secret's state (`set (keyring)`, `set (environment)`), never its value.
    pub secrets: &'a serde_json::Map<String, serde_json::Value>,
    /// The sync requests made right away, if asked.
    pub syncs: &'a [crate::onboarding::SyncOutcome],
}

impl Connected<'_> {
    pub fn json(&self) -> serde_json::Value {
        use serde_json::json;
        let (r, l) = (self.report, &self.report.link);
        let link = if l.checked {
            json!({"checked": true, "linked": l.linked, "is_on_biz_app": l.is_on_biz_app,
                   "platform_type": l.platform_type, "verified_name": l.verified_name})
        } else {
            json!({"checked": false, "error": l.error})
        };
        json!({
            "waba_id": r.waba_id, "phone_number_id": r.phone_number_id, "display_number": r.display_number,
            "link": link, "eligibility": self.eligibility, "onboarded_at": r.onboarded_at,
            "sync_deadline": r.sync_deadline, "secrets": self.secrets, "sync": self.syncs,
        })
    }
}

impl fmt::Display for Connected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (r, l) = (self.report, &self.report.link);
        let number = r.display_number.as_deref().unwrap_or("the number");
        write!(
            f,
            "connected {number} (phone number id {}, account {})",
            r.phone_number_id, r.waba_id
        )?;
        let shown = |v: Option<String>| v.unwrap_or_else(|| "null".into());
        match (l.checked, l.linked) {
            (true, Some(true)) => write!(
                f,
                "\n  link: the number is on the WhatsApp Business app and the Cloud API (coexistence)"
            )?,
            (true, _) => write!(
                f,
                "\n  link: Meta does not report this number in coexistence yet ({}, {})",
                shown(l.is_on_biz_app.map(|b| b.to_string())),
                shown(l.platform_type.as_ref().map(|p| format!("{p:?}")))
            )?,
            (false, _) => write!(
                f,
                "\n  link: not checked ({})",
                l.error.as_deref().unwrap_or("no answer")
            )?,
        }
        for line in self.eligibility.iter().flat_map(|e| &e.answers) {
            write!(f, "\n  {line}")?;
        }
        if let Some(deadline) = r.sync_deadline {
            write!(
                f,
                "\n  the contact and history sync can be requested until {} (`coexist sync both`)",
                day(deadline)
            )?;
        }
        for s in self.syncs {
            write!(f, "\n  {}", s.message)?;
        }
        write!(
            f,
            "\n  secrets: kept in {}; Coexist never writes them to its database or logs",
            crate::secrets::keyring_backend()
        )
    }
}

/// Where a message sent from the command line ended up once it settled (or stopped waiting).
pub struct Sent<'a>(pub &'a crate::send::OutboxRow);

impl fmt::Display for Sent<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::send::OutboxState;
        let (r, id) = (self.0, self.0.id);
        match r.state {
            OutboxState::Accepted => write!(
                f,
                "sent: Meta accepted outbox #{id} as {}",
                r.wamid.as_deref().unwrap_or("?")
            ),
            OutboxState::Queued | OutboxState::Dispatching => write!(
                f,
                "outbox #{id} is still waiting to be sent: {}",
                r.last_error.as_deref().unwrap_or("queued")
            ),
            other => write!(f, "outbox #{id} {other}: {}", r.last_error.as_deref().unwrap_or("")),
        }
    }
}

/// One outbox row as `coexist outbox list` shows it.
impl fmt::Display for crate::send::OutboxRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let why = self.held_reason.as_ref().or(self.last_error.as_ref());
        write!(
            f,
            "#{:<6} {:<11} {:<16} tries {:<2} {}",
            self.id,
            self.state.to_string(),
            self.recipient,
            self.attempts,
            why.map_or("", |w| w.as_str())
        )
    }
}

/// One template as `coexist templates list` shows it.
impl fmt::Display for crate::cloud::TemplateInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:<24} {:<6} {:<15} {}",
            self.name, self.language, self.category, self.status
        )
    }
}
