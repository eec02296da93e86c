//! The lenient readers the webhook shapes use: lists that keep their good elements when one is
//! unreadable, and timestamps sent as strings of digits or as numbers.

use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

/// A list read element by element: one unreadable element (a message without an id or a
/// timestamp) is set aside with its error and the rest are kept, so one bad message cannot lose a
/// history chunk of thousands.
#[derive(Debug)]
pub struct Each<T> {
    pub items: Vec<T>,
    /// `#index: why` for each element that could not be read.
    pub rejected: Vec<String>,
}

impl<T> Default for Each<T> {
    fn default() -> Self {
        Each {
            items: Vec::new(),
            rejected: Vec::new(),
        }
    }
}

impl<T> std::ops::Deref for Each<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.items
    }
}

impl<'a, T> IntoIterator for &'a Each<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Each<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw: Vec<Box<RawValue>> = Deserialize::deserialize(d)?;
        let mut out = Each {
            items: Vec::with_capacity(raw.len()),
            rejected: Vec::new(),
        };
        for (i, r) in raw.iter().enumerate() {
            match serde_json::from_str::<T>(r.get()) {
                Ok(t) => out.items.push(t),
                Err(e) => {
                    // Name the element by its id when it has one.
                    let id = serde_json::from_str::<serde_json::Value>(r.get())
                        .ok()
                        .and_then(|v| v.get("id").and_then(|x| x.as_str()).map(String::from));
                    out.rejected.push(match id {
                        Some(id) => format!("#{} ({id}): {e}", i + 1),
                        None => format!("#{}: {e}", i + 1),
                    });
                }
            }
        }
        Ok(out)
    }
}

pub(super) fn ts<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    opt_ts(d)?.ok_or_else(|| serde::de::Error::custom("timestamp is missing or not a number"))
}

/// Meta sends timestamps as strings of digits; some fields use numbers.
pub(super) fn opt_ts<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Ts {
        Num(i64),
        Str(String),
    }
    match Option::<Ts>::deserialize(d)? {
        None => Ok(None),
        Some(Ts::Num(n)) => Ok(Some(n)),
        Some(Ts::Str(s)) if s.trim().is_empty() => Ok(None),
        Some(Ts::Str(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("timestamp {s:?} is not a number"))),
    }
}
