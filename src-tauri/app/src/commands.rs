//! Tauri commands: thin wrappers over coexist-core, errors mapped once to `{code, message}`.

use crate::error::UiError;
use crate::live::LiveSlot;
use crate::workspace::Workspace;
use coexist_core::billing::{ReplyCost, Report};
use coexist_core::media::CopyFor;
use coexist_core::ops;
use coexist_core::reminders::{HeartbeatStatus, Reminder};
use coexist_core::store::{ConversationRow, InboxFilter, Stats, ThreadMessage};
use coexist_core::{Clock, SystemClock};
use serde::Serialize;
use tauri::State;

#[derive(Serialize)]
pub struct WorkspaceInfo {
    label: String,
    demo: bool,
    data_dir: String,
    /// The shell's clock, so the UI judges windows by the same time as the core.
    now: i64,
}

#[tauri::command]
pub fn workspace_info(ws: State<'_, Workspace>) -> WorkspaceInfo {
    WorkspaceInfo {
        label: ws.label.clone(),
        demo: ws.demo,
        data_dir: ws.data_dir.display().to_string(),
        now: SystemClock.now(),
    }
}

/// The UI shows its first page of conversations: the startup figure the bench reads.
#[tauri::command]
pub fn ui_ready(conversations: usize) {
    let ms = crate::STARTED.get().map(|t| t.elapsed().as_millis()).unwrap_or(0);
    tracing::info!(ms = ms as u64, conversations, "startup: inbox populated");
}

#[tauri::command]
pub async fn stats(ws: State<'_, Workspace>) -> Result<Stats, UiError> {
    Ok(ops::stats(&ws.ctx(None)).await?)
}

#[tauri::command]
pub async fn list_conversations(
    ws: State<'_, Workspace>,
    limit: i64,
    offset: i64,
    filter: Option<InboxFilter>,
    assignee: Option<String>,
) -> Result<Vec<ConversationRow>, UiError> {
    let filter = filter.unwrap_or_default();
    Ok(ops::conversations(&ws.ctx(None), filter, assignee.as_deref(), limit, offset).await?)
}

/// The desk acts as the owner until profiles are chosen in the app.
pub(crate) const APP_ACTOR: &str = "owner";

#[tauri::command]
pub async fn set_vip(ws: State<'_, Workspace>, contact_id: i64, vip: bool) -> Result<(), UiError> {
    Ok(coexist_core::ops::set_vip(&ws.ctx(None), contact_id, vip).await?)
}

#[tauri::command]
pub async fn set_assignee(ws: State<'_, Workspace>, contact_id: i64, assignee: Option<String>) -> Result<(), UiError> {
    Ok(ops::set_assignee(&ws.ctx(None), contact_id, assignee.as_deref()).await?)
}

/// Take a chat by hand for the core's default span, or hand it back; returns until when.
#[tauri::command]
pub async fn set_automation_pause(
    ws: State<'_, Workspace>,
    contact_id: i64,
    take_over: bool,
) -> Result<Option<i64>, UiError> {
    let hours = take_over.then_some(coexist_core::policy::DEFAULT_TAKE_OVER_HOURS);
    Ok(coexist_core::ops::take_over(&ws.ctx(None), contact_id, hours).await?)
}

/// Saves a copy of a message's file into the Downloads folder ("save as"); returns its path.
#[tauri::command]
pub async fn save_media_copy(
    app: tauri::AppHandle,
    ws: State<'_, Workspace>,
    message_id: i64,
) -> Result<String, UiError> {
    use tauri::Manager;
    let dir = app
        .path()
        .download_dir()
        .or_else(|_| app.path().home_dir())
        .map_err(|e| UiError::internal(format!("no folder to save the file in: {e}")))?;
    let media = ws.media_dir();
    Ok(
        ops::save_media_copy(&ws.ctx(None), message_id, &media, &dir, CopyFor::Keeping)
            .await?
            .display()
            .to_string(),
    )
}

