//! The real Coexist window (Tauri + WebKitGTK) under Xvfb, driven through WebDriver by
//! tauri-driver: opened on a mirror filled from the fixtures, it lists the conversations newest
//! first with their origin badges. `scripts/test.sh` runs it inside xvfb-run and dbus-run-session.

mod common;
mod window;
use common::*;
use fantoccini::Locator;
use window::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Xvfb, a D-Bus session and tauri-driver: run by scripts/test.sh"]
async fn window_lists_conversations_from_the_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("fixtures-shop");
    assert!(import_all_fixtures(&ws).status.success());
    let (_driver, client) = open_window(&[("COEXIST_DATA_DIR", &ws)]).await;

    wait_for(&client, "[data-testid=conversation]").await;
    let mut rows = Vec::new();
    for li in client
        .find_all(Locator::Css("[data-testid=conversation]"))
        .await
        .unwrap()
    {
        // textContent: WebKit's driver reports clipped (ellipsis) text as empty.
        let text_of = |css: &'static str| {
            let li = li.clone();
            async move {
                let el = li.find(Locator::Css(css)).await.unwrap();
                el.prop("textContent")
                    .await
                    .unwrap()
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            }
        };
        let name = text_of("[data-testid=conversation-name]").await;
        let badge = text_of("[data-testid=origin-badge]").await;
        rows.push((name, badge));
    }
    let got: Vec<(&str, &str)> = rows.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        got,
        vec![
            ("Asha Verma", "API"),
            ("Budi", "Customer"),
            ("+5511987654321", "API"),
            ("@marco.p", "Customer"),
            ("@lena", "History"),
        ]
    );
    let counts = client
        .find(Locator::Css("[data-testid=message-counts]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        counts.contains("4 from customers") && counts.contains("2 from the phone"),
        "{counts}"
    );
    // Not the demo: the demo badge is only for the sample workspace.
    assert!(client.find(Locator::Css("[data-testid=demo-badge]")).await.is_err());

    shot(&client, "fixtures-inbox").await;

    // The dashboard: the phone app's clock from the fixtures' echoes, this month's bill.
    client
        .find(Locator::Css("[data-testid=nav-dashboard]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let card = client
        .wait()
        .for_element(Locator::Css("[data-testid=heartbeat-card] .big"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        card.contains("Phone app last used") || card.contains("disconnected"),
        "{card}"
    );
    let total = client
        .wait()
        .for_element(Locator::Css("[data-testid=month-total]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(total.contains("spent through the API"), "{total}");
    shot(&client, "fixtures-dashboard").await;

    // Billing and the audit log open too.
    client
        .find(Locator::Css("[data-testid=nav-billing]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    client
        .wait()
        .for_element(Locator::Css("[data-testid=billing-total]"))
        .await
        .unwrap();
    shot(&client, "fixtures-billing").await;
    client
        .find(Locator::Css("[data-testid=nav-audit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let audit = client
        .wait()
        .for_element(Locator::Css("[data-testid=audit-ok]"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(audit.contains("Intact"), "{audit}");
    shot(&client, "fixtures-audit").await;
    client.close().await.unwrap();
}
