//! The onboarding wizard's commands: eligibility, connecting a number (secrets into the OS
//! keyring, never back to the UI), the link check, the once-only syncs, and a restart into the
//! connected workspace.

use crate::commands::APP_ACTOR;
use crate::error::UiError;
use crate::workspace::Workspace;
use coexist_core::cloud::CloudClient;
use coexist_core::onboarding::{ConnectReport, Eligibility, EligibilityPolicy, NewConnection, SyncOutcome, SyncType};
use coexist_core::secrets::{self, KeyringStore, SecretKind};
use coexist_core::{Clock, CoreError, Store, SystemClock};
use serde::Serialize;
use std::path::Path;
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

fn keyring_for(dir: &Path) -> KeyringStore {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    KeyringStore::new(&canonical.display().to_string())
}

fn client(keyring: &KeyringStore) -> Result<CloudClient, UiError> {
    let token = secrets::lookup(keyring, SecretKind::AccessToken)
        .map_err(|e| CoreError::Secret(e.to_string()))?
        .ok_or_else(|| CoreError::NotConfigured("no access token is stored yet".into()))?;
    Ok(CloudClient::from_env(token, std::time::Duration::from_secs(20)))
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
    let store = Store::open_dir(&ws.connect_dir).await?;
    let keyring = keyring_for(&ws.connect_dir);
    let report = coexist_core::ops::connect(
        &coexist_core::ops::Ctx::new(&store, APP_ACTOR, pin, SystemClock.now()),
        &keyring,
        &form,
        |t| CloudClient::from_env(t, std::time::Duration::from_secs(20)),
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
    engine: State<'_, crate::live::Engine>,
    kind: SyncType,
) -> Result<SyncOutcome, UiError> {
    // The demo asks its simulator, which then imports a sample history as Meta would.
    if ws.demo {
        let live = engine.ready().await?;
        let (client, _) = live
            .cloud
            .as_ref()
            .ok_or_else(|| CoreError::NotConfigured("the demo's simulator is not running".into()))?;
        return Ok(coexist_core::ops::request_sync(&ws.ctx(None), client, kind).await?);
    }
    // Before the restart into the connected workspace, the request is that workspace's.
    let store = Store::open_dir(&ws.connect_dir).await?;
    let client = client(&keyring_for(&ws.connect_dir))?;
    let ctx = coexist_core::ops::Ctx::new(&store, crate::commands::APP_ACTOR, None, SystemClock.now());
    let outcome = coexist_core::ops::request_sync(&ctx, &client, kind).await;
    store.close().await;
    Ok(outcome?)
}

/// Opens the connected workspace (and its engine with the new secrets).
#[tauri::command]
pub fn restart_app(app: tauri::AppHandle) {
    app.restart();
}
