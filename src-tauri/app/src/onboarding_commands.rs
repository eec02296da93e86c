//! The onboarding wizard's commands: eligibility, connecting a number (secrets into the OS
//! keyring, never back to the UI), the link check, the once-only syncs, and a restart into the
//! connected workspace.

use crate::commands::APP_ACTOR;
use crate::error::UiError;
use crate::workspace::Workspace;
use coexist_core::config::{cloud_client, keyring_for, open_workspace, Config};
use coexist_core::onboarding::{ConnectReport, Eligibility, EligibilityPolicy, NewConnection, SyncOutcome, SyncType};
use coexist_core::{Clock, CoreError, SystemClock};
use serde::Serialize;
use tauri::State;

#[tauri::command]
pub fn check_eligibility(number: String, app_version: Option<String>) -> Result<Eligibility, UiError> {
    let version = app_version.filter(|v| !v.trim().is_empty());
    Ok(EligibilityPolicy::shipped().check(&number, version.as_deref(), SystemClock.now())?)
}

#[derive(Serialize)]
pub struct ConnectResult {
    #[serde(flatten)]
    report: ConnectReport,
    /// The window shows the demo (or runs with old secrets): a restart opens the business.
    restart_needed: bool,
}

/// Secrets to the OS keyring of the business workspace, the link check, the ids recorded.
#[tauri::command]
pub async fn connect_number(
    ws: State<'_, Workspace>,
    form: NewConnection,
    pin: Option<String>,
) -> Result<ConnectResult, UiError> {
    // The owner rule of the workspace on screen (the demo has no PIN; a business may), then
    // the operation itself on the workspace being connected.
    ws.ctx(pin.clone())
        .owner("connect a number and store its secrets")
        .await?;
    let store = open_workspace(&ws.connect_dir, SystemClock.now()).await?;
    let keyring = keyring_for(&ws.connect_dir);
    let report = coexist_core::ops::connect(
        &coexist_core::ops::Ctx::new(&store, APP_ACTOR, pin, SystemClock.now()),
        &keyring,
        &form,
        cloud_client,
    )
    .await;
    store.close().await;
    Ok(ConnectResult {
        report: report?,
        restart_needed: true,
    })
}

/// Requests the contact sync or the history import, once, within 24 h of connecting (the rule
/// and the audit entry are the core's).
#[tauri::command]
pub async fn request_sync(
    ws: State<'_, Workspace>,
    engine: State<'_, crate::live::LiveSlot>,
    kind: SyncType,
) -> Result<SyncOutcome, UiError> {
    // The demo asks its simulator, which then imports a sample history as Meta would.
    if ws.demo {
        let live = engine.ready().await?;
        let (client, _) = live
            .cloud()
            .ok_or_else(|| CoreError::NotConfigured("the demo's simulator is not running".into()))?;
        return Ok(coexist_core::ops::request_sync(&ws.ctx(None), client, kind).await?);
    }
    // Before the restart into the connected workspace, the request is that workspace's.
    let store = open_workspace(&ws.connect_dir, SystemClock.now()).await?;
    let ctx = coexist_core::ops::Ctx::new(&store, APP_ACTOR, None, SystemClock.now());
    let outcome = match Config::load(&store, &keyring_for(&ws.connect_dir))
        .await
        .and_then(|c| c.cloud())
    {
        Ok(client) => coexist_core::ops::request_sync(&ctx, &client, kind).await,
        Err(e) => Err(e),
    };
    store.close().await;
    Ok(outcome?)
}

/// Opens the connected workspace (and its engine with the new secrets).
#[tauri::command]
pub fn restart_app(app: tauri::AppHandle) {
    app.restart();
}
