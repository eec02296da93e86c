//! Owner-only operations: billing settings and exports, backups, retention, secrets, profiles.
//! Each starts with [`Ctx::owner`], so the window and the CLI ask for the same PIN.

use super::Ctx;
use crate::audit::Action;
use crate::billing::ImportOutcome;
use crate::error::{CoreError, Result};
use crate::safety::{BackupInfo, RetentionOutcome};
use crate::secrets::{SecretKind, SecretStore, Sensitive};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::io::Write;
use std::path::Path;

/// A rate card as the owner hands it in: Meta's CSV, optional volume tiers, and what it is.
#[derive(Debug, Clone, Deserialize)]
pub struct RateCardImport {
    pub csv: String,
    pub tiers: Option<String>,
    pub currency: String,
    /// The first day the card applies, YYYY-MM-DD.
    pub effective: String,
    /// Where it came from (the file's name), kept with the card.
    pub source: String,
}

/// What `[from, to)` cost through the API and what the phone saved. Owner-only: the front
/// desk does not see the business's spending, in the window or the CLI.
pub async fn billing_report(ctx: &Ctx<'_>, from: i64, to: i64) -> Result<crate::billing::Report> {
    ctx.owner("see billing").await?;
    let billing = ctx.store.billing_context(ctx.now).await?;
    ctx.store.billing_report(&billing, from, to).await
}

/// What campaign `id` will cost if launched now (owner-only, like the rest of billing).
pub async fn campaign_forecast(ctx: &Ctx<'_>, id: i64) -> Result<crate::billing::CampaignForecast> {
    ctx.owner("see what a campaign will cost").await?;
    let billing = ctx.store.billing_context(ctx.now).await?;
    ctx.store.forecast_campaign(&billing, id, ctx.now).await
}

/// The newest audit entries, newest first, with whether the whole chain still verifies.
#[derive(Debug, Clone, Serialize)]
pub struct AuditLogView {
    pub entries: Vec<crate::audit::AuditEntry>,
    pub verification: crate::audit::Verification,
}

/// The audit log as the window shows it: owner-only, since it names who did what.
pub async fn audit_log(ctx: &Ctx<'_>, newest: usize) -> Result<AuditLogView> {
    ctx.owner("read the audit log").await?;
    let mut entries = ctx.store.audit_entries().await?;
    let verification = ctx.store.audit_verify().await?;
    entries.reverse();
    entries.truncate(newest);
    Ok(AuditLogView { entries, verification })
}

/// The ledger of `[from, to)` as CSV into `out`; `target` names where it went, for the audit log.
pub async fn export_billing<W: Write>(ctx: &Ctx<'_>, from: i64, to: i64, out: W, target: &str) -> Result<u64> {
    ctx.owner("export the billing ledger").await?;
    if to <= from {
        return Err(CoreError::Invalid("the period ends before it starts".into()));
    }
    let billing = ctx.store.billing_context(ctx.now).await?;
    let lines = ctx.store.billing_export_csv(&billing, from, to, out).await?;
    ctx.store
        .audit(
            ctx.now,
            &ctx.actor,
            Action::ExportBilling,
            Some(target),
            json!({"lines": lines}),
        )
        .await?;
    Ok(lines)
}

/// Imports Meta's rate card; rows that cannot be read come back by line, the rest are kept.
pub async fn import_rate_card(ctx: &Ctx<'_>, card: &RateCardImport) -> Result<ImportOutcome> {
    ctx.owner("import a rate card").await?;
    ctx.store.billing_defaults(ctx.now).await?;
    let outcome = ctx
        .store
        .import_rate_card(
            &card.csv,
            card.tiers.as_deref(),
            card.currency.trim(),
            card.effective.trim(),
            &card.source,
            ctx.now,
        )
        .await?;
    if outcome.card_id.is_some() {
        ctx.store
            .audit(
                ctx.now,
                &ctx.actor,
                Action::RateCard,
                Some(&card.source),
                json!({"currency": card.currency.trim().to_uppercase(), "effective": card.effective.trim(),
                       "imported": outcome.imported, "refused": outcome.rejected.len()}),
            )
            .await?;
    }
    Ok(outcome)
}

/// Replaces the calling-code → market map.
pub async fn import_market_map(ctx: &Ctx<'_>, text: &str) -> Result<ImportOutcome> {
    ctx.owner("change the market map").await?;
    let outcome = ctx.store.import_markets(text).await?;
    ctx.store
        .audit(
            ctx.now,
            &ctx.actor,
            Action::MarketMap,
            None,
            json!({"imported": outcome.imported, "refused": outcome.rejected.len()}),
        )
        .await?;
    Ok(outcome)
}

