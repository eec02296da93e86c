//! Issue 16: media downloaded on arrival from the simulator over loopback: once, checked against
//! Meta's sha256, stored by content (the same picture twice is one file), expiry handled without
//! losing the message, and a download cut off in the middle taken up again with no half file
//! counted as done.

use coexist_core::cloud::CloudClient;
use coexist_core::media::{media_dir, CopyFor, MediaHandle, MediaSettings};
use coexist_core::secrets::Sensitive;
use coexist_core::{Clock, FixedClock, Store, SystemClock};
use coexist_sim::{Sim, SimConfig};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "media-test-secret";

struct World {
    store: Store,
    sim: Arc<Sim>,
    sim_url: String,
    dir: tempfile::TempDir,
    _applier: coexist_core::webhook::ApplierHandle,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let coexist_testkit::Receiver { url, applier } =
        coexist_testkit::start_receiver(&store, SECRET, Arc::new(SystemClock), Default::default()).await;
    let now = SystemClock.now();
    let sim = Sim::new(SimConfig {
        webhook_url: Some(url),
        app_secret: SECRET.into(),
        start_time: now,
        ..SimConfig::default()
    });
    let sim_url = format!("http://{}", sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap());
    World {
        store,
        sim,
        sim_url,
        dir,
        _applier: applier,
    }
}

