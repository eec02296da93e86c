//! The operation layer: one role/PIN rule for the window and the CLI alike, one audit name per
//! kind of event, and user input that cannot overflow into nonsense.

use coexist_core::error::Code;
use coexist_core::ops::{self, Ctx, RateCardImport};
use coexist_core::send::{Audience, CampaignAction};
use coexist_core::{CoreError, Store};

const NOW: i64 = 1_795_000_000;

async fn workspace() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    (dir, store)
}

fn code(e: &CoreError) -> Code {
    e.body().code
}

async fn actions(store: &Store) -> Vec<String> {
    store
        .audit_entries()
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect()
}

#[tokio::test]
async fn owner_operations_ask_one_rule_whoever_calls() {
    let (dir, store) = workspace().await;
    let owner = Ctx::new(&store, "owner", None, NOW);
    // No PIN yet: the owner sets one without being asked for it, and adds a front-desk profile.
    ops::set_owner_pin(&owner, "4821").await.unwrap();
    let owner = Ctx::new(&store, "owner", Some("4821".into()), NOW);
    ops::add_profile(&owner, "ana", "desk").await.unwrap();

    let dest = dir.path().join("copy.sqlite3");
    let desk = Ctx::new(&store, "ana", Some("4821".into()), NOW);
    let e = ops::backup(&desk, &dest).await.unwrap_err();
    assert!(matches!(e, CoreError::NotAllowed { .. }), "{e}");
    assert_eq!(
        e.to_string(),
        "only the owner can back up the workspace; ana is a front-desk profile"
    );

    let no_pin = Ctx::new(&store, "owner", None, NOW);
    let e = ops::backup(&no_pin, &dest).await.unwrap_err();
    assert_eq!(code(&e), Code::PinRequired);
    assert!(!e.to_string().contains("--pin"), "core words name no CLI flag: {e}");
    let wrong = Ctx::new(&store, "owner", Some("0000".into()), NOW);
    assert_eq!(code(&ops::backup(&wrong, &dest).await.unwrap_err()), Code::PinRequired);
    assert!(!dest.exists(), "nothing is written before the rule passes");

    let info = ops::backup(&owner, &dest).await.unwrap();
    assert!(dest.exists() && info.bytes > 0);
    assert_eq!(
        actions(&store).await,
        ["secret.owner_pin", "profile.add", "backup"],
        "refusals leave no entry; each success one"
    );
}

#[tokio::test]
async fn a_rate_card_import_has_one_audit_name_from_any_caller() {
    let (_dir, store) = workspace().await;
    let ctx = Ctx::new(&store, "owner", None, NOW);
    let card = RateCardImport {
        csv: "market,marketing,utility,authentication\nIndia,0.0107,0.0014,0.0014\nBrazil,abc,0.008,0.0068\n".into(),
        tiers: None,
        currency: "usd".into(),
        effective: "2026-10-01".into(),
        source: "meta-usd.csv".into(),
    };
    let o = ops::import_rate_card(&ctx, &card).await.unwrap();
    // India's three prices are kept; Brazil's line is refused by number.
    assert_eq!((o.imported, o.rejected.len()), (3, 1), "{o:?}");
    assert_eq!(o.rejected[0].line, 3);
    let log = store.audit_entries().await.unwrap();
    let last = log.last().unwrap();
    assert_eq!(last.action, "settings.rate_card");
    assert_eq!(last.subject.as_deref(), Some("meta-usd.csv"));
    assert!(
        last.details.contains("\"refused\":1") && last.details.contains("\"currency\":\"USD\""),
        "{}",
        last.details
    );
    assert!(!actions(&store).await.iter().any(|a| a == "billing.import_rates"));
}

#[tokio::test]
async fn user_input_that_would_overflow_gets_a_clear_error() {
    let (_dir, store) = workspace().await;
    let ctx = Ctx::new(&store, "owner", None, NOW);
    for hours in [0, -5, 8_785, i64::MAX] {
        let e = ops::take_over(&ctx, 1, Some(hours)).await.unwrap_err();
        assert_eq!(code(&e), Code::Invalid, "{hours}: {e}");
    }
    for days in [0, 36_501, i64::MAX / 2] {
        let e = ops::retention_preview(&ctx, days).await.unwrap_err();
        assert!(e.to_string().contains("between 1 and 36,500 days"), "{days}: {e}");
    }
    let p = ops::retention_preview(&ctx, 30).await.unwrap();
    assert_eq!((p.older_than, p.messages), (NOW - 30 * 86_400, 0));
}