/// A change to how messages are priced; fields left out stay as they are.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PricingChange {
    /// A pricing-policy file (JSON) replacing the shipped one.
    pub policy: Option<String>,
    /// Kept so an old script gets a clear answer: the 2026-10-01 charge is not a switch.
    pub service_charge: Option<bool>,
    /// Price reports in this currency (a card in it must exist).
    pub currency: Option<String>,
    /// Count the partner-reported monthly allowance of free service messages.
    pub service_allowance: Option<bool>,
}

pub async fn change_pricing(ctx: &Ctx<'_>, change: &PricingChange) -> Result<()> {
    if change.policy.is_none()
        && change.service_charge.is_none()
        && change.currency.is_none()
        && change.service_allowance.is_none()
    {
        return Ok(());
    }
    if change.service_charge.is_some() {
        return Err(CoreError::Invalid(
            "the 2026-10-01 charge for service messages and utility templates inside the 24-hour window is Meta's published price, in force from that date; it is not a setting. Pricing rules change by importing a newer policy file."
                .into(),
        ));
    }
    ctx.owner("change how messages are priced").await?;
    if let Some(p) = &change.policy {
        ctx.store.import_policy(p).await?;
    }
    if let Some(c) = &change.currency {
        ctx.store.set_billing_currency(c).await?;
    }
    if let Some(on) = change.service_allowance {
        ctx.store.set_service_allowance(on).await?;
    }
    ctx.store
        .audit(
            ctx.now,
            &ctx.actor,
            Action::PricingPolicy,
            None,
            json!({"policy": change.policy.is_some(), "currency": change.currency,
                   "service_allowance": change.service_allowance}),
        )
        .await?;
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

/// Every message of the mirror into `out`, audited with its count.
pub async fn export_messages<W: Write>(ctx: &Ctx<'_>, format: ExportFormat, mut out: W) -> Result<u64> {
    ctx.owner("export conversations").await?;
    let io = |source| CoreError::Io {
        path: "the export".into(),
        source,
    };
    let n = match format {
        ExportFormat::Jsonl => {
            let rows = ctx.store.export_messages().await?;
            for m in &rows {
                serde_json::to_writer(&mut out, m).map_err(|e| CoreError::Invalid(e.to_string()))?;
                out.write_all(b"\n").map_err(io)?;
            }
            out.flush().map_err(io)?;
            rows.len() as u64
        }
        ExportFormat::Csv => ctx.store.export_messages_csv(out).await?,
    };
    ctx.store
        .audit(
            ctx.now,
            &ctx.actor,
            Action::ExportMessages,
            None,
            json!({"messages": n, "format": format}),
        )
        .await?;
    Ok(n)
}

/// The audit log as JSONL. The export is recorded first, so the file ends with it.
pub async fn export_audit<W: Write>(ctx: &Ctx<'_>, mut out: W) -> Result<u64> {
    ctx.owner("export the audit log").await?;
    ctx.store
        .audit(ctx.now, &ctx.actor, Action::ExportAudit, None, json!({}))
        .await?;
    let io = |source| CoreError::Io {
        path: "the export".into(),
        source,
    };
    let entries = ctx.store.audit_entries().await?;
    for e in &entries {
        serde_json::to_writer(&mut out, e).map_err(|e| CoreError::Invalid(e.to_string()))?;
        out.write_all(b"\n").map_err(io)?;
    }
    out.flush().map_err(io)?;
    Ok(entries.len() as u64)
}

/// A consistent copy of the workspace at `dest`, taken while it stays in use.
pub async fn backup(ctx: &Ctx<'_>, dest: &Path) -> Result<BackupInfo> {
    backup_with(ctx, dest, false).await
}

/// A backup that can keep the media files too (beside it, in `<dest>.media/`), saying their size.
pub async fn backup_with(ctx: &Ctx<'_>, dest: &Path, with_media: bool) -> Result<BackupInfo> {
    ctx.owner("back up the workspace").await?;
    let mut info = ctx.store.backup_to(dest, &ctx.actor, ctx.now).await?;
    if with_media {
        (info.media_files, info.media_bytes) = ctx.store.backup_media(dest).await?;
    }
    Ok(info)
}

/// Replaces the workspace in `dir` with `backup` (refused while an engine runs it), audited in
/// the restored database. The owner check runs on the workspace as it is before the restore,
/// under the restore's lease.
pub async fn restore(dir: &Path, backup: &Path, actor: &str, pin: Option<String>, now: i64) -> Result<BackupInfo> {
    let restore = crate::restore::Restore::begin(dir).await?;
    if let Err(e) = Ctx::new(restore.live(), actor, pin, now)
        .owner("restore a backup")
        .await
    {
        restore.abandon().await;
        return Err(e);
    }
    restore.finish(backup, actor, now).await
}

/// How much a retention run would delete, before anything is deleted.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RetentionPreview {
    pub older_than: i64,
    pub messages: i64,
}