impl World {
    fn media(&self) -> PathBuf {
        media_dir(self.dir.path())
    }
    fn downloader(&self, clock: Arc<dyn Clock>) -> MediaHandle {
        self.downloader_announcing(clock, Default::default())
    }
    fn downloader_announcing(&self, clock: Arc<dyn Clock>, events: coexist_core::events::EventBus) -> MediaHandle {
        let client = CloudClient::new(
            &self.sim_url,
            "v21.0",
            Sensitive::new("sim-access-token".into()),
            Duration::from_secs(5),
        );
        MediaHandle::spawn(
            self.store.clone(),
            client,
            self.media(),
            clock,
            MediaSettings::default(),
            events,
        )
    }
    async fn post(&self, path: &str, body: Value) {
        let r = reqwest::Client::new()
            .post(format!("{}{path}", self.sim_url))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
    }
    /// A customer sends a photo; returns the message's id in the mirror once it is there.
    async fn photo(&self, from: &str, size: u32, seed: u64) -> i64 {
        let before: i64 = self.count("SELECT COUNT(*) FROM message WHERE type = 'image'").await;
        self.post(
            "/_sim/customer_message",
            json!({"from": from, "text": "the receipt", "photo": size, "seed": seed}),
        )
        .await;
        let start = Instant::now();
        loop {
            if self.count("SELECT COUNT(*) FROM message WHERE type = 'image'").await > before {
                return sqlx::query_scalar("SELECT MAX(id) FROM message WHERE type = 'image'")
                    .fetch_one(self.store.pool())
                    .await
                    .unwrap();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the photo never reached the mirror"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    async fn count(&self, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(self.store.pool()).await.unwrap()
    }
    async fn settled(&self, id: i64) -> coexist_core::media::MediaState {
        let start = Instant::now();
        loop {
            if let Some(s) = self.store.media_state(id).await.unwrap() {
                if s.state != "queued" && s.state != "downloading" {
                    return s;
                }
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "the download of {id} never settled"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    async fn sim_downloads(&self) -> u64 {
        let s: Value = reqwest::get(format!("{}/_sim/stats", self.sim_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        s["counters"]["media_downloads"]
            .as_object()
            .unwrap()
            .values()
            .map(|v| v.as_u64().unwrap())
            .sum()
    }
}

fn parts(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir.join(".tmp")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_photo_is_downloaded_once_checked_and_stored_by_content() {
    let w = world().await;
    let events = coexist_core::events::EventBus::default();
    let mut heard = events.subscribe();
    let _d = w.downloader_announcing(Arc::new(SystemClock), events);
    let first = w.photo("5511987650100", 96, 7).await;
    let s = w.settled(first).await;
    assert_eq!(s.state, "done", "{s:?}");
    // The window redraws the picture when told, instead of asking every second.
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(5), heard.recv())
            .await
            .expect("announced")
            .unwrap(),
        coexist_core::events::CoreEvent::MediaChanged {
            message_id: first,
            state: "done".into()
        }
    );
    let path = w.media().join(s.path.as_deref().unwrap());
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(&bytes[1..4], b"PNG", "a real picture");
    let sha = hex::encode(Sha256::digest(&bytes));
    assert!(
        path.ends_with(&sha),
        "stored under its content's hash: {}",
        path.display()
    );
    let meta: String = sqlx::query_scalar("SELECT media_sha256 FROM message WHERE id = ?")
        .bind(first)
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    assert_eq!(meta, sha, "the bytes are the ones Meta's checksum names");
    assert_eq!(s.bytes, Some(bytes.len() as i64));

    // The same picture from another customer: downloaded (another media id) but stored once.
    let second = w.photo("5511987650101", 96, 7).await;
    assert_eq!(w.settled(second).await.state, "done");
    assert_eq!(w.count("SELECT COUNT(*) FROM media_file").await, 1);
    let files = std::fs::read_dir(path.parent().unwrap()).unwrap().count();
    assert_eq!(files, 1);
    assert_eq!(w.sim_downloads().await, 2, "each media id fetched once");
    assert_eq!(parts(&w.media()), 0, "no temporary file left");

    // A restart fetches nothing again.
    drop(_d);
    let _again = w.downloader(Arc::new(SystemClock));
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(w.sim_downloads().await, 2);

    // Exports name the stored file by its path in the workspace.
    let exported = w.store.export_messages().await.unwrap();
    let photo = exported.iter().find(|m| m.kind == "image").unwrap();
    assert_eq!(
        photo.media_file.as_deref(),
        Some(format!("media/{}", s.path.as_deref().unwrap()).as_str())
    );

    // A backup can keep the media too, beside the database; a restore brings them back.
    let owner = coexist_core::ops::Ctx::new(&w.store, "owner", None, SystemClock.now());
    let dest = w.dir.path().join("backup.sqlite3");
    let info = coexist_core::ops::backup_with(&owner, &dest, true).await.unwrap();
    assert_eq!((info.media_files, info.media_bytes), (1, bytes.len() as u64));
    let elsewhere = tempfile::tempdir().unwrap();
    let restored = coexist_core::safety::restore(&dest, elsewhere.path()).await.unwrap();
    assert_eq!(restored.media_files, 1);
    let back = media_dir(elsewhere.path()).join(s.path.as_deref().unwrap());
    assert_eq!(
        std::fs::read(back).unwrap(),
        bytes,
        "the picture came back with the backup"
    );

    // Retention takes the file with the last message that used it.
    let now = SystemClock.now();
    let o = w
        .store
        .apply_retention(now + 60, None::<Vec<u8>>, "owner", now)
        .await
        .unwrap();
    assert_eq!((o.messages, o.media_files, o.media_bytes), (2, 1, bytes.len() as u64));
    assert!(!path.exists(), "the file is gone with its messages");
    assert_eq!(w.count("SELECT COUNT(*) FROM media_download").await, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_media_is_marked_with_its_reason_and_the_message_stays() {
    let w = world().await;
    // Arrived while nothing was downloading, and Coexist only runs again 8 days later.
    let late = w.photo("5511987650102", 32, 1).await;
    let clock = Arc::new(FixedClock::new(SystemClock.now() + 8 * 86_400));
    let d = w.downloader(clock);
    let s = w.settled(late).await;
    assert_eq!(s.state, "expired");
    assert!(s.error.as_deref().unwrap().contains("7 days"), "{s:?}");
    assert_eq!(w.sim_downloads().await, 0, "not asked for: its days were over");
    drop(d);

    // Meta's side: the simulator's clock moved on and the id is gone.
    let gone = w.photo("5511987650103", 32, 2).await;
    w.sim.advance(8 * 86_400);
    let _d = w.downloader(Arc::new(SystemClock));
    let s = w.settled(gone).await;
    assert_eq!(s.state, "expired");
    assert!(s.error.as_deref().unwrap().contains("Meta no longer has"), "{s:?}");
    let (kind, text): (String, String) = sqlx::query_as("SELECT type, text FROM message WHERE id = ?")
        .bind(gone)
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    assert_eq!(
        (kind.as_str(), text.as_str()),
        ("image", "the receipt"),
        "the message itself is kept"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_download_cut_off_midway_is_taken_up_again_and_never_counted_half() {
    let w = world().await;
    w.post("/_sim/faults", json!({"slow_media_ms": 40})).await;
    let id = w.photo("5511987650104", 1024, 3).await;
    let d = w.downloader(Arc::new(SystemClock));
    // Stop it while the file is arriving (as a SIGKILL would).
    let start = Instant::now();
    while parts(&w.media()) == 0 {
        assert!(start.elapsed() < Duration::from_secs(10), "the download never started");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    drop(d);
    let s = w.store.media_state(id).await.unwrap().unwrap();
    assert_eq!(s.state, "downloading", "cut off in the middle: {s:?}");
    assert_eq!(
        w.count("SELECT COUNT(*) FROM media_file").await,
        0,
        "no half file counted"
    );

    w.post("/_sim/faults", json!({"slow_media_ms": 0})).await;
    let _d = w.downloader(Arc::new(SystemClock));
    let s = w.settled(id).await;
    assert_eq!(s.state, "done", "{s:?}");
    let bytes = std::fs::read(w.media().join(s.path.unwrap())).unwrap();
    let sha: String = sqlx::query_scalar("SELECT media_sha256 FROM message WHERE id = ?")
        .bind(id)
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    assert_eq!(hex::encode(Sha256::digest(&bytes)), sha);
    assert_eq!(parts(&w.media()), 0, "the partial file is gone");
}

/// Sending a file: checked before the network (type, size, the 24-hour window), kept in the
/// workspace, uploaded once, sent once through the outbox, and shown in the thread from the
/// stored copy.
#[tokio::test(flavor = "multi_thread")]
async fn a_pdf_is_sent_once_and_bad_files_are_refused_before_the_network() {
    use coexist_core::ops::{self, Attachment};
    use coexist_core::send::{DispatcherHandle, SendSettings};
    const PHONE: &str = "106540352242922";
    let w = world().await;
    w.post(
        "/_sim/customer_message",
        json!({"from": "5511987650105", "text": "Can you send the menu?"}),
    )
    .await;
    let start = Instant::now();
    while w.count("SELECT COUNT(*) FROM message WHERE origin = 'customer'").await == 0 {
        assert!(start.elapsed() < Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let client = CloudClient::new(
        &w.sim_url,
        "v21.0",
        Sensitive::new("sim-access-token".into()),
        Duration::from_secs(5),
    );
    let _d = DispatcherHandle::spawn(
        w.store.clone(),
        client.clone(),
        SendSettings::new(PHONE, 20),
        Arc::new(SystemClock),
    );
    let uploads = || async {
        let s: Value = reqwest::get(format!("{}/_sim/stats", w.sim_url))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        s["counters"]["media_uploads"].as_u64().unwrap()
    };
    let ctx = ops::Ctx::new(&w.store, "owner", None, SystemClock.now());
    let pdf = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n".to_vec();
    let attach = |name: &str, mime: &str, bytes: Vec<u8>| Attachment {
        name: name.into(),
        mime: mime.into(),
        bytes,
        caption: Some("Our menu".into()),
    };

    // Refused before anything reaches Meta.
    let big = ops::send_media(
        &ctx,
        &client,
        PHONE,
        &w.media(),
        "5511987650105",
        attach("photo.png", "image/png", vec![7u8; 6 * 1024 * 1024]),
    )
    .await
    .unwrap_err();
    assert!(big.to_string().contains("WhatsApp accepts up to 5 MB"), "{big}");
    let closed = ops::send_media(
        &ctx,
        &client,
        PHONE,
        &w.media(),
        "5511987650199",
        attach("menu.pdf", "application/pdf", pdf.clone()),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            closed,
            coexist_core::CoreError::WindowClosed { .. }
                | coexist_core::CoreError::CannotSend(_)
                | coexist_core::CoreError::Invalid(_)
        ),
        "{closed}"
    );
    assert_eq!(uploads().await, 0, "nothing uploaded for refused files");
    assert_eq!(w.store.outbox_rows(None).await.unwrap().len(), 0);

    let id = ops::send_media(
        &ctx,
        &client,
        PHONE,
        &w.media(),
        "5511987650105",
        attach("menu.pdf", "application/pdf", pdf.clone()),
    )
    .await
    .unwrap();
    let start = Instant::now();
    let row = loop {
        let row = w.store.outbox_row(id).await.unwrap().unwrap();
        if row.state == "accepted" {
            break row;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "{row:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let accepted = w.sim.accepted();
    assert_eq!(accepted.len(), 1, "sent once");
    assert_eq!(accepted[0].kind, "document");
    assert_eq!(uploads().await, 1, "uploaded once");
    let (msg_id, kind, text): (i64, String, String) =
        sqlx::query_as("SELECT id, type, text FROM message WHERE wamid = ?")
            .bind(row.wamid.unwrap())
            .fetch_one(w.store.pool())
            .await
            .unwrap();
    assert_eq!((kind.as_str(), text.as_str()), ("document", "Our menu"));
    let s = w.store.media_state(msg_id).await.unwrap().unwrap();
    assert_eq!(s.state, "done", "shown from the stored copy: {s:?}");
    assert_eq!(std::fs::read(w.media().join(s.path.unwrap())).unwrap(), pdf);
    assert_eq!(w.sim_downloads().await, 0, "nothing downloaded back");
    // "Save a copy": under its own name, never over an existing file.
    let downloads = tempfile::tempdir().unwrap();
    let first = w
        .store
        .save_media_copy(msg_id, &w.media(), downloads.path(), CopyFor::Keeping)
        .await
        .unwrap();
    let again = w
        .store
        .save_media_copy(msg_id, &w.media(), downloads.path(), CopyFor::Keeping)
        .await
        .unwrap();
    assert!(
        first.ends_with("menu.pdf") && again.ends_with("menu (2).pdf"),
        "{first:?} {again:?}"
    );
    assert_eq!(std::fs::read(&again).unwrap(), pdf);

    // A picture goes the same way: uploaded once, sent once, as an image with its caption.
    let png = coexist_sim::media::photo(11, 48);
    let id = ops::send_media(
        &ctx,
        &client,
        PHONE,
        &w.media(),
        "5511987650105",
        attach("shelf.png", "image/png", png),
    )
    .await
    .unwrap();
    let start = Instant::now();
    while w.store.outbox_row(id).await.unwrap().unwrap().state != "accepted" {
        assert!(start.elapsed() < Duration::from_secs(15));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let images: Vec<_> = w.sim.accepted().into_iter().filter(|a| a.kind == "image").collect();
    assert_eq!(images.len(), 1, "the image reached the simulator once");
    assert_eq!(uploads().await, 2);
}

/// A campaign of templates that show a picture or a document at their top: the file is checked,
/// uploaded once, and named in every send; a campaign without it, or with the wrong kind of file,
/// is refused before anything is queued.
#[tokio::test(flavor = "multi_thread")]
async fn a_campaign_sends_its_header_picture_uploaded_once() {
    use coexist_core::ops::{self, Attachment};
    use coexist_core::send::{Audience, DispatcherHandle, SendSettings};
    const PHONE: &str = "106540352242922";
    let w = world().await;
    let client = CloudClient::new(
        &w.sim_url,
        "v21.0",
        Sensitive::new("sim-access-token".into()),
        Duration::from_secs(5),
    );
    let now = SystemClock.now();
    let list = client.templates("102290129340398").await.unwrap();
    w.store.sync_templates(&list, now).await.unwrap();
    let customers = ["5511987650301", "5511987650302", "5511987650303"];
    let csv = format!(
        "phone,name,consent\n{}",
        customers
            .iter()
            .map(|c| format!("{c},Guest,opt_in\n"))
            .collect::<String>()
    );
    w.store.import_contacts_csv(&csv, "owner", now).await.unwrap();
    for c in customers {
        w.post("/_sim/customers", json!({"wa_id": c, "opted_in_marketing": true}))
            .await;
    }
    let audience = Audience {
        all: true,
        ..Default::default()
    };
    let params = [("1".to_string(), "friend".to_string())];
    let ctx = ops::Ctx::new(&w.store, "owner", None, now);
    let file = |name: &str, mime: &str, bytes: Vec<u8>| Attachment {
        name: name.into(),
        mime: mime.into(),
        bytes,
        caption: None,
    };

    // No picture: refused, saying what is missing.
    let none = w
        .store
        .create_campaign(
            "Menu", "new_menu", "en_US", &audience, &params, None, None, "owner", now,
        )
        .await
        .unwrap_err();
    assert!(none.to_string().contains("shows a picture at its top"), "{none}");
    // A document where the template shows a picture: refused too.
    let pdf = coexist_sim::media::pdf_document("Invoice 7", &["Total: 12.50"]);
    let refused = ops::campaign_header(
        &ctx,
        &client,
        PHONE,
        &w.media(),
        ("new_menu", "en_US"),
        file("invoice.pdf", "application/pdf", pdf.clone()),
    )
    .await
    .unwrap_err();
    assert!(refused.to_string().contains("invoice.pdf is not one"), "{refused}");
    let doc = ops::campaign_header(
        &ctx,
        &client,
        PHONE,
        &w.media(),
        ("invoice_ready", "en"),
        file("invoice.pdf", "application/pdf", pdf),
    )
    .await
    .unwrap();
    assert_eq!(
        (doc.kind.as_str(), doc.filename.as_deref()),
        ("document", Some("invoice.pdf"))
    );
    let wrong = w
        .store
        .create_campaign(
            "Menu",
            "new_menu",
            "en_US",
            &audience,
            &params,
            Some(&doc),
            None,
            "owner",
            now,
        )
        .await
        .unwrap_err();
    assert!(wrong.to_string().contains("not a document"), "{wrong}");
    assert_eq!(w.store.outbox_rows(None).await.unwrap().len(), 0);

    // The picture: uploaded once, then every send names it.
    let png = coexist_sim::media::photo(3, 64);
    let header = ops::campaign_header(
        &ctx,
        &client,
        PHONE,
        &w.media(),
        ("new_menu", "en_US"),
        file("menu.png", "image/png", png),
    )
    .await
    .unwrap();
    assert_eq!(header.kind, "image");
    let (id, n) = w
        .store
        .create_campaign(
            "Menu",
            "new_menu",
            "en_US",
            &audience,
            &params,
            Some(&header),
            None,
            "owner",
            now,
        )
        .await
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(w.store.launch_campaign(id, "owner", now).await.unwrap(), 3);
    let _d = DispatcherHandle::spawn(
        w.store.clone(),
        client.clone(),
        SendSettings::new(PHONE, 20),
        Arc::new(SystemClock),
    );
    let start = Instant::now();
    while w.sim.accepted().len() < 3 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{:?}",
            w.store.outbox_rows(None).await.unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let accepted = w.sim.accepted();
    assert_eq!(accepted.len(), 3, "each customer once");
    assert!(
        accepted
            .iter()
            .all(|a| a.template.as_deref() == Some("new_menu")
                && a.media_id.as_deref() == Some(header.media_id.as_str())),
        "{accepted:?}"
    );
    let s: Value = reqwest::get(format!("{}/_sim/stats", w.sim_url))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(s["counters"]["media_uploads"], 2, "the PDF and the picture, each once");
    assert_eq!(
        s["counters"]["errors_by_code"].as_object().map(|m| m.len()),
        Some(0),
        "{s}"
    );
}

/// A No Storage number: Meta keeps media for 1 hour. Files queued before the owner said so get
/// the shorter deadline too, and an expired file says why in those words; the simulator's ids
/// are gone after the hour as well.
#[tokio::test(flavor = "multi_thread")]
async fn a_no_storage_number_has_one_hour_to_fetch_its_media() {
    use coexist_core::media::MediaPolicy;
    let w = world().await;
    let before = w.photo("5511987650110", 32, 1).await;
    let policy = MediaPolicy {
        cap_bytes: None,
        no_storage: true,
    };
    w.store.set_media_policy(&policy).await.unwrap();
    assert_eq!(w.store.media_policy().await.unwrap(), policy);
    let after = w.photo("5511987650111", 32, 2).await;
    // Coexist runs again 61 minutes later: both deadlines are over, nothing is asked for.
    let d = w.downloader(Arc::new(FixedClock::new(SystemClock.now() + 3_660)));
    for id in [before, after] {
        let s = w.settled(id).await;
        assert_eq!(s.state, "expired", "{s:?}");
        assert!(
            s.error
                .as_deref()
                .unwrap()
                .starts_with("This number uses No Storage: Meta keeps media for 1 hour"),
            "{s:?}"
        );
    }
    assert_eq!(w.sim_downloads().await, 0);
    drop(d);

    // Within the hour it is fetched; the simulator's No Storage ids expire after it.
    w.sim.set_no_storage(true);
    let fresh = w.photo("5511987650112", 32, 3).await;
    let late = w.photo("5511987650113", 32, 4).await;
    let d = w.downloader(Arc::new(SystemClock));
    assert_eq!(w.settled(fresh).await.state, "done");
    assert_eq!(w.settled(late).await.state, "done");
    drop(d);
    let gone = w.photo("5511987650114", 32, 5).await;
    w.sim.advance(3_601);
    let _d = w.downloader(Arc::new(SystemClock));
    let s = w.settled(gone).await;
    assert_eq!(s.state, "expired");
    assert!(s.error.as_deref().unwrap().contains("Meta no longer has"), "{s:?}");
}

/// The owner's cap on the media folder: once it is reached, downloads wait (saying why) instead
/// of filling the disk, and go on when the cap is raised.
#[tokio::test(flavor = "multi_thread")]
async fn downloads_wait_at_the_cap_and_go_on_when_it_is_raised() {
    use coexist_core::media::MediaPolicy;
    let w = world().await;
    w.store
        .set_media_policy(&MediaPolicy {
            cap_bytes: Some(1_000),
            no_storage: false,
        })
        .await
        .unwrap();
    let _d = w.downloader(Arc::new(SystemClock));
    let first = w.photo("5511987650120", 64, 1).await;
    assert_eq!(w.settled(first).await.state, "done", "room for the first file");
    let second = w.photo("5511987650121", 64, 2).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let s = w.store.media_state(second).await.unwrap().unwrap();
    assert_eq!(s.state, "queued", "it waits at the cap: {s:?}");
    let usage = w.store.media_usage().await.unwrap();
    assert!(usage.at_cap && usage.pending == 1 && usage.files == 1, "{usage:?}");
    let note = w
        .store
        .media_preview(second, &w.media())
        .await
        .unwrap()
        .unwrap()
        .note
        .unwrap();
    assert!(
        note.starts_with("Waiting for room: the media folder is at its cap of 1 MB"),
        "{note}"
    );
    assert_eq!(w.sim_downloads().await, 1, "the second was not fetched");

    // A raised cap lets it through.
    w.store
        .set_media_policy(&MediaPolicy {
            cap_bytes: Some(50_000_000),
            no_storage: false,
        })
        .await
        .unwrap();
    assert_eq!(w.settled(second).await.state, "done");
    assert!(!w.store.media_usage().await.unwrap().at_cap);
}

/// A customer's document keeps its own name apart from its caption: the window shows it and
/// "Save a copy" uses it; a voice note is stored as the Ogg Opus file it is.
#[tokio::test(flavor = "multi_thread")]
async fn a_document_keeps_its_name_and_a_voice_note_its_type() {
    let w = world().await;
    let _d = w.downloader(Arc::new(SystemClock));
    w.post(
        "/_sim/customer_message",
        json!({"from": "5511987650130", "text": "Here is our price list", "document": "price-list.pdf"}),
    )
    .await;
    w.post(
        "/_sim/customer_message",
        json!({"from": "5511987650130", "text": "", "voice": 2}),
    )
    .await;
    let start = Instant::now();
    while w
        .count("SELECT COUNT(*) FROM message WHERE type IN ('document', 'audio')")
        .await
        < 2
    {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the files never reached the mirror"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let doc: i64 = w.count("SELECT id FROM message WHERE type = 'document'").await;
    let voice: i64 = w.count("SELECT id FROM message WHERE type = 'audio'").await;
    assert_eq!(w.settled(doc).await.state, "done");
    assert_eq!(w.settled(voice).await.state, "done");
    let p = w.store.media_preview(doc, &w.media()).await.unwrap().unwrap();
    assert_eq!(p.filename.as_deref(), Some("price-list.pdf"));
    assert_eq!(p.data_url, None, "a document is opened from disk, not inlined");
    let (text,): (String,) = sqlx::query_as("SELECT text FROM message WHERE id = ?")
        .bind(doc)
        .fetch_one(w.store.pool())
        .await
        .unwrap();
    assert_eq!(text, "Here is our price list");
    let exported = w.store.export_messages().await.unwrap();
    let row = exported.iter().find(|m| m.kind == "document").unwrap();
    assert_eq!(
        row.media_filename.as_deref(),
        Some("price-list.pdf"),
        "exports name the document"
    );
    assert!(
        row.media_file.as_deref().is_some_and(|f| f.starts_with("media/")),
        "{row:?}"
    );
    let out = tempfile::tempdir().unwrap();
    let saved = w
        .store
        .save_media_copy(doc, &w.media(), out.path(), CopyFor::Keeping)
        .await
        .unwrap();
    assert!(saved.ends_with("price-list.pdf"), "{saved:?}");
    assert!(std::fs::read(&saved).unwrap().starts_with(b"%PDF-1.4"));

    let v = w.store.media_preview(voice, &w.media()).await.unwrap().unwrap();
    assert_eq!(v.mime.as_deref(), Some("audio/ogg; codecs=opus"));
    let url = v.data_url.expect("a voice note plays inline");
    assert!(
        url.starts_with("data:audio/ogg;base64,T2dnUw"),
        "an Ogg file, typed for the player: {}",
        &url[..40]
    );
}

/// Issue 24, item 6: a saved or opened copy takes its ending from the file's checked type, never
/// from the name the customer gave it, and a type the table does not list is never opened.
#[tokio::test(flavor = "multi_thread")]
async fn a_customers_file_is_saved_under_its_checked_type_and_programs_are_never_opened() {
    let w = world().await;
    let _d = w.downloader(Arc::new(SystemClock));
    for (name, mime) in [
        ("Invoice.pdf.exe", "application/pdf"),
        ("setup.exe", "application/x-msdownload"),
    ] {
        w.post(
            "/_sim/customer_message",
            json!({"from": "5511987650130", "text": "see attached", "document": name, "document_mime": mime}),
        )
        .await;
    }
    let start = Instant::now();
    while w
        .count("SELECT COUNT(*) FROM media_download WHERE state = 'done'")
        .await
        < 2
    {
        assert!(start.elapsed() < Duration::from_secs(10), "the files never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = |name: &'static str| {
        let w = &w;
        async move {
            sqlx::query_scalar::<_, i64>("SELECT id FROM message WHERE media_filename = ?")
                .bind(name)
                .fetch_one(w.store.pool())
                .await
                .unwrap()
        }
    };
    let (invoice, setup) = (id("Invoice.pdf.exe").await, id("setup.exe").await);
    let out = tempfile::tempdir().unwrap();
    let saved = w
        .store
        .save_media_copy(invoice, &w.media(), out.path(), CopyFor::Keeping)
        .await
        .unwrap();
    assert_eq!(saved.file_name().unwrap(), "Invoice.pdf.exe.pdf");
    let again = w
        .store
        .save_media_copy(invoice, &w.media(), out.path(), CopyFor::Opening)
        .await
        .unwrap();
    assert_eq!(
        again.file_name().unwrap(),
        "Invoice.pdf.exe (2).pdf",
        "never over an earlier copy"
    );
    assert!(std::fs::read(&saved).unwrap().starts_with(b"%PDF"));

    let err = w
        .store
        .save_media_copy(setup, &w.media(), out.path(), CopyFor::Opening)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("does not open this kind of file (application/x-msdownload)"),
        "{err}"
    );
    let kept = w
        .store
        .save_media_copy(setup, &w.media(), out.path(), CopyFor::Keeping)
        .await
        .unwrap();
    assert_eq!(
        kept.file_name().unwrap(),
        "setup.exe.bin",
        "saved, but not as a program"
    );
    let names: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.ends_with(".exe")), "{names:?}");
}
