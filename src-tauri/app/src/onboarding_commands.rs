//! The onboarding wizard's commands: eligibility, connecting a number (secrets into the OS
//! keyring, never back to the UI), the link check, the once-only syncs, and a restart into the
//! connected workspace.

use crate::commands::APP_ACTOR;
use crate::error::UiError;
use crate::workspace::Workspace;
use coexist_core::cloud::CloudClient;
use coexist_core::onboarding::{Eligibility, EligibilityPolicy, SyncOutcome, SyncType};
use coexist_core::secrets::{self, KeyringStore, SecretKind, SecretStore, Sensitive};
use coexist_core::{Clock, CoreError, Store, SystemClock};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tauri::State;

#[tauri::command]
pub fn check_eligibility(number: String, app_version: Option<String>) -> Result<Eligibility, UiError> {
    let version = app_version.filter(|v| !v.trim().is_empty());
    Ok(EligibilityPolicy::shipped().check(&number, version.as_deref(), SystemClock.now())?)
}

#[derive(Deserialize)]
pub struct ConnectForm {
    waba_id: String,
    phone_number_id: String,
    /// Empty: keep the stored one.
    access_token: String,
    app_secret: String,
    verify_token: String,
}

#[derive(Serialize)]
pub struct ConnectResult {
    linked: bool,
    verified_name: Option<String>,
    display_number: Option<String>,
    /// What to fix, in the owner's words (empty when all is well).
    problems: Vec<String>,
    /// Which secrets are stored: the UI only ever learns "set".
    secrets_set: Vec<String>,
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
    let base = std::env::var("COEXIST_API_BASE").unwrap_or_else(|_| "https://graph.facebook.com".into());
    let version = std::env::var("COEXIST_API_VERSION").unwrap_or_else(|_| "v21.0".into());
    Ok(CloudClient::new(
        &base,
        &version,
        token,
        std::time::Duration::from_secs(20),
    ))
}

#[tauri::command]
pub async fn connect_number(ws: State<'_, Workspace>, form: ConnectForm) -> Result<ConnectResult, UiError> {
    let (waba, phone) = (form.waba_id.trim(), form.phone_number_id.trim());
    if waba.is_empty() || phone.is_empty() {
        return Err(CoreError::Invalid(
            "both ids are needed: Meta's app dashboard → WhatsApp → API setup shows them".into(),
        )
        .into());
    }
    let store = Store::open_dir(&ws.connect_dir).await?;
    let keyring = keyring_for(&ws.connect_dir);
    let now = SystemClock.now();
    let mut secrets_set = Vec::new();
    for (kind, value) in [
        (SecretKind::AccessToken, &form.access_token),
        (SecretKind::AppSecret, &form.app_secret),
        (SecretKind::VerifyToken, &form.verify_token),
    ] {
        let value = value.trim();
        if !value.is_empty() {
            keyring
                .set(kind, &Sensitive::new(value.to_string()))
                .map_err(|e| CoreError::Secret(format!("the OS keyring refused the {}: {e}", kind.key())))?;
            store
                .audit(now, APP_ACTOR, "secret.set", Some(kind.key()), serde_json::json!({}))
                .await?;
        }
        match keyring.get(kind) {
            Ok(Some(_)) => secrets_set.push(kind.key().to_string()),
            Ok(None) => {}
            Err(e) => return Err(CoreError::Secret(e.to_string()).into()),
        }
    }
    let mut problems = Vec::new();
    for kind in [SecretKind::AccessToken, SecretKind::AppSecret, SecretKind::VerifyToken] {
        if !secrets_set.iter().any(|k| k == kind.key()) {
            problems.push(format!("The {} is still missing.", kind.key().replace('_', " ")));
        }
    }
    let (mut linked, mut verified_name, mut display_number) = (false, None, None);
    if let Ok(client) = client(&keyring) {
        match client.phone_status(phone).await {
            Ok(s) => {
                linked = s.linked();
                if !linked {
                    problems.push(
                        "Meta does not show this number on both the WhatsApp Business app and the Cloud API yet: finish the QR step on the phone (Settings → Business platform), then check again."
                            .into(),
                    );
                }
                verified_name = s.verified_name.clone();
                display_number = s.display_phone_number.clone();
            }
            Err(e) if e.code == 190 => problems.push(format!(
                "Meta refused the access token ({}). Create a system-user token with whatsapp_business_messaging and whatsapp_business_management.",
                e.message
            )),
            Err(e) => problems.push(format!("The link check could not reach Meta: {}", e.message)),
        }
    }
    store
        .record_connection(Some(waba), Some(phone), display_number.as_deref(), now, now)
        .await?;
    store.close().await;
    Ok(ConnectResult {
        linked,
        verified_name,
        display_number,
        problems,
        secrets_set,
        restart_needed: true,
    })
}

/// Requests the contact sync or the history import, once, within 24 h of connecting.
#[tauri::command]
pub async fn request_sync(
    ws: State<'_, Workspace>,
    engine: State<'_, crate::live::Engine>,
    kind: String,
) -> Result<SyncOutcome, UiError> {
    let sync = match kind.as_str() {
        "contacts" => SyncType::Contacts,
        "history" => SyncType::History,
        other => return Err(CoreError::Invalid(format!("unknown sync {other}")).into()),
    };
    // The demo asks its simulator, which then imports a sample history as Meta would.
    if ws.demo {
        let live = engine.ready().await?;
        let (client, _) = live
            .cloud
            .as_ref()
            .ok_or_else(|| CoreError::NotConfigured("the demo's simulator is not running".into()))?;
        let phone = ws
            .store
            .account_ids()
            .await?
            .phone_number_id
            .ok_or_else(|| CoreError::NotConfigured("the demo has no phone number id".into()))?;
        return Ok(ws.store.request_sync(client, &phone, sync, SystemClock.now()).await?);
    }
    let store = Store::open_dir(&ws.connect_dir).await?;
    let phone = store
        .account_ids()
        .await?
        .phone_number_id
        .ok_or_else(|| CoreError::NotConfigured("connect the number first".into()))?;
    let client = client(&keyring_for(&ws.connect_dir))?;
    let outcome = store.request_sync(&client, &phone, sync, SystemClock.now()).await;
    store.close().await;
    Ok(outcome?)
}

/// Opens the connected workspace (and its engine with the new secrets).
#[tauri::command]
pub fn restart_app(app: tauri::AppHandle) {
    app.restart();
}