#[tokio::test]
async fn a_refused_campaign_action_changes_nothing_and_audits_nothing() {
    let (_dir, store) = workspace().await;
    let ctx = Ctx::new(&store, "owner", None, NOW);
    store
        .import_contacts_csv("phone,name,consent\n919800012345,Priya,opt_in\n", "owner", NOW)
        .await
        .unwrap();
    coexist_testkit::approved_template(&store, "spring_sale", "marketing", NOW).await;
    let (id, _) = store
        .create_campaign(
            "spring",
            "spring_sale",
            "en",
            &Audience {
                all: true,
                ..Default::default()
            },
            &[],
            None,
            None,
            "owner",
            NOW,
        )
        .await
        .unwrap();
    ops::campaign_action(&ctx, id, CampaignAction::Cancel).await.unwrap();
    let before = actions(&store).await;
    assert_eq!(before.last().map(String::as_str), Some("campaign.cancel"));
    let e = ops::campaign_action(&ctx, id, CampaignAction::Resume)
        .await
        .unwrap_err();
    assert_eq!(code(&e), Code::Invalid);
    assert_eq!(actions(&store).await, before);
    assert_eq!(store.campaign_status(id).await.unwrap().state, "cancelled");
}

#[tokio::test]
async fn consent_from_the_cli_and_the_window_is_one_event_keyed_by_contact() {
    let (_dir, store) = workspace().await;
    let ctx = Ctx::new(&store, "owner", None, NOW);
    let e = ops::contact(&ctx, "+91 98000 12345").await.unwrap_err();
    assert_eq!(e.to_string(), "no contact +91 98000 12345 in this workspace");
    store
        .import_contacts_csv("phone,name\n919800012345,Priya\n", "owner", NOW)
        .await
        .unwrap();
    let id = ops::contact(&ctx, "+91 98000 12345").await.unwrap();
    ops::set_consent(&ctx, id, true, "form at the counter").await.unwrap();
    let log = store.audit_entries().await.unwrap();
    let last = log.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.subject.clone()),
        ("consent", Some(id.to_string()))
    );
}

#[test]
fn meta_refusals_keep_meta_code_for_the_ui() {
    let e = CoreError::Meta {
        what: "the template".into(),
        code: 132_000,
        reason: "Invalid parameter".into(),
    };
    let body = serde_json::to_value(e.body()).unwrap();
    assert_eq!(body["code"], "meta");
    assert_eq!(body["meta_code"], 132_000);
    assert_eq!(
        body["message"],
        "Meta refused the template: Invalid parameter (code 132000)"
    );
    let plain = serde_json::to_value(CoreError::Invalid("x".into()).body()).unwrap();
    assert!(plain.get("meta_code").is_none());
}

/// Issue 24, item 13: the window showed billing, the forecast and the audit log without the PIN
/// the CLI asks for. These reads are owner-only in the core, whoever calls.
#[tokio::test]
async fn billing_forecasts_and_the_audit_log_are_the_owners_to_read() {
    let (_dir, store) = workspace().await;
    let owner = Ctx::new(&store, "owner", None, NOW);
    ops::set_owner_pin(&owner, "4821").await.unwrap();
    let owner = Ctx::new(&store, "owner", Some("4821".into()), NOW);
    ops::add_profile(&owner, "ana", "desk").await.unwrap();
    let desk = Ctx::new(&store, "ana", Some("4821".into()), NOW);
    let no_pin = Ctx::new(&store, "owner", None, NOW);
    let (from, to) = (NOW - 30 * 86_400, NOW);

    let e = ops::billing_report(&desk, from, to).await.unwrap_err();
    assert!(matches!(e, CoreError::NotAllowed { .. }), "{e}");
    assert_eq!(
        code(&ops::billing_report(&no_pin, from, to).await.unwrap_err()),
        Code::PinRequired
    );
    let report = ops::billing_report(&owner, from, to).await.unwrap();
    assert_eq!(report.messages.api, 0);

    // The forecast checks the rule before it looks for the campaign.
    assert!(matches!(
        ops::campaign_forecast(&desk, 1).await.unwrap_err(),
        CoreError::NotAllowed { .. }
    ));
    assert_eq!(
        code(&ops::campaign_forecast(&no_pin, 1).await.unwrap_err()),
        Code::PinRequired
    );
    assert_ne!(
        code(&ops::campaign_forecast(&owner, 1).await.unwrap_err()),
        Code::PinRequired
    );

    assert!(matches!(
        ops::audit_log(&desk, 10).await.unwrap_err(),
        CoreError::NotAllowed { .. }
    ));
    assert_eq!(code(&ops::audit_log(&no_pin, 10).await.unwrap_err()), Code::PinRequired);
    let log = ops::audit_log(&owner, 1).await.unwrap();
    assert_eq!(log.entries.len(), 1, "the newest entry only");
    assert_eq!(log.entries[0].action, "profile.add", "newest first");
    assert!(log.verification.ok);
}
