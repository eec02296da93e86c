//! The real Coexist window (Tauri + WebKitGTK) under Xvfb, driven through WebDriver by
//! tauri-driver: opened on a mirror filled from the fixtures, it lists the conversations newest
//! first with their origin badges. `scripts/test.sh` runs it inside xvfb-run and dbus-run-session.

mod common;
mod window;
use common::*;
use window::*;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs Xvfb, a D-Bus session and tauri-driver: run by scripts/test.sh"]
async fn window_lists_conversations_from_the_fixtures() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("fixtures-shop");
    assert!(import_all_fixtures(&ws).status.success());
    // An owner PIN: billing, forecasts and the audit log are the owner's to read (issue 24, 13).
    let mut set_pin = std::process::Command::new(bin("coexist"))
        .arg("--data-dir")
        .arg(&ws)
        .args(["profile", "set-pin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        set_pin.stdin.take().unwrap().write_all(b"4821\n").unwrap();
    }
    assert!(set_pin.wait().unwrap().success());
    let (_driver, client) = open_window(&[("COEXIST_DATA_DIR", &ws)]).await;

    wait_for(&client, "[data-testid=conversation]").await;
    let mut rows = Vec::new();
    for li in client.find_all(css("[data-testid=conversation]")).await.unwrap() {
        // text_of reads textContent: WebKit's driver reports clipped (ellipsis) text as empty.
        let name = text_of(&li.find(css("[data-testid=conversation-name]")).await.unwrap()).await;
        let badge = text_of(&li.find(css("[data-testid=origin-badge]")).await.unwrap()).await;
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
    let counts = text_of(&wait_for(&client, "[data-testid=message-counts]").await).await;
    assert!(
        counts.contains("4 from customers") && counts.contains("2 from the phone"),
        "{counts}"
    );
    // Not the demo: the demo badge is only for the sample workspace.
    assert!(client.find(css("[data-testid=demo-badge]")).await.is_err());

    shot(&client, "fixtures-inbox").await;

    // The dashboard: the phone app's clock from the fixtures' echoes, this month's bill.
    nav(&client, "dashboard").await;
    let card = text_of(&wait_for(&client, "[data-testid=heartbeat-card] .big").await).await;
    assert!(
        card.contains("Phone app last used") || card.contains("disconnected"),
        "{card}"
    );
    // Without the PIN the costs stay hidden; the card offers to show them and asks for it.
    click(&client, "[data-testid=billing-unlock]").await;
    let pin = wait_for(&client, "[data-testid=pin-input]").await;
    pin.send_keys("4821").await.unwrap();
    click(&client, "[data-testid=pin-prompt] button[type=submit]").await;
    let total = text_of(&wait_for(&client, "[data-testid=month-total]").await).await;
    assert!(total.contains("spent through the API"), "{total}");
    shot(&client, "fixtures-dashboard").await;

    // Billing and the audit log open too: the PIN given a moment ago still counts.
    nav(&client, "billing").await;
    wait_for(&client, "[data-testid=billing-total]").await;
    shot(&client, "fixtures-billing").await;
    nav(&client, "audit").await;
    let audit = text_of(&wait_for(&client, "[data-testid=audit-ok]").await).await;
    assert!(audit.contains("Intact"), "{audit}");
    shot(&client, "fixtures-audit").await;
    client.close().await.unwrap();
}
