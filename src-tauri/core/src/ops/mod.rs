//! The operations a person starts, each written once. The window's commands and the CLI's
//! subcommands are wrappers over these: every operation takes one [`Ctx`], checks the role/PIN
//! rule itself, writes its audit entry with one [`Action`](crate::audit::Action), and returns a
//! type the UI receives as is.

mod desk;
pub mod doctor;
pub mod mirror;
pub mod outbox;
mod owner;
mod reads;
mod sending;

pub use desk::*;
pub use doctor::doctor;
pub use owner::*;
pub use reads::*;
pub use sending::*;

use crate::error::Result;
use crate::secrets::Sensitive;
use crate::store::Store;

/// Who asks, with what, and when. The time is passed in so rules never read a clock themselves.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub actor: String,
    pin: Option<Sensitive<String>>,
    pub now: i64,
}

impl<'a> Ctx<'a> {
    pub fn new(store: &'a Store, actor: impl Into<String>, pin: Option<String>, now: i64) -> Self {
        Ctx {
            store,
            actor: actor.into(),
            pin: pin.filter(|p| !p.is_empty()).map(Sensitive::new),
            now,
        }
    }

    /// Owner-only operations start here: a front-desk profile is refused, and once a PIN is set
    /// it must be given (the window asks for it; the CLI takes `--pin`).
    pub async fn owner(&self, what: &str) -> Result<()> {
        self.store
            .require_owner(&self.actor, self.pin.as_ref().map(|p| p.expose().as_str()), what)
            .await
    }
}
