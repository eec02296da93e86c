//! Nothing twice (issue 14): campaign launches racing each other, recipients who may no longer
//! receive a campaign, and the outbox rows the database itself refuses. Real SQLite files, two
//! handles on one workspace as two processes would have.

use coexist_core::send::{Audience, CampaignAction};
use coexist_core::Store;

/// A workspace with `n` tagged contacts (opted in to marketing) and one approved template of each
/// category.
async fn workspace(n: usize) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_dir(dir.path()).await.unwrap();
    for (name, category) in [("order_ready", "utility"), ("spring_sale", "marketing")] {
        coexist_testkit::approved_template(&store, name, category, 1).await;
    }
    let mut csv = String::from("phone,tags,consent\n");
    for i in 0..n {
        csv.push_str(&format!("+4477009{i:05},regulars,opt_in\n"));
    }
    let report = store.import_contacts_csv(&csv, "owner", 1).await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    (dir, store)
}

fn regulars() -> Audience {
    Audience {
        tag: Some("regulars".into()),
        ..Audience::default()
    }
}

async fn outbox_per_recipient(store: &Store, campaign: i64) -> Vec<(i64, i64)> {
    sqlx::query_as("SELECT contact_id, COUNT(*) FROM outbox WHERE campaign_id = ? GROUP BY contact_id")
        .bind(campaign)
        .fetch_all(store.pool())
        .await
        .unwrap()
}

/// Item 1: the window and the CLI launching one campaign at the same moment queue each recipient
/// once between them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_launches_queue_each_recipient_once() {
    let (dir, store) = workspace(400).await;
    let (id, n) = store
        .create_campaign("Ready", "order_ready", "en", &regulars(), &[], None, None, "owner", 2)
        .await
        .unwrap();
    assert_eq!(n, 400);
    // Four handles on the same file, as four processes would have.
    let mut handles = Vec::new();
    for _ in 0..4 {
        let other = Store::open_dir(dir.path()).await.unwrap();
        handles.push(tokio::spawn(async move { other.launch_campaign(id, "owner", 3).await }));
    }
    let mut queued = 0;
    for h in handles {
        queued += h.await.unwrap().unwrap();
    }
    assert_eq!(queued, 400, "between them the launches queued each recipient once");
    let per = outbox_per_recipient(&store, id).await;
    assert_eq!(per.len(), 400);
    assert!(per.iter().all(|(_, k)| *k == 1), "a recipient queued twice: {per:?}");
    let s = store.campaign_status(id).await.unwrap();
    assert_eq!((s.total, s.queued, s.skipped), (400, 400, 0), "{s:?}");
}

/// Item 1: whatever races above it, the database refuses a second outbox row for one recipient
/// of one campaign.
#[tokio::test]
async fn the_database_refuses_a_second_outbox_row_for_one_campaign_recipient() {
    let (_dir, store) = workspace(1).await;
    let (id, _) = store
        .create_campaign("Ready", "order_ready", "en", &regulars(), &[], None, None, "owner", 2)
        .await
        .unwrap();
    assert_eq!(store.launch_campaign(id, "owner", 3).await.unwrap(), 1);
    let err = sqlx::query(
        "INSERT INTO outbox (contact_id, recipient, kind, payload, campaign_id, next_attempt_ms, created_at, updated_at)
         SELECT contact_id, recipient, kind, payload, campaign_id, 0, 0, 0 FROM outbox WHERE campaign_id = ?",
    )
    .bind(id)
    .execute(store.pool())
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains("already has a message for this recipient"),
        "{err}"
    );
    assert_eq!(
        store.launch_campaign(id, "owner", 4).await.unwrap(),
        0,
        "a repeated launch adds nothing"
    );
}

