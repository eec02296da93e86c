//! Connecting a number against the Cloud API simulator over loopback: secrets go to the secret
//! store (never to the database), the link check says what to fix in words, and the ids and the
//! onboarding time are recorded.

use coexist_core::cloud::CloudClient;
use coexist_core::onboarding::NewConnection;
use coexist_core::ops::{self, Ctx};
use coexist_core::secrets::{MemorySecrets, SecretKind, SecretStore};
use coexist_core::Store;
use coexist_sim::{Sim, SimConfig};
use std::time::Duration;

fn form(token: &str, verify: &str) -> NewConnection {
    let cfg = SimConfig::default();
    NewConnection {
        waba_id: cfg.waba_id,
        phone_number_id: cfg.phone_number_id,
        access_token: token.into(),
        app_secret: "app-secret-value".into(),
        verify_token: verify.into(),
        ..Default::default()
    }
}

#[tokio::test]
async fn connecting_stores_secrets_apart_checks_the_link_and_says_what_to_fix() {
    let sim = Sim::new(SimConfig::default());
    let addr = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{addr}");
    let client_for = |t| CloudClient::new(&base, "v23.0", t, Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    let secrets = MemorySecrets::default();

    // A wrong token and no verify token: two problems, in words, and nothing linked.
    let r = ops::connect(
        &Ctx::new(&store, "owner", None, 1_000),
        &secrets,
        &form("not-the-token", ""),
        client_for,
    )
    .await
    .unwrap();
    assert!(!r.linked);
    assert_eq!((r.link.checked, r.link.error_code), (false, Some(190)), "{:?}", r.link);
    assert_eq!(r.secrets_set, vec!["access_token", "app_secret"]);
    assert!(
        r.problems.iter().any(|p| p.contains("verify token is still missing")),
        "{:?}",
        r.problems
    );
    assert!(
        r.problems.iter().any(|p| p.contains("Meta refused the access token")),
        "{:?}",
        r.problems
    );

    // The right token; the stored app secret is kept when its field is left empty.
    let mut again = form("sim-access-token", "my phrase");
    again.app_secret.clear();
    let r = ops::connect(&Ctx::new(&store, "owner", None, 2_000), &secrets, &again, client_for)
        .await
        .unwrap();
    assert!(r.linked && r.problems.is_empty(), "{:?}", r.problems);
    assert_eq!(r.verified_name.as_deref(), Some("Sim Shop"));
    assert_eq!(r.secrets_set.len(), 3);
    assert_eq!(
        secrets.get(SecretKind::AppSecret).unwrap().unwrap().expose(),
        "app-secret-value"
    );
    let ids = store.account_ids().await.unwrap();
    assert_eq!(
        ids.phone_number_id.as_deref(),
        Some(SimConfig::default().phone_number_id.as_str())
    );
    // The first connection's time stays the onboarding time (the 24 h sync window counts from it).
    let status = store.onboarding_status(2_000).await.unwrap();
    assert_eq!(status.onboarded_at, Some(1_000));

    // No secret reaches the database file.
    store.close().await;
    let db = std::fs::read(dir.path().join(coexist_core::store::DB_FILE)).unwrap();
    for secret in ["sim-access-token", "app-secret-value", "my phrase", "not-the-token"] {
        assert!(
            !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} leaked"
        );
    }
    let audit: Vec<String> = Store::open_dir(dir.path())
        .await
        .unwrap()
        .audit_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(audit.iter().filter(|a| *a == "secret.set").count(), 4);
}
