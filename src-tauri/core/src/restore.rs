//! Restoring a backup over a workspace, as one atomic step that loses nothing.
//!
//! The backup is untrusted input and is only ever read: it is copied to a temporary file beside
//! the workspace, checked there (a Coexist database, not from a newer Coexist, intact, media rows
//! that are content addresses), migrated, and its queued sends, waiting follow-ups and running
//! campaigns are held *inside that copy*. Media come into the media folder (hash-checked) before
//! the swap. The swap itself is one `rename` over the live file, taken under an exclusive write
//! lock on the live database after its WAL was checkpointed empty, so the file set aside is
//! complete and nothing is written into the file being replaced. The engine lease is held from
//! the first check to the last write. Any failure before the rename leaves the workspace as it
//! was; the file set aside is named by time and never overwrites an earlier one.

use crate::engine::EngineLease;
use crate::error::{CoreError, Result};
use crate::safety::{media_beside, BackupInfo};
use crate::store::{Store, DB_FILE};
use sha2::{Digest, Sha256};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long the restore's lease outlives a crash of the restoring process.
const LEASE_TTL_MS: i64 = 30_000;

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CoreError + '_ {
    move |source| CoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn refused(why: String) -> CoreError {
    CoreError::Invalid(format!("{why}; the workspace was not changed"))
}

/// A restore in progress: the workspace's engine lease is held until it finishes or is abandoned.
pub struct Restore {
    data_dir: PathBuf,
    live: Store,
    lease: EngineLease,
    /// False when the workspace had no database before (nothing to set aside).
    existed: bool,
}

impl Restore {
    /// Takes the workspace's engine lease; refused while the app or `coexist serve` runs it, or a
    /// send is under way.
    pub async fn begin(data_dir: &Path) -> Result<Restore> {
        let existed = data_dir.join(DB_FILE).exists();
        let live = Store::open_dir(data_dir).await?;
        let lease = match EngineLease::try_acquire(&live, "restore", LEASE_TTL_MS).await? {
            Ok(lease) => lease,
            Err(holder) => {
                live.close().await;
                return Err(CoreError::Invalid(format!(
                    "{}: close it before restoring a backup over this workspace",
                    holder.describe()
                )));
            }
        };
        if live.dispatcher_running(crate::send::now_ms()).await? {
            lease.release().await;
            live.close().await;
            return Err(CoreError::Invalid(
                "messages are being sent from this workspace right now: wait for that to finish before restoring"
                    .into(),
            ));
        }
        Ok(Restore {
            data_dir: data_dir.to_path_buf(),
            live,
            lease,
            existed,
        })
    }

    /// The workspace as it is before the restore (for the owner check).
    pub fn live(&self) -> &Store {
        &self.live
    }

    /// Gives up without changing anything.
    pub async fn abandon(self) {
        self.lease.release().await;
        self.live.close().await;
    }

    /// Puts `backup` in the workspace's place; `audit` names who did it, recorded in the
    /// restored database.
    pub async fn finish(self, backup: &Path, actor: &str, now: i64) -> Result<BackupInfo> {
        let temp = self.data_dir.join(format!(
            "{DB_FILE}.restoring-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        let info = match self.prepare(backup, &temp, actor, now).await {
            Ok(info) => info,
            Err(e) => {
                remove_with_sides(&temp);
                self.abandon().await;
                return Err(e);
            }
        };
        let set_aside = match self.swap(&temp, now).await {
            Ok(set_aside) => set_aside,
            Err(e) => {
                remove_with_sides(&temp);
                self.abandon().await;
                return Err(e);
            }
        };
        let Restore { live, lease, .. } = self;
        live.close().await;
        let target = Path::new(&info.path);
        // The old file's (empty) log and index must not be read as the new file's, and the
        // copy's (empty) ones are left over.
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(side(target, ext));
            let _ = std::fs::remove_file(side(&temp, ext));
        }
        let restored = Store::open_file(target).await?;
        lease.release_in(&restored).await;
        restored.close().await;
        Ok(BackupInfo {
            set_aside: set_aside.map(|p| p.display().to_string()),
            ..info
        })
    }

