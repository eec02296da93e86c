//! Media kept in the workspace. Meta lets a media id be downloaded for 7 days only, so every
//! media message is queued (a database trigger, whatever path wrote it) and a background
//! downloader fetches it: Meta's short-lived url, the bytes streamed to a temporary file while
//! hashing, checked against Meta's sha256, then renamed to `media/<ab>/<sha256>` (one file per
//! content). A crash leaves at most a `.part` file that is never counted as done.

use crate::error::Result;
use crate::store::Store;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

mod address;
mod copies;
mod download;
mod outgoing;
mod policy;
mod preview;
pub use address::{content_address, content_path, is_content_address};
pub use copies::*;
pub use download::*;
pub use outgoing::*;
pub use policy::{MediaPolicy, MEDIA_TTL_SECS, NO_STORAGE_TTL_SECS};
pub use preview::*;

/// Where a workspace keeps its media, beside its database.
pub fn media_dir(workspace: &Path) -> PathBuf {
    workspace.join("media")
}

impl Store {
    /// This workspace's media folder; `None` for an in-memory store, which keeps no files.
    pub fn media_dir(&self) -> Option<PathBuf> {
        self.path().and_then(|p| p.parent()).map(media_dir)
    }
}
