//! Secrets (access token, app secret, verify token) live in the OS keyring only. In memory they
//! travel as [`Sensitive`], whose `Debug` and `Display` never show the value.

use crate::error::{CoreError, Result};

/// A value that must not reach logs or the webview.
#[derive(Clone, PartialEq, Eq)]
pub struct Sensitive<T>(T);

impl<T> Sensitive<T> {
    pub fn new(value: T) -> Self {
        Self(value)
    }
    /// The secret itself; call sites that need it are few and easy to audit.
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> std::fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sensitive(<redacted>)")
    }
}

impl<T> std::fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The names under which Coexist keeps its secrets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    AccessToken,
    AppSecret,
    VerifyToken,
    /// The key that seals the audit log (made by Coexist, never typed by anyone).
    AuditKey,
}

impl SecretKind {
    pub fn key(self) -> &'static str {
        match self {
            SecretKind::AccessToken => "access_token",
            SecretKind::AppSecret => "app_secret",
            SecretKind::VerifyToken => "verify_token",
            SecretKind::AuditKey => "audit_key",
        }
    }
    /// The environment variable that may stand in for the keyring (servers, CI).
    pub fn env_var(self) -> &'static str {
        match self {
            SecretKind::AccessToken => "COEXIST_ACCESS_TOKEN",
            SecretKind::AppSecret => "COEXIST_APP_SECRET",
            SecretKind::VerifyToken => "COEXIST_VERIFY_TOKEN",
            SecretKind::AuditKey => "COEXIST_AUDIT_KEY",
        }
    }
}

/// Where secrets are kept. The shell and CLI use the OS keyring; tests may use memory.
pub trait SecretStore: Send + Sync {
    fn get(&self, kind: SecretKind) -> Result<Option<Sensitive<String>>>;
    fn set(&self, kind: SecretKind, value: &Sensitive<String>) -> Result<()>;
    fn delete(&self, kind: SecretKind) -> Result<()>;
}

/// The keyring this build uses, named for the owner.
pub fn keyring_backend() -> &'static str {
    if cfg!(target_os = "macos") {
        "the macOS Keychain"
    } else if cfg!(target_os = "windows") {
        "the Windows Credential Manager"
    } else {
        "the Secret Service (GNOME Keyring or KWallet, over D-Bus)"
    }
}

/// In-memory secrets, for tests and the demo workspace.
#[derive(Default)]
pub struct MemorySecrets(std::sync::Mutex<std::collections::HashMap<&'static str, String>>);

impl SecretStore for MemorySecrets {
    fn get(&self, kind: SecretKind) -> Result<Option<Sensitive<String>>> {
        let map = self.0.lock().map_err(|_| CoreError::Secret("lock poisoned".into()))?;
        Ok(map.get(kind.key()).cloned().map(Sensitive::new))
    }
    fn set(&self, kind: SecretKind, value: &Sensitive<String>) -> Result<()> {
        let mut map = self.0.lock().map_err(|_| CoreError::Secret("lock poisoned".into()))?;
        map.insert(kind.key(), value.expose().clone());
        Ok(())
    }
    fn delete(&self, kind: SecretKind) -> Result<()> {
        let mut map = self.0.lock().map_err(|_| CoreError::Secret("lock poisoned".into()))?;
        map.remove(kind.key());
        Ok(())
    }
}

/// The OS keyring (Secret Service on Linux, Keychain on macOS, Credential Manager on Windows).
#[cfg(feature = "os-keyring")]
pub struct KeyringStore {
    service: String,
}

#[cfg(feature = "os-keyring")]
impl KeyringStore {
    /// `workspace` separates the secrets of several workspaces on one desktop.
    pub fn new(workspace: &str) -> Self {
        Self {
            service: format!("coexist:{workspace}"),
        }
    }
    fn entry(&self, kind: SecretKind) -> Result<keyring::Entry> {
        keyring::Entry::new(&self.service, kind.key()).map_err(|e| CoreError::Secret(e.to_string()))
    }
}

#[cfg(feature = "os-keyring")]
impl SecretStore for KeyringStore {
    fn get(&self, kind: SecretKind) -> Result<Option<Sensitive<String>>> {
        match self.entry(kind)?.get_password() {
            Ok(v) => Ok(Some(Sensitive::new(v))),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(CoreError::Secret(e.to_string())),
        }
    }
    fn set(&self, kind: SecretKind, value: &Sensitive<String>) -> Result<()> {
        self.entry(kind)?
            .set_password(value.expose())
            .map_err(|e| CoreError::Secret(e.to_string()))
    }
    fn delete(&self, kind: SecretKind) -> Result<()> {
        match self.entry(kind)?.delete_credential() {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(CoreError::Secret(e.to_string())),
        }
    }
}

/// Environment variables first (servers, CI), then the given store.
pub fn lookup(store: &dyn SecretStore, kind: SecretKind) -> Result<Option<Sensitive<String>>> {
    if let Ok(v) = std::env::var(kind.env_var()) {
        if !v.is_empty() {
            return Ok(Some(Sensitive::new(v)));
        }
    }
    store.get(kind)
}

/// Seals `store`'s audit entries with its workspace's key from `secrets`, when the keyring can be
/// reached (on Linux it needs a D-Bus session; a headless server without one writes unsealed
/// entries, still hash-chained).
pub fn seal_audit(store: &crate::Store, secrets: &dyn SecretStore, now: i64) {
    if cfg!(target_os = "linux") && std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none() {
        return;
    }
    match audit_key(secrets, now) {
        Ok(k) => store.seal_audit_with(k),
        Err(e) => tracing::debug!(error = %e, "the audit log is not sealed: no keyring"),
    }
}

/// The workspace's audit key, made on first use: `since` is when it was made (entries written
/// from then on must be sealed with it), kept with the key as `since:hex`.
pub fn audit_key(store: &dyn SecretStore, now: i64) -> Result<crate::audit::AuditKey> {
    let parse = |v: &str| {
        let (since, hex_key) = v.split_once(':')?;
        Some(crate::audit::AuditKey::new(
            hex::decode(hex_key).ok()?,
            since.parse().ok()?,
        ))
    };
    if let Some(v) = store.get(SecretKind::AuditKey)? {
        if let Some(k) = parse(v.expose()) {
            return Ok(k);
        }
    }
    let key: [u8; 32] = rand::random();
    store.set(
        SecretKind::AuditKey,
        &Sensitive::new(format!("{now}:{}", hex::encode(key))),
    )?;
    Ok(crate::audit::AuditKey::new(key.to_vec(), now))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_secret() {
        let s = Sensitive::new("hunter2".to_string());
        assert!(!format!("{s:?} {s}").contains("hunter2"));
        assert_eq!(s.expose(), "hunter2");
    }
}
