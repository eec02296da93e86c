//! Roles on one desktop: one owner and front-desk profiles. The owner's PIN guards billing,
//! settings, exports and secrets. It keeps a colleague from changing them by accident or on a
//! whim; it is not protection against someone holding the database file.

use crate::audit;
use crate::error::{CoreError, Result};
use crate::store::Store;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

const PIN_SETTING: &str = "owner.pin";
/// Who acts when no profile is named.
pub const DEFAULT_ACTOR: &str = "owner";

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Profile {
    pub name: String,
    pub role: String,
    pub created_at: i64,
}

fn pin_hash(salt: &str, pin: &str) -> String {
    let mut h = Sha256::new();
    h.update(salt.as_bytes());
    h.update(b":");
    h.update(pin.as_bytes());
    hex::encode(h.finalize())
}

impl Store {
    pub async fn add_profile(&self, name: &str, role: &str, actor: &str, now: i64) -> Result<()> {
        let name = name.trim();
        if name.is_empty() || !matches!(role, "owner" | "desk") {
            return Err(CoreError::Invalid(
                "a profile needs a name and the role owner or desk".into(),
            ));
        }
        let (owned, role) = (name.to_string(), role.to_string());
        self.audited(now, actor, audit::Action::ProfileAdd, Some(name), |tx| {
            Box::pin(async move {
                sqlx::query("INSERT INTO profile (name, role, created_at) VALUES (?, ?, ?)")
                    .bind(&owned)
                    .bind(&role)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| match e {
                        sqlx::Error::Database(d) if d.is_unique_violation() => {
                            CoreError::Invalid(format!("there is already a profile called {owned}"))
                        }
                        other => other.into(),
                    })?;
                Ok(((), json!({"role": role})))
            })
        })
        .await
    }

    pub async fn profiles(&self) -> Result<Vec<Profile>> {
        Ok(
            sqlx::query_as("SELECT name, role, created_at FROM profile ORDER BY role DESC, name")
                .fetch_all(self.pool())
                .await?,
        )
    }

    /// The role of a profile; with no profiles at all, whoever uses the desktop is the owner.
    pub async fn role_of(&self, name: &str) -> Result<String> {
        let role: Option<String> = sqlx::query_scalar("SELECT role FROM profile WHERE name = ?")
            .bind(name)
            .fetch_optional(self.pool())
            .await?;
        match role {
            Some(r) => Ok(r),
            None if name == DEFAULT_ACTOR => Ok("owner".into()),
            None => Err(CoreError::Invalid(format!("there is no profile called {name}"))),
        }
    }

    pub async fn set_owner_pin(&self, pin: &str, actor: &str, now: i64) -> Result<()> {
        if pin.len() < 4 || !pin.chars().all(|c| c.is_ascii_digit()) {
            return Err(CoreError::Invalid("the PIN must be at least 4 digits".into()));
        }
        let salt = format!("{:016x}", rand::random::<u64>());
        let stored = format!("{salt}${}", pin_hash(&salt, pin));
        self.audited(now, actor, audit::Action::OwnerPin, None, |tx| {
            Box::pin(async move {
                sqlx::query(
                    "INSERT INTO setting (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                )
                .bind(PIN_SETTING)
                .bind(&stored)
                .execute(&mut *tx)
                .await?;
                // The PIN itself is never in the log.
                Ok(((), json!({})))
            })
        })
        .await
    }

    /// May `actor` do an owner-only thing (billing, settings, exports, secrets)? The one place
    /// the rule lives: the operation layer asks it for the window and the CLI alike.
    pub async fn require_owner(&self, actor: &str, pin: Option<&str>, what: &str) -> Result<()> {
        if self.role_of(actor).await? != "owner" {
            return Err(CoreError::NotAllowed {
                what: what.into(),
                actor: actor.into(),
            });
        }
        let stored: Option<String> = sqlx::query_scalar("SELECT value FROM setting WHERE key = ?")
            .bind(PIN_SETTING)
            .fetch_optional(self.pool())
            .await?;
        if let Some((salt, hash)) = stored.as_deref().and_then(|s| s.split_once('$')) {
            match pin {
                Some(p) if pin_hash(salt, p) == hash => {}
                Some(_) => return Err(CoreError::PinRequired("the owner PIN is not right".into())),
                None => return Err(CoreError::PinRequired(format!("to {what}, give the owner PIN"))),
            }
        }
        Ok(())
    }

    /// Whether an owner PIN is set (the window asks for it before owner-only things).
    pub async fn owner_pin_set(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM setting WHERE key = ?")
            .bind(PIN_SETTING)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }
}