    /// Everything up to the swap, on the temporary copy only.
    async fn prepare(&self, backup: &Path, temp: &Path, actor: &str, now: i64) -> Result<BackupInfo> {
        check_header(backup)?;
        copy_new(backup, temp)?;
        let backup_wal = side(backup, "-wal");
        if backup_wal.exists() {
            // A database set aside with its log: the log's transactions are part of it.
            copy_new(&backup_wal, &side(temp, "-wal"))?;
        }
        inspect(temp, backup).await?;
        let copy = Store::open_file(temp).await?;
        let result = async {
            refuse_foreign_media_paths(&copy, backup).await?;
            let holds = copy.hold_after_restore().await?;
            let (messages, journal): (i64, i64) =
                sqlx::query_as("SELECT (SELECT COUNT(*) FROM message), (SELECT COUNT(*) FROM journal)")
                    .fetch_one(copy.pool())
                    .await?;
            self.lease.carry_into(&copy, LEASE_TTL_MS).await?;
            copy.audit(
                now,
                actor,
                crate::audit::Action::Restore,
                Some(&backup.display().to_string()),
                serde_json::json!({"messages": messages, "held": holds.held,
                    "held_follow_ups": holds.held_follow_ups, "paused_campaigns": holds.paused_campaigns}),
            )
            .await?;
            // Everything into the main file, so the one file renamed into place holds it all.
            checkpoint_empty(&copy, temp).await?;
            Ok::<_, CoreError>((holds, messages, journal))
        }
        .await;
        copy.close().await;
        let (holds, messages, journal) = result?;
        std::fs::File::open(temp).and_then(|f| f.sync_all()).map_err(io(temp))?;
        let (media_files, media_bytes) = copy_media(&media_beside(backup), &crate::media::media_dir(&self.data_dir))?;
        let bytes = std::fs::metadata(temp).map_err(io(temp))?.len();
        Ok(BackupInfo {
            path: self.data_dir.join(DB_FILE).display().to_string(),
            bytes,
            messages,
            journal,
            held: holds.held,
            held_follow_ups: holds.held_follow_ups,
            paused_campaigns: holds.paused_campaigns,
            media_files,
            media_bytes,
            set_aside: None,
        })
    }

