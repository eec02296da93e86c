//! One workspace's engine settings, read in one place: the `COEXIST_*` environment, the account
//! ids the workspace recorded, and the secrets in the OS keyring (or their environment
//! stand-ins). `serve`, a one-shot `send`, the window and onboarding all start from a [`Config`],
//! so they reach Meta with the same client, at the same pace, with the same words when something
//! is missing.

use crate::cloud::CloudClient;
use crate::engine::{EngineSettings, ReceiverSettings};
use crate::error::{CoreError, Result};
use crate::secrets::{SecretKind, SecretStore, Sensitive};
use crate::send::SendSettings;
use crate::store::Store;
use std::net::SocketAddr;
#[cfg(feature = "os-keyring")]
use std::path::Path;
use std::time::Duration;

/// How long a Cloud API request may take before it counts as failed (and, for a send, uncertain).
const CLOUD_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an engine's lease outlives a crash unless a test shortens it.
const DEFAULT_ENGINE_LEASE_MS: i64 = 10_000;

pub struct Config {
    access_token: Option<Sensitive<String>>,
    app_secret: Option<Sensitive<String>>,
    verify_token: Option<Sensitive<String>>,
    /// Why the keyring could not be read, when it could not (no D-Bus session, locked).
    keyring_error: Option<String>,
    /// Each secret's state for `doctor`: `set (environment)`, `set (keyring)`, `missing` or the
    /// keyring's error; never the value.
    pub secret_states: Vec<(&'static str, String)>,
    pub phone_number_id: Option<String>,
    pub waba_id: Option<String>,
    /// Messages per second this number may send: Meta's cap for it, or `COEXIST_THROUGHPUT`.
    pub throughput: u32,
    /// Share of the cap left to inbound traffic, which counts against it too
    /// (`COEXIST_SEND_HEADROOM_PERCENT`, at most 90).
    pub headroom_percent: u32,
    /// How long the engine lease outlives a crash (`COEXIST_ENGINE_LEASE_MS`).
    pub engine_lease_ms: i64,
    /// How soon a restarted dispatcher may take over from one that died (`COEXIST_DISPATCH_LEASE_MS`).
    pub dispatch_lease_ms: Option<i64>,
    /// Where the window's receiver listens (`COEXIST_LISTEN`); `serve` takes `--listen`.
    pub listen: SocketAddr,
}

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

fn env_num<T: std::str::FromStr>(key: &str) -> Option<T> {
    env(key).and_then(|v| v.parse().ok())
}

impl Config {
    /// Reads the environment, the workspace's account ids and the keyring, once.
    pub async fn load(store: &Store, keyring: &dyn SecretStore) -> Result<Config> {
        let ids = store.account_ids().await?;
        let mut keyring_error = None;
        let mut secret_states = Vec::new();
        let mut secret = |k: SecretKind| {
            let (value, state) = match env(k.env_var()) {
                Some(v) => (Some(Sensitive::new(v)), "set (environment)".to_string()),
                None => match keyring.get(k) {
                    Ok(Some(v)) => (Some(v), "set (keyring)".into()),
                    Ok(None) => (None, "missing".into()),
                    Err(e) => {
                        keyring_error.get_or_insert(e.to_string());
                        (None, format!("keyring error: {e}"))
                    }
                },
            };
            secret_states.push((k.key(), state));
            value
        };
        let (access_token, app_secret, verify_token) = (
            secret(SecretKind::AccessToken),
            secret(SecretKind::AppSecret),
            secret(SecretKind::VerifyToken),
        );
        let dispatch_lease_ms = env_num("COEXIST_DISPATCH_LEASE_MS");
        Ok(Config {
            access_token,
            app_secret,
            verify_token,
            keyring_error,
            secret_states,
            phone_number_id: env("COEXIST_PHONE_NUMBER_ID").or(ids.phone_number_id),
            waba_id: env("COEXIST_WABA_ID").or(ids.waba_id),
            throughput: env_num("COEXIST_THROUGHPUT").unwrap_or(ids.throughput_cap.max(1) as u32),
            headroom_percent: env_num::<u32>("COEXIST_SEND_HEADROOM_PERCENT").unwrap_or(0).min(90),
            engine_lease_ms: env_num("COEXIST_ENGINE_LEASE_MS")
                .or(dispatch_lease_ms)
                .unwrap_or(DEFAULT_ENGINE_LEASE_MS),
            dispatch_lease_ms,
            listen: env_num("COEXIST_LISTEN").unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8787))),
        })
    }

    /// Whether the keyring answered (a headless server without D-Bus cannot reach it).
    pub fn keyring_working(&self) -> bool {
        self.keyring_error.is_none()
    }

    /// A secret, or the words that say how to store it.
    fn secret(&self, kind: SecretKind) -> Result<Sensitive<String>> {
        let value = match kind {
            SecretKind::AccessToken => &self.access_token,
            SecretKind::AppSecret => &self.app_secret,
            SecretKind::VerifyToken => &self.verify_token,
            SecretKind::AuditKey => &None,
        };
        if let Some(v) = value {
            return Ok(Sensitive::new(v.expose().clone()));
        }
        let name = kind.key().replace('_', " ");
        let how = format!(
            "connect the number in Settings, run `coexist --data-dir DIR secret {}`, or set {}",
            kind.key().replace('_', "-"),
            kind.env_var()
        );
        Err(CoreError::NotConfigured(match &self.keyring_error {
            Some(e) => format!("the OS keyring could not be read for the {name} ({e}): {how}"),
            None => format!("no {name} is stored: {how}"),
        }))
    }

    /// The one Cloud API client: Meta's Graph API, or `COEXIST_API_BASE` (the simulator).
    pub fn cloud(&self) -> Result<CloudClient> {
        Ok(cloud_client(self.secret(SecretKind::AccessToken)?))
    }

    pub fn phone_number_id(&self) -> Result<&str> {
        self.phone_number_id.as_deref().ok_or_else(|| {
            CoreError::NotConfigured(
                "the phone number id is unknown: connect the number, or set COEXIST_PHONE_NUMBER_ID".into(),
            )
        })
    }

    pub fn waba_id(&self) -> Result<&str> {
        self.waba_id.as_deref().ok_or_else(|| {
            CoreError::NotConfigured(
                "the WhatsApp Business Account id is unknown: connect the number, or set COEXIST_WABA_ID".into(),
            )
        })
    }

    /// The client and the pacing for this number's dispatcher.
    pub fn sending(&self) -> Result<(CloudClient, SendSettings)> {
        let client = self.cloud()?;
        let rate = (self.throughput * (100 - self.headroom_percent) / 100).max(1);
        let mut settings = SendSettings::new(self.phone_number_id()?, rate);
        if let Some(ms) = self.dispatch_lease_ms {
            settings.lease_ttl_ms = ms;
        }
        Ok((client, settings))
    }

    /// The webhook receiver on `addr`, with the secrets that check Meta's signature.
    pub fn receiver(&self, addr: SocketAddr) -> Result<ReceiverSettings> {
        Ok(ReceiverSettings {
            addr,
            app_secret: self.secret(SecretKind::AppSecret)?,
            verify_token: self.secret(SecretKind::VerifyToken)?,
            watch_gaps: true,
        })
    }

    /// An engine for `kind` (`serve`, `app`) with what this workspace can run: the receiver
    /// on `listen` and sending when their secrets and ids are there. The second value says, in
    /// the owner's words, what is off and why.
    pub fn engine(
        &self,
        kind: &'static str,
        clock: std::sync::Arc<dyn crate::Clock>,
        listen: SocketAddr,
    ) -> (EngineSettings, Vec<String>) {
        let mut s = EngineSettings::new(kind, clock);
        s.lease_ttl_ms = self.engine_lease_ms;
        let mut off = Vec::new();
        let why = |e: CoreError| match e {
            CoreError::NotConfigured(m) => m,
            other => other.to_string(),
        };
        match self.sending() {
            Ok(sending) => s.sending = Some(sending),
            Err(e) => off.push(format!("Sending is off: {}.", why(e))),
        }
        match self.receiver(listen) {
            Ok(r) => s.receiver = Some(r),
            Err(e) => off.push(format!("Webhooks are off: {}.", why(e))),
        }
        (s, off)
    }
}

/// A Cloud API client for `token`, the way every part of Coexist builds one (connecting a
/// number checks a token before it is stored, so it cannot come from a [`Config`] yet).
pub fn cloud_client(token: Sensitive<String>) -> CloudClient {
    CloudClient::from_env(token, CLOUD_TIMEOUT)
}

/// The OS keyring entry of the workspace in `dir` (named by its canonical path, so two
/// workspaces on one computer keep their own secrets).
#[cfg(feature = "os-keyring")]
pub fn keyring_for(dir: &Path) -> crate::secrets::KeyringStore {
    let canonical = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    crate::secrets::KeyringStore::new(&canonical.display().to_string())
}

/// Opens (or creates) the workspace in `dir` and seals its audit log with the workspace's key
/// when the keyring can be reached.
#[cfg(feature = "os-keyring")]
pub async fn open_workspace(dir: &Path, now: i64) -> Result<Store> {
    let store = Store::open_dir(dir).await?;
    crate::secrets::seal_audit(&store, &keyring_for(dir), now);
    Ok(store)
}
