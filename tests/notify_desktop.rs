//! A real desktop notification: the shell's notifier sends it over a private D-Bus session to a
//! real notification server (dunst), and the server's own history must hold it, as urgent.
//!
//! Needs a display and a session bus: `scripts/test.sh` runs it under
//! `xvfb-run dbus-run-session` with `--ignored`.

use coexist_app::notifier::DesktopNotifier;
use coexist_core::reminders::{Notification, Notifier, Urgency};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs a display and a D-Bus session (scripts/test.sh runs it)"]
fn a_reminder_reaches_the_notification_server() {
    let mut dunst = Command::new("dunst")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("dunst is installed (scripts/setup.sh --tests)");
    // Wait until dunst owns the notification service.
    let start = Instant::now();
    while !Command::new("dunstctl")
        .arg("is-paused")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        assert!(start.elapsed() < Duration::from_secs(10), "dunst did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    let title = format!("Coexist test {}", std::process::id());
    let n = Notification {
        title: title.clone(),
        body: "Open WhatsApp Business on your phone today.".into(),
        urgency: Urgency::Urgent,
        view: "dashboard".into(),
    };
    DesktopNotifier::new(None)
        .notify(&n)
        .expect("the server accepted the notification");

    // dunst keeps closed notifications in its history: close them all, then read it.
    let start = Instant::now();
    let history = loop {
        let _ = Command::new("dunstctl").arg("close-all").status();
        let out = Command::new("dunstctl").arg("history").output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if text.contains(&title) || start.elapsed() > Duration::from_secs(10) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = dunst.kill();
    let _ = dunst.wait();
    let h: serde_json::Value = serde_json::from_str(&history).expect("dunstctl history prints JSON");
    let shown = h["data"][0]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["summary"]["data"] == title)
        .unwrap_or_else(|| panic!("the notification is not in dunst's history: {history}"));
    assert_eq!(shown["appname"]["data"], "Coexist");
    // An urgent reminder never times out, and clicking it opens the app (dunst 1.9 keeps no
    // urgency in its history; the timeout and the default action are what urgency changes).
    assert_eq!(shown["timeout"]["data"], 0, "{shown}");
    assert_eq!(shown["default_action_name"]["data"], "default", "{shown}");
    assert!(shown["body"]["data"].as_str().unwrap().contains("WhatsApp Business"));
}