    /// Sets the live file aside and renames the prepared copy into its place, holding the live
    /// database's write lock so nothing lands in the file being replaced.
    async fn swap(&self, temp: &Path, now: i64) -> Result<Option<PathBuf>> {
        let target = self.data_dir.join(DB_FILE);
        if !self.lease.still_held().await? {
            return Err(refused(
                "another process took over this workspace during the restore".into(),
            ));
        }
        self.lease.stop_renewing();
        let mut conn = self.live.pool().acquire().await?;
        let mut locked = false;
        for _ in 0..50 {
            let (busy,): (i64,) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
                .fetch_one(&mut *conn)
                .await?;
            if busy == 0 {
                sqlx::query("BEGIN EXCLUSIVE").execute(&mut *conn).await?;
                let wal = std::fs::metadata(side(&target, "-wal")).map(|m| m.len()).unwrap_or(0);
                if wal == 0 {
                    locked = true;
                    break;
                }
                sqlx::query("ROLLBACK").execute(&mut *conn).await?;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !locked {
            return Err(refused(
                "another Coexist process keeps writing to this workspace: close it and try again".into(),
            ));
        }
        let result = (|| {
            let aside = if self.existed {
                Some(set_aside(&target, now)?)
            } else {
                None
            };
            if let Err(e) = std::fs::rename(temp, &target) {
                if let Some(a) = &aside {
                    let _ = std::fs::remove_file(a);
                }
                return Err(io(&target)(e));
            }
            sync_dir(&self.data_dir);
            Ok(aside)
        })();
        let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
        drop(conn);
        result
    }
}

/// `path` with `ext` appended to its file name (`-wal`, `-shm`).
fn side(path: &Path, ext: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(ext);
    PathBuf::from(s)
}

fn remove_with_sides(path: &Path) {
    for ext in ["", "-wal", "-shm", "-journal", "-intake", "-intake-wal", "-intake-shm"] {
        let _ = std::fs::remove_file(side(path, ext));
    }
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// A missing file, a folder, or anything that is not an SQLite database is refused before
/// anything is opened.
fn check_header(backup: &Path) -> Result<()> {
    let meta = std::fs::metadata(backup)
        .map_err(|e| refused(format!("the backup {} could not be read ({e})", backup.display())))?;
    if !meta.is_file() {
        return Err(refused(format!("{} is not a backup file", backup.display())));
    }
    let mut head = [0u8; 16];
    let ok = std::fs::File::open(backup)
        .and_then(|mut f| f.read_exact(&mut head))
        .is_ok();
    if !ok || &head != b"SQLite format 3\0" {
        return Err(refused(format!("{} is not a Coexist backup", backup.display())));
    }
    Ok(())
}

/// Copies `from` to a file that must not exist yet, fsynced.
fn copy_new(from: &Path, to: &Path) -> Result<()> {
    let mut src = std::fs::File::open(from).map_err(io(from))?;
    let mut dst = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(to)
        .map_err(io(to))?;
    std::io::copy(&mut src, &mut dst).map_err(io(to))?;
    dst.sync_all().map_err(io(to))?;
    Ok(())
}

/// Checks the copied backup before anything migrates it: Coexist's tables, a schema this build
/// knows, and SQLite's integrity check.
async fn inspect(copy: &Path, backup: &Path) -> Result<()> {
    let name = backup.display();
    let options = SqliteConnectOptions::new()
        .filename(copy)
        .create_if_missing(false)
        .journal_mode(SqliteJournalMode::Delete);
    let mut conn = options
        .connect()
        .await
        .map_err(|e| refused(format!("{name} is not a Coexist backup ({e})")))?;
    let result = async {
        let tables: Vec<String> = sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .map_err(|e| refused(format!("{name} is not a Coexist backup ({e})")))?;
        if !["_sqlx_migrations", "message", "journal"]
            .iter()
            .all(|t| tables.iter().any(|have| have == t))
        {
            return Err(refused(format!(
                "{name} is an SQLite database but not a Coexist backup (it has no Coexist tables)"
            )));
        }
        let newest: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
            .fetch_one(&mut conn)
            .await?;
        if let Some(v) = newest.filter(|v| *v > crate::store::latest_migration()) {
            return Err(refused(format!(
                "{name} was made by a newer version of Coexist (migration {v}): update Coexist to restore it"
            )));
        }
        let check: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await?;
        if check != "ok" {
            return Err(refused(format!("{name} is damaged ({check})")));
        }
        Ok(())
    }
    .await;
    let _ = conn.close().await;
    result
}

/// A backup's `media_file.path` is used to read and delete files: only content addresses pass.
async fn refuse_foreign_media_paths(copy: &Store, backup: &Path) -> Result<()> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT sha256, path FROM media_file")
        .fetch_all(copy.pool())
        .await?;
    if let Some((_, path)) = rows
        .iter()
        .find(|(sha, path)| !crate::media::is_content_address(path) || !path.ends_with(sha.as_str()))
    {
        return Err(refused(format!(
            "{} names a media file outside the workspace's media folder ({path:?})",
            backup.display()
        )));
    }
    Ok(())
}

/// Checkpoints a database's WAL into its main file until the log is empty. (Switching the copy
/// out of WAL mode instead needs every connection closed, and a pool's last one may close late.)
async fn checkpoint_empty(store: &Store, path: &Path) -> Result<()> {
    for _ in 0..50 {
        let (busy,): (i64,) = sqlx::query_as("PRAGMA wal_checkpoint(TRUNCATE)")
            .fetch_one(store.pool())
            .await?;
        let wal = std::fs::metadata(side(path, "-wal")).map(|m| m.len()).unwrap_or(0);
        if busy == 0 && wal == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(refused(
        "the restored copy could not be finished (its log stayed busy)".into(),
    ))
}

/// The live file's new name, by the restore's time, never one already taken. A hard link keeps
/// the live file in place until the rename; a copy where links are not possible.
fn set_aside(target: &Path, now: i64) -> Result<PathBuf> {
    let stamp = chrono::DateTime::from_timestamp(now, 0)
        .unwrap_or_default()
        .format("%Y%m%d-%H%M%S")
        .to_string();
    for n in 1..1000 {
        let name = match n {
            1 => format!("{DB_FILE}.before-restore-{stamp}"),
            n => format!("{DB_FILE}.before-restore-{stamp}-{n}"),
        };
        let aside = target.with_file_name(name);
        match std::fs::hard_link(target, &aside) {
            Ok(()) => return Ok(aside),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(_) => match copy_new(target, &aside) {
                Ok(()) => return Ok(aside),
                Err(CoreError::Io { source, .. }) if source.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            },
        }
    }
    Err(refused("too many set-aside databases in the workspace folder".into()))
}

/// Copies a backup's media folder (`ab/<sha256>` files, two levels, nothing else) into the
/// workspace's, each file checked against its name. A symbolic link, or a file whose content
/// is not its name, is an error: a backup's media are plain files.
fn copy_media(from: &Path, to: &Path) -> Result<(u64, u64)> {
    let (mut n, mut bytes) = (0u64, 0u64);
    let Ok(dirs) = std::fs::read_dir(from) else {
        return Ok((0, 0));
    };
    let not_plain = |p: &Path| {
        refused(format!(
            "{} in the backup's media is not a plain file or folder",
            p.display()
        ))
    };
    for d in dirs {
        let d = d.map_err(io(from))?;
        let (dpath, dtype) = (d.path(), d.file_type().map_err(io(from))?);
        if dtype.is_symlink() {
            return Err(not_plain(&dpath));
        }
        if !dtype.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(&dpath).map_err(io(&dpath))? {
            let f = f.map_err(io(&dpath))?;
            let (fpath, ftype) = (f.path(), f.file_type().map_err(io(&dpath))?);
            if ftype.is_symlink() || ftype.is_dir() {
                return Err(not_plain(&fpath));
            }
            let rel = format!(
                "{}/{}",
                d.file_name().to_string_lossy(),
                f.file_name().to_string_lossy()
            );
            let Some(dest) = crate::media::content_path(to, &rel) else {
                tracing::warn!(file = %fpath.display(), "not a media file of Coexist's; left out of the restore");
                continue;
            };
            let sha = &rel[3..];
            if dest.exists() && file_sha256(&dest).is_ok_and(|h| h == sha) {
                continue;
            }
            bytes += copy_checked(&fpath, &dest, sha)?;
            n += 1;
        }
    }
    Ok((n, bytes))
}

fn file_sha256(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(hex::encode(h.finalize()))
}

/// Copies through a temporary name, hashing on the way; only a file whose content matches its
/// name is renamed into place.
fn copy_checked(from: &Path, dest: &Path, sha: &str) -> Result<u64> {
    let parent = dest.parent().expect("a content address has a folder");
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let tmp = parent.parent().expect("the media folder").join(".tmp");
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let part = tmp.join(format!(
        ".restore-{}-{:08x}.part",
        std::process::id(),
        rand::random::<u32>()
    ));
    let result = (|| {
        let mut src = std::fs::File::open(from).map_err(io(from))?;
        let mut dst = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&part)
            .map_err(io(&part))?;
        let (mut h, mut buf, mut total) = (Sha256::new(), vec![0u8; 64 * 1024], 0u64);
        loop {
            let k = src.read(&mut buf).map_err(io(from))?;
            if k == 0 {
                break;
            }
            h.update(&buf[..k]);
            dst.write_all(&buf[..k]).map_err(io(&part))?;
            total += k as u64;
        }
        dst.sync_all().map_err(io(&part))?;
        if hex::encode(h.finalize()) != sha {
            return Err(refused(format!("{} in the backup's media is damaged", from.display())));
        }
        std::fs::rename(&part, dest).map_err(io(dest))?;
        Ok(total)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&part);
    }
    result
}