fn retention_cutoff(now: i64, days: i64) -> Result<i64> {
    if !(1..=36_500).contains(&days) {
        return Err(CoreError::Invalid("keep messages for between 1 and 36,500 days".into()));
    }
    Ok(now - days * 86_400)
}

pub async fn retention_preview(ctx: &Ctx<'_>, days: i64) -> Result<RetentionPreview> {
    ctx.owner("delete old messages").await?;
    let older_than = retention_cutoff(ctx.now, days)?;
    Ok(RetentionPreview {
        older_than,
        messages: ctx.store.messages_before(older_than).await?,
    })
}

/// Deletes messages older than `days`, archiving them to `archive` first when given.
pub async fn retention<W: Write>(ctx: &Ctx<'_>, days: i64, archive: Option<W>) -> Result<RetentionOutcome> {
    ctx.owner("delete old messages").await?;
    let older_than = retention_cutoff(ctx.now, days)?;
    ctx.store
        .apply_retention(older_than, archive, &ctx.actor, ctx.now)
        .await
}

/// Stores one secret in the OS keyring (never in the database), audited by name only.
pub async fn set_secret(
    ctx: &Ctx<'_>,
    secrets: &dyn SecretStore,
    kind: SecretKind,
    value: &Sensitive<String>,
) -> Result<()> {
    ctx.owner("change secrets").await?;
    if value.expose().trim().is_empty() {
        return Err(CoreError::Invalid(format!(
            "the {} is empty",
            kind.key().replace('_', " ")
        )));
    }
    secrets.set(kind, value)?;
    ctx.store
        .audit(ctx.now, &ctx.actor, Action::SecretSet, Some(kind.key()), json!({}))
        .await?;
    Ok(())
}

pub async fn add_profile(ctx: &Ctx<'_>, name: &str, role: &str) -> Result<()> {
    ctx.owner("add profiles").await?;
    ctx.store.add_profile(name, role, &ctx.actor, ctx.now).await
}

pub async fn set_owner_pin(ctx: &Ctx<'_>, pin: &str) -> Result<()> {
    ctx.owner("change the owner PIN").await?;
    ctx.store.set_owner_pin(pin, &ctx.actor, ctx.now).await
}

/// Connects a number: the secrets to the keyring (each audited by name), the link check with
/// Meta, the ids and onboarding time recorded, and the connection itself audited.
pub async fn connect(
    ctx: &Ctx<'_>,
    secrets: &dyn SecretStore,
    form: &crate::onboarding::NewConnection,
    client_for: impl Fn(Sensitive<String>) -> crate::cloud::CloudClient,
) -> Result<crate::onboarding::ConnectReport> {
    ctx.owner("connect a number and store its secrets").await?;
    let report = ctx
        .store
        .connect_number(secrets, form, client_for, &ctx.actor, ctx.now)
        .await?;
    ctx.store
        .audit(
            ctx.now,
            &ctx.actor,
            Action::Connect,
            Some(&report.phone_number_id),
            json!({"linked": report.linked, "secrets": report.secrets_set}),
        )
        .await?;
    Ok(report)
}

/// Changes only what is given: the cap (`Some(None)` removes it) and the No Storage window.
pub async fn change_media_policy(
    ctx: &Ctx<'_>,
    cap_bytes: Option<Option<i64>>,
    no_storage: Option<bool>,
) -> Result<()> {
    let mut policy = ctx.store.media_policy().await?;
    if let Some(cap) = cap_bytes {
        policy.cap_bytes = cap;
    }
    if let Some(on) = no_storage {
        policy.no_storage = on;
    }
    set_media_policy(ctx, &policy).await
}

/// The media folder's cap and whether the number uses No Storage (its 1-hour window).
pub async fn set_media_policy(ctx: &Ctx<'_>, policy: &crate::media::MediaPolicy) -> Result<()> {
    ctx.owner("change how media is kept").await?;
    if policy.cap_bytes.is_some_and(|c| c < 0) {
        return Err(CoreError::Invalid("the media cap cannot be negative".into()));
    }
    ctx.store.set_media_policy(policy).await?;
    ctx.store
        .audit(
            ctx.now,
            &ctx.actor,
            Action::MediaPolicy,
            None,
            json!({"cap_bytes": policy.cap_bytes, "no_storage": policy.no_storage}),
        )
        .await?;
    Ok(())
}
