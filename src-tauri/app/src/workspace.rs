//! Which workspace the window shows: the one named by `COEXIST_DATA_DIR`, the connected one in
//! the app-data folder, or — with no Meta account yet — a clearly labelled demo workspace.

use coexist_core::{Clock, CoreError, Store, SystemClock};
use std::path::{Path, PathBuf};

pub struct Workspace {
    pub store: Store,
    pub data_dir: PathBuf,
    pub label: String,
    pub demo: bool,
    /// Where connecting a number writes: this workspace, or (from the demo) the business one.
    pub connect_dir: PathBuf,
}

impl Workspace {
    /// The operation context of one command: the desk acts as the owner until profiles are
    /// chosen in the app; `pin` is what the owner typed when the window asked for it.
    /// The workspace's media folder (a window's workspace is always on disk).
    pub fn media_dir(&self) -> PathBuf {
        coexist_core::media::media_dir(&self.data_dir)
    }

    pub fn ctx(&self, pin: Option<String>) -> coexist_core::ops::Ctx<'_> {
        coexist_core::ops::Ctx::new(&self.store, crate::commands::APP_ACTOR, pin, SystemClock.now())
    }

    pub async fn choose_and_open(app_data: &Path) -> Result<Self, CoreError> {
        if let Some(dir) = std::env::var_os("COEXIST_DATA_DIR").map(PathBuf::from) {
            let label = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "Workspace".into());
            return Self::open(dir.clone(), label, false, dir).await;
        }
        let connected = app_data.join("workspace");
        if connected.join(coexist_core::store::DB_FILE).exists() {
            return Self::open(connected.clone(), "My business".into(), false, connected).await;
        }
        let ws = Self::open(app_data.join("demo"), "Demo shop".into(), true, connected).await?;
        ws.seed_demo().await?;
        Ok(ws)
    }

    async fn open(data_dir: PathBuf, label: String, demo: bool, connect_dir: PathBuf) -> Result<Self, CoreError> {
        // Bodies journaled while no applier ran (e.g. a crash) are applied by the engine's
        // applier when it starts: a window that is serve's client must not apply them itself.
        let store = coexist_core::config::open_workspace(&data_dir, SystemClock.now()).await?;
        Ok(Self {
            store,
            data_dir,
            label,
            demo,
            connect_dir,
        })
    }

    /// The demo's sample week goes through the real journal and applier, once.
    async fn seed_demo(&self) -> Result<(), CoreError> {
        coexist_core::demo::seed(&self.store, &SystemClock).await
    }
}