/// Opens a message's file in the app the OS picks for it. The stored file is named by its
/// content, with no extension, so a copy under its own name goes to the cache folder first
/// (emptied at each start).
#[tauri::command]
pub async fn open_media(app: tauri::AppHandle, ws: State<'_, Workspace>, message_id: i64) -> Result<(), UiError> {
    use tauri::Manager;
    use tauri_plugin_opener::OpenerExt;
    let dir = app
        .path()
        .app_cache_dir()
        .map_err(|e| UiError::internal(format!("no folder to open the file from: {e}")))?
        .join(OPENED_DIR);
    let copy = ops::save_media_copy(&ws.ctx(None), message_id, &ws.media_dir(), &dir, CopyFor::Opening).await?;
    app.opener()
        .open_path(copy.display().to_string(), None::<&str>)
        .map_err(|e| {
            UiError::from(coexist_core::CoreError::Invalid(format!(
                "no app on this computer opened the file: {e}"
            )))
        })
}

/// Where `open_media` puts its named copies, under the app's cache folder.
pub const OPENED_DIR: &str = "opened";

/// How much disk the workspace's media takes, and what is still to fetch.
#[tauri::command]
pub async fn media_usage(ws: State<'_, Workspace>) -> Result<coexist_core::media::MediaUsage, UiError> {
    Ok(ops::media_usage(&ws.ctx(None)).await?)
}

/// A message's picture, voice note or document as stored in the workspace (or why it is not).
#[tauri::command]
pub async fn media_preview(
    ws: State<'_, Workspace>,
    message_id: i64,
) -> Result<Option<coexist_core::media::MediaPreview>, UiError> {
    let dir = ws.media_dir();
    Ok(ops::media_preview(&ws.ctx(None), message_id, &dir).await?)
}

