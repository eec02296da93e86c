//! The mirror as a real file: pragmas, reopening, and refusing a database from a newer Coexist.

use coexist_core::{CoreError, Store};

#[tokio::test]
async fn file_store_uses_wal_and_foreign_keys_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
        .fetch_one(store.pool())
        .await
        .unwrap();
    let sync: i64 = sqlx::query_scalar("PRAGMA synchronous")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!((mode.as_str(), fk, sync), ("wal", 1, 1));
    store.close().await;
    let again = Store::open_dir(dir.path()).await.unwrap();
    assert_eq!(again.stats().await.unwrap().link, "connected");
}

#[tokio::test]
async fn a_database_from_a_newer_coexist_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    sqlx::query(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time)
         VALUES (99990101000000, 'from the future', 1, x'00', 0)",
    )
    .execute(store.pool())
    .await
    .unwrap();
    store.close().await;
    match Store::open_dir(dir.path()).await {
        Err(CoreError::NewerDatabase(v)) => assert_eq!(v, 99990101000000),
        other => panic!("expected a refusal, got {other:?}"),
    }
    let message = CoreError::NewerDatabase(1).to_string();
    assert!(message.contains("newer version"), "{message}");
}

/// Issue 24, item 7: two uploads of one file at once never share a temporary file, a torn file
/// already at the content address is replaced rather than trusted, and nothing is left in
/// `.tmp` afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stored_files_are_checked_and_their_temporary_files_are_their_own() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let media = coexist_core::media::media_dir(dir.path());
    let bytes: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    let (a, b) = tokio::join!(
        coexist_core::media::store_file(&store, &media, &bytes, "application/pdf", 1),
        coexist_core::media::store_file(&store, &media, &bytes, "application/pdf", 1),
    );
    let sha = a.unwrap();
    assert_eq!(sha, b.unwrap());
    let file = media.join(coexist_core::media::content_address(&sha));
    assert_eq!(std::fs::read(&file).unwrap(), bytes);
    // A torn copy at the address (a crash mid-write on another machine, a restored folder).
    std::fs::write(&file, &bytes[..1000]).unwrap();
    coexist_core::media::store_file(&store, &media, &bytes, "application/pdf", 2)
        .await
        .unwrap();
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "the torn file was replaced");
    let left = std::fs::read_dir(media.join(".tmp")).unwrap().count();
    assert_eq!(left, 0, "no temporary file left");
}
