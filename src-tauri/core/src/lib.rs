//! Coexist core: the local mirror of a WhatsApp Business number in coexistence mode, its
//! journaled webhook intake and the rules around it. Knows nothing of Tauri: the desktop shell,
//! the CLI and the tests all drive it the same way.

pub mod audit;
pub mod automation;
pub mod billing;
pub mod clock;
pub mod cloud;
pub mod config;
pub mod demo;
pub mod directory;
pub mod engine;
pub mod error;
pub mod events;
pub mod media;
pub mod onboarding;
pub mod ops;
pub mod phone;
pub mod plain;
pub mod policy;
pub mod profiles;
pub mod reminders;
pub mod reports;
pub mod restore;
pub mod safety;
pub mod search;
pub mod secrets;
pub mod send;
pub mod states;
pub mod store;
pub mod webhook;

pub use clock::{Clock, FixedClock, SystemClock};
pub use error::{CoreError, Result};
pub use store::Store;