/// A page of one conversation, newest last; `before` pages back.
#[tauri::command]
pub async fn thread(
    ws: State<'_, Workspace>,
    contact_id: i64,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<ThreadMessage>, UiError> {
    Ok(ops::thread(&ws.ctx(None), contact_id, before, limit).await?)
}

/// The desk has seen the chat (the thread view says so once it shows the newest page).
#[tauri::command]
pub async fn mark_read(ws: State<'_, Workspace>, contact_id: i64) -> Result<(), UiError> {
    Ok(ops::mark_read(&ws.ctx(None), contact_id).await?)
}

/// The Graph API version requests go to, and a warning in its last 90 days (or past its end).
#[tauri::command]
pub fn graph_api() -> coexist_core::cloud::graph_version::VersionCheck {
    coexist_core::cloud::graph_version::GraphVersions::check_in_use(SystemClock.now())
}

#[tauri::command]
pub async fn heartbeat_status(ws: State<'_, Workspace>) -> Result<HeartbeatStatus, UiError> {
    Ok(ops::heartbeat_status(&ws.ctx(None)).await?)
}

/// "I opened the phone app": restarts the 14-day clock.
#[tauri::command]
pub async fn acknowledge_heartbeat(ws: State<'_, Workspace>) -> Result<HeartbeatStatus, UiError> {
    Ok(coexist_core::ops::acknowledge_heartbeat(&ws.ctx(None)).await?)
}

#[tauri::command]
pub async fn reminders(ws: State<'_, Workspace>) -> Result<Vec<Reminder>, UiError> {
    Ok(ops::reminders(&ws.ctx(None)).await?)
}

/// This month so far: spent through the API, saved by the phone (owner-only, checked in the core).
#[tauri::command]
pub async fn billing_summary(
    ws: State<'_, Workspace>,
    from: i64,
    to: i64,
    pin: Option<String>,
) -> Result<Report, UiError> {
    Ok(coexist_core::ops::billing_report(&ws.ctx(pin), from, to).await?)
}

/// What replying now costs through the API, against free from the phone.
#[tauri::command]
pub async fn reply_cost(
    ws: State<'_, Workspace>,
    contact_id: i64,
    template_category: Option<String>,
) -> Result<ReplyCost, UiError> {
    Ok(ops::reply_cost(&ws.ctx(None), contact_id, template_category.as_deref()).await?)
}

#[tauri::command]
pub fn autostart(app: tauri::AppHandle) -> Result<bool, UiError> {
    use tauri_plugin_autostart::ManagerExt;
    app.autolaunch()
        .is_enabled()
        .map_err(|e| UiError::internal(e.to_string()))
}

/// Start at login (off by default; offered during onboarding).
#[tauri::command]
pub fn set_autostart(app: tauri::AppHandle, enabled: bool) -> Result<bool, UiError> {
    use tauri_plugin_autostart::ManagerExt;
    let l = app.autolaunch();
    if enabled { l.enable() } else { l.disable() }.map_err(|e| UiError::internal(e.to_string()))?;
    l.is_enabled().map_err(|e| UiError::internal(e.to_string()))
}

/// The newest entries and whether the whole chain still verifies (owner-only, checked in the core).
#[tauri::command]
pub async fn audit_log(
    ws: State<'_, Workspace>,
    pin: Option<String>,
) -> Result<coexist_core::ops::AuditLogView, UiError> {
    Ok(coexist_core::ops::audit_log(&ws.ctx(pin), 500).await?)
}

/// The sync window's countdown and the history import's progress.
#[tauri::command]
pub async fn onboarding_status(
    ws: State<'_, Workspace>,
) -> Result<coexist_core::onboarding::OnboardingStatus, UiError> {
    Ok(ops::onboarding_status(&ws.ctx(None)).await?)
}

#[tauri::command]
pub async fn automation_rules(ws: State<'_, Workspace>) -> Result<coexist_core::automation::AutomationConfig, UiError> {
    Ok(ops::automation_config(&ws.ctx(None)).await?)
}

/// "Test this rule": what automation would do with a message now, without sending anything.
#[tauri::command]
pub async fn automation_test(
    ws: State<'_, Workspace>,
    text: String,
    first_contact: bool,
) -> Result<coexist_core::automation::Decision, UiError> {
    Ok(ops::automation_test(&ws.ctx(None), &text, first_contact).await?)
}

/// Search over every message (FTS5); the index catches up first.
#[tauri::command]
pub async fn search(ws: State<'_, Workspace>, text: String) -> Result<Vec<coexist_core::search::SearchHit>, UiError> {
    Ok(ops::search(&ws.ctx(None), &text).await?)
}

#[tauri::command]
pub async fn campaigns(ws: State<'_, Workspace>) -> Result<Vec<coexist_core::send::CampaignStatus>, UiError> {
    Ok(ops::campaigns(&ws.ctx(None)).await?)
}

/// Pause, resume or cancel (audited by the core).
#[tauri::command]
pub async fn campaign_action(
    ws: State<'_, Workspace>,
    id: i64,
    action: coexist_core::send::CampaignAction,
) -> Result<(), UiError> {
    Ok(coexist_core::ops::campaign_action(&ws.ctx(None), id, action).await?)
}

/// The outbox (all rows, or those in one state), for the Dashboard's "waiting for you" card.
#[tauri::command]
pub async fn outbox_list(
    ws: State<'_, Workspace>,
    state: Option<coexist_core::send::OutboxState>,
) -> Result<Vec<coexist_core::send::OutboxRow>, UiError> {
    Ok(coexist_core::ops::outbox::list(&ws.ctx(None), state).await?)
}

/// Sends an uncertain message again, confirmed in the window (owner-only, audited in the core).
#[tauri::command]
pub async fn outbox_resend(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
    id: i64,
    confirmed: bool,
    pin: Option<String>,
) -> Result<(), UiError> {
    coexist_core::ops::outbox::resend(&ws.ctx(pin), id, confirmed, coexist_core::send::now_ms()).await?;
    engine.ready().await?.wake();
    Ok(())
}

/// Withdraws a queued message (audited in the core).
#[tauri::command]
pub async fn outbox_cancel(ws: State<'_, Workspace>, id: i64) -> Result<(), UiError> {
    Ok(coexist_core::ops::outbox::cancel(&ws.ctx(None), id).await?)
}

/// Lets one held message, or all of them, go out (owner-only, audited in the core).
#[tauri::command]
pub async fn outbox_release(
    ws: State<'_, Workspace>,
    engine: State<'_, LiveSlot>,
    id: Option<i64>,
    pin: Option<String>,
) -> Result<u64, UiError> {
    let n = coexist_core::ops::outbox::release(&ws.ctx(pin), id).await?;
    engine.ready().await?.wake();
    Ok(n)
}

/// What the campaign will cost if launched now (owner-only, checked in the core).
#[tauri::command]
pub async fn campaign_forecast(
    ws: State<'_, Workspace>,
    id: i64,
    pin: Option<String>,
) -> Result<coexist_core::billing::CampaignForecast, UiError> {
    Ok(coexist_core::ops::campaign_forecast(&ws.ctx(pin), id).await?)
}

/// The month's ledger as CSV in the Downloads folder (one line per message), audited.
#[tauri::command]
pub async fn export_billing_csv(
    app: tauri::AppHandle,
    ws: State<'_, Workspace>,
    from: i64,
    to: i64,
    label: String,
    pin: Option<String>,
) -> Result<String, UiError> {
    use tauri::Manager;
    let dir = app
        .path()
        .download_dir()
        .or_else(|_| app.path().home_dir())
        .map_err(|e| UiError::internal(format!("no folder to save the export in: {e}")))?;
    let safe: String = label
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let path = dir.join(format!("coexist-billing-{safe}.csv"));
    let ctx = ws.ctx(pin);
    // Asked before the file exists, so a refused PIN leaves no empty export behind.
    ctx.owner("export the billing ledger").await?;
    let file = std::fs::File::create(&path)
        .map_err(|e| UiError::internal(format!("{} could not be written: {e}", path.display())))?;
    let target = path.display().to_string();
    coexist_core::ops::export_billing(&ctx, from, to, std::io::BufWriter::new(file), &target).await?;
    Ok(target)
}

/// Meta's rate card from a CSV the owner picked (its text); bad rows come back by line.
#[tauri::command]
pub async fn import_rate_card(
    ws: State<'_, Workspace>,
    csv: String,
    currency: String,
    effective: String,
    name: String,
    pin: Option<String>,
) -> Result<coexist_core::billing::ImportOutcome, UiError> {
    let card = coexist_core::ops::RateCardImport {
        csv,
        tiers: None,
        currency,
        effective,
        source: name,
    };
    Ok(coexist_core::ops::import_rate_card(&ws.ctx(pin), &card).await?)
}

/// Counts (or stops counting) the monthly free service messages partners report; owner only.
#[tauri::command]
pub async fn set_service_allowance(
    ws: State<'_, Workspace>,
    enabled: bool,
    pin: Option<String>,
) -> Result<(), UiError> {
    let change = coexist_core::ops::PricingChange {
        service_allowance: Some(enabled),
        ..Default::default()
    };
    Ok(coexist_core::ops::change_pricing(&ws.ctx(pin), &change).await?)
}

/// The media folder's cap (none: no cap) and whether the number uses No Storage; owner only.
#[tauri::command]
pub async fn set_media_policy(
    ws: State<'_, Workspace>,
    cap_bytes: Option<i64>,
    no_storage: bool,
    pin: Option<String>,
) -> Result<coexist_core::media::MediaUsage, UiError> {
    let policy = coexist_core::media::MediaPolicy { cap_bytes, no_storage };
    coexist_core::ops::set_media_policy(&ws.ctx(pin), &policy).await?;
    Ok(ops::media_usage(&ws.ctx(None)).await?)
}

/// A consistent copy of the workspace in the Documents folder, taken while it stays in use.
#[tauri::command]
pub async fn backup_now(
    app: tauri::AppHandle,
    ws: State<'_, Workspace>,
    pin: Option<String>,
    with_media: Option<bool>,
) -> Result<coexist_core::safety::BackupInfo, UiError> {
    use tauri::Manager;
    let dir = app
        .path()
        .document_dir()
        .or_else(|_| app.path().home_dir())
        .map_err(|e| UiError::internal(format!("no folder to save the backup in: {e}")))?;
    let now = SystemClock.now();
    let stamp = chrono::DateTime::from_timestamp(now, 0)
        .map(|d| d.format("%Y%m%d-%H%M%S").to_string())
        .unwrap_or_else(|| now.to_string());
    let dest = dir.join(format!("coexist-backup-{stamp}.sqlite3"));
    Ok(coexist_core::ops::backup_with(&ws.ctx(pin), &dest, with_media.unwrap_or(true)).await?)
}