/// Items 6 and 7: a recipient who opted out after the campaign was created is skipped with the
/// reason; one now known only by a BSUID is queued and addressed by `recipient` (DESIGN §4);
/// everybody else is queued.
#[tokio::test]
async fn launch_skips_opt_outs_and_addresses_bsuid_only_recipients_by_recipient() {
    let (_dir, store) = workspace(5).await;
    let (id, n) = store
        .create_campaign("Sale", "spring_sale", "en", &regulars(), &[], None, None, "owner", 2)
        .await
        .unwrap();
    assert_eq!(n, 5);
    let contacts: Vec<i64> =
        sqlx::query_scalar("SELECT contact_id FROM campaign_recipient WHERE campaign_id = ? ORDER BY contact_id")
            .bind(id)
            .fetch_all(store.pool())
            .await
            .unwrap();
    // The second customer says STOP between create and launch.
    store
        .set_consent(contacts[1], false, "replied STOP", "owner", 3)
        .await
        .unwrap();
    // The fourth is now known only by a business-scoped user id (the customer hid the number).
    sqlx::query("UPDATE contact SET wa_id = NULL, bsuid = 'GB.1234567890123456' WHERE id = ?")
        .bind(contacts[3])
        .execute(store.pool())
        .await
        .unwrap();

    assert_eq!(store.launch_campaign(id, "owner", 4).await.unwrap(), 4);
    let s = store.campaign_status(id).await.unwrap();
    assert_eq!((s.total, s.queued, s.skipped), (5, 4, 1), "{s:?}");
    let payload: String = sqlx::query_scalar("SELECT payload FROM outbox WHERE contact_id = ?")
        .bind(contacts[3])
        .fetch_one(store.pool())
        .await
        .unwrap();
    let payload: serde_json::Value = serde_json::from_str(&payload).unwrap();
    assert_eq!(payload["recipient"], "GB.1234567890123456");
    assert!(payload.get("to").is_none(), "{payload}");
    let rows = store.campaign_recipients(id, 10).await.unwrap();
    let skipped: Vec<_> = rows.iter().filter(|r| r.state == "skipped").collect();
    assert_eq!(skipped.len(), 1, "{rows:?}");
    let why = |c: i64| {
        skipped
            .iter()
            .find(|r| r.contact_id == Some(c))
            .and_then(|r| r.error.clone())
            .unwrap_or_default()
    };
    assert!(why(contacts[1]).contains("opted"), "{}", why(contacts[1]));
    // Launching again neither queues the skipped nor repeats the others.
    assert_eq!(store.launch_campaign(id, "owner", 5).await.unwrap(), 0);
    assert_eq!(outbox_per_recipient(&store, id).await.len(), 4);
}

/// Item 5: a campaign Meta stopped (a stop code) can be cancelled, which withdraws what was still
/// queued, or resumed by the owner.
#[tokio::test]
async fn a_stopped_campaign_can_be_cancelled_or_resumed() {
    let (_dir, store) = workspace(3).await;
    let mut ids = Vec::new();
    for _ in 0..2 {
        let (id, _) = store
            .create_campaign("Ready", "order_ready", "en", &regulars(), &[], None, None, "owner", 2)
            .await
            .unwrap();
        store.launch_campaign(id, "owner", 3).await.unwrap();
        sqlx::query("UPDATE campaign SET state = 'stopped', stopped_reason = 'spam limit' WHERE id = ?")
            .bind(id)
            .execute(store.pool())
            .await
            .unwrap();
        ids.push(id);
    }
    store
        .set_campaign_state(ids[0], CampaignAction::Cancel, "owner", 4)
        .await
        .unwrap();
    let s = store.campaign_status(ids[0]).await.unwrap();
    assert_eq!((s.state.as_str(), s.queued, s.cancelled), ("cancelled", 0, 3), "{s:?}");
    store
        .set_campaign_state(ids[1], CampaignAction::Resume, "owner", 4)
        .await
        .unwrap();
    assert_eq!(store.campaign_status(ids[1]).await.unwrap().state, "running");
}

/// Item 4: a backup taken while messages were queued restores with them held and the running
/// campaign paused, so nothing goes out twice before the owner has looked; a restore over a
/// workspace an engine is running is refused.
#[tokio::test]
async fn a_restore_holds_what_was_queued_and_refuses_a_running_workspace() {
    let (dir, store) = workspace(3).await;
    let (id, _) = store
        .create_campaign("Ready", "order_ready", "en", &regulars(), &[], None, None, "owner", 2)
        .await
        .unwrap();
    store.launch_campaign(id, "owner", 3).await.unwrap();
    let backup = dir.path().join("backup.sqlite3");
    store.backup_to(&backup, "owner", 4).await.unwrap();

    // While an engine runs the workspace, restoring over it is refused.
    let clock: std::sync::Arc<dyn coexist_core::Clock> = std::sync::Arc::new(coexist_core::SystemClock);
    let started = coexist_core::engine::Engine::start(&store, coexist_core::engine::EngineSettings::new("app", clock))
        .await
        .unwrap();
    let coexist_core::engine::Started::Engine(engine) = started else {
        panic!("nobody else runs it")
    };
    let err = coexist_core::safety::restore(&backup, dir.path()).await.unwrap_err();
    assert!(err.to_string().contains("close it before restoring"), "{err}");
    engine.shutdown().await;
    store.close().await;

    let info = coexist_core::safety::restore(&backup, dir.path()).await.unwrap();
    assert_eq!((info.held, info.paused_campaigns), (3, 1), "{info:?}");
    let restored = Store::open_dir(dir.path()).await.unwrap();
    assert_eq!(restored.campaign_status(id).await.unwrap().state, "paused");
    let rows = restored.outbox_rows(Some("queued")).await.unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows
        .iter()
        .all(|r| r.held_reason.as_deref().is_some_and(|w| w.contains("backup"))));
    // The owner releases one after checking the chat.
    assert_eq!(
        coexist_core::ops::outbox::release(
            &coexist_core::ops::Ctx::new(&restored, "owner", None, 5),
            Some(rows[0].id)
        )
        .await
        .unwrap(),
        1
    );
    assert_eq!(
        restored
            .outbox_rows(Some("queued"))
            .await
            .unwrap()
            .iter()
            .filter(|r| r.held_reason.is_none())
            .count(),
        1
    );
}

