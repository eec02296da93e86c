//! States that travel to the UI and the CLI's JSON. They are stored as text (with CHECK
//! constraints in the schema) and read into these enums, so a misspelt state fails to compile
//! instead of silently matching nothing, and the UI gets the exact set as a TypeScript union.

use serde::{Deserialize, Serialize};

/// The stored (and serialised) name of each state, `Display`, and comparison with that name.
macro_rules! named {
    ($t:ty { $($v:ident => $n:literal),+ $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self {
                    $(<$t>::$v => $n,)+
                }
            }
        }
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl std::str::FromStr for $t {
            type Err = String;
            /// The stored name back, or a sentence listing the names there are.
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($n => Ok(<$t>::$v),)+
                    other => Err(format!("unknown {} {other:?}: one of {}", stringify!($t), [$($n),+].join(", "))),
                }
            }
        }
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    };
}
pub(crate) use named;

/// Who wrote a message: the customer, the owner on the phone app, Coexist through the API, or
/// the history import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Origin {
    Customer,
    Phone,
    Api,
    History,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The API link as far as Meta's webhooks told us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum LinkState {
    Connected,
    Dropped,
    Offboarded,
}

/// The once-only history import.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum HistoryState {
    None,
    InProgress,
    Complete,
    Declined,
}

/// What Meta last said about a message we sent (or the phone sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type)]
#[sqlx(rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub enum DeliveryStatus {
    Sent,
    Delivered,
    Read,
    Played,
    Failed,
    /// History: the phone app never sent it (the thread shows a clock).
    Pending,
    /// History: it failed on the phone.
    Error,
}

named!(Origin { Customer => "customer", Phone => "phone", Api => "api", History => "history" });
named!(Direction { Inbound => "inbound", Outbound => "outbound" });
named!(LinkState { Connected => "connected", Dropped => "dropped", Offboarded => "offboarded" });
named!(HistoryState { None => "none", InProgress => "in_progress", Complete => "complete", Declined => "declined" });
named!(DeliveryStatus { Sent => "sent", Delivered => "delivered", Read => "read", Played => "played", Failed => "failed", Pending => "pending", Error => "error" });
