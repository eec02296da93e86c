//! Which workspace the window shows: the one named by `COEXIST_DATA_DIR`, the connected one in
//! the app-data folder, or — with no Meta account yet — a clearly labelled demo workspace.

use coexist_core::webhook::{apply_pending, Rules, SignatureVerdict};
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
        self.store
            .media_dir()
            .unwrap_or_else(|| coexist_core::media::media_dir(&self.data_dir))
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
        let store = Store::open_dir(&data_dir).await?;
        let canonical = data_dir.canonicalize().unwrap_or_else(|_| data_dir.clone());
        let keyring = coexist_core::secrets::KeyringStore::new(&canonical.display().to_string());
        coexist_core::secrets::seal_audit(&store, &keyring, SystemClock.now());
        // Bodies journaled while no applier ran (e.g. a crash) are applied now.
        apply_pending(&store, &Rules::default(), &SystemClock).await?;
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
        if self.store.stats().await?.journal.received > 0 {
            return Ok(());
        }
        let clock = SystemClock;
        for body in coexist_core::demo::shop_week(clock.now()) {
            self.store
                .journal_append(&body, SignatureVerdict::Imported, clock.now())
                .await?;
        }
        apply_pending(&self.store, &Rules::default(), &clock).await?;
        // A few regulars who signed up for offers at the counter, so a campaign has an audience.
        for (wa, tags) in [
            ("919800012345", ["regulars", "chocolate"]),
            ("447700900123", ["regulars", "gluten-free"]),
            ("4915112345678", ["regulars", "cakes"]),
        ] {
            if let Some(c) = self.store.contacts(Some(wa), 1, 0).await?.into_iter().next() {
                let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
                self.store.set_tags(c.id, &tags, "demo", clock.now()).await?;
                self.store
                    .set_consent(c.id, true, "signed up for offers at the counter", "demo", clock.now())
                    .await?;
            }
        }
        Ok(())
    }
}