/// Item 18: a start time in milliseconds and absurd automation durations get clear errors instead
/// of a campaign that never starts or an overflow.
#[tokio::test]
async fn out_of_range_times_and_durations_are_refused_in_words() {
    let (_dir, store) = workspace(1).await;
    let err = store
        .create_campaign(
            "Later",
            "order_ready",
            "en",
            &regulars(),
            &[],
            None,
            Some(1_790_000_000_000),
            "owner",
            2,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("milliseconds"), "{err}");
    for cfg in [
        r#"{"enabled": true, "takeover_pause_hours": 9223372036854775807}"#,
        r#"{"enabled": true, "follow_ups": [{"name": "nudge", "after_hours": -5, "template": "t", "language": "en"}]}"#,
    ] {
        let err = store.set_automation_config(cfg, "owner", 3).await.unwrap_err();
        assert!(err.to_string().contains("hours"), "{err}");
    }
}

/// Issue 25: the outbox is managed through `ops` only, for the window and the CLI alike. Letting
/// held messages out and resending an uncertain one are the owner's (front desk refused); every
/// change is audited; a refused change leaves no entry.
#[tokio::test]
async fn outbox_changes_are_audited_and_role_checked() {
    use coexist_core::ops::{outbox, Ctx};
    let (_dir, store) = workspace(3).await;
    let (id, _) = store
        .create_campaign("Ready", "order_ready", "en", &regulars(), &[], None, None, "owner", 2)
        .await
        .unwrap();
    store.launch_campaign(id, "owner", 3).await.unwrap();
    store.add_profile("Maria", "owner", "owner", 3).await.unwrap();
    store.add_profile("Sam", "desk", "Maria", 3).await.unwrap();
    store.hold_after_restore().await.unwrap();
    let rows = outbox::list(
        &Ctx::new(&store, "Sam", None, 4),
        Some(coexist_core::send::OutboxState::Queued),
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 3);
    let entries = || async { store.audit_entries().await.unwrap() };
    let before = entries().await.len();

    let sam = Ctx::new(&store, "Sam", None, 5);
    let refused = outbox::release(&sam, None).await.unwrap_err();
    assert!(
        matches!(refused, coexist_core::CoreError::NotAllowed { .. }),
        "{refused}"
    );
    let refused = outbox::resend(&sam, rows[0].id, true, 5_000).await.unwrap_err();
    assert!(
        matches!(refused, coexist_core::CoreError::NotAllowed { .. }),
        "{refused}"
    );
    // The front desk may withdraw a queued message; a second cancel is refused in words.
    outbox::cancel(&sam, rows[0].id).await.unwrap();
    let again = outbox::cancel(&sam, rows[0].id).await.unwrap_err();
    assert!(again.to_string().contains("not queued"), "{again}");
    // Only uncertain sends can be resent.
    let maria = Ctx::new(&store, "Maria", None, 6);
    let not_uncertain = outbox::resend(&maria, rows[1].id, true, 6_000).await.unwrap_err();
    assert!(not_uncertain.to_string().contains("not uncertain"), "{not_uncertain}");
    assert_eq!(outbox::release(&maria, None).await.unwrap(), 2);
    let nothing = outbox::release(&maria, None).await.unwrap_err();
    assert!(nothing.to_string().contains("no held message"), "{nothing}");

    let new: Vec<_> = entries().await.into_iter().skip(before).collect();
    let what: Vec<(String, String, Option<String>)> = new.into_iter().map(|e| (e.actor, e.action, e.subject)).collect();
    assert_eq!(
        what,
        vec![
            ("Sam".into(), "outbox.cancel".into(), Some(rows[0].id.to_string())),
            ("Maria".into(), "outbox.release".into(), Some("all".into())),
        ]
    );
    assert!(store.audit_verify().await.unwrap().breaks.is_empty());
}
