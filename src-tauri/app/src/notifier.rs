//! Reminders as real desktop notifications (notify-rust: D-Bus on Linux, Notification Center on
//! macOS, toasts on Windows). Clicking one opens the app on the view it names.

use coexist_core::reminders::{Notification, Notifier, Urgency};
use std::sync::Arc;

/// Called with the view to open when the owner clicks a notification.
pub type OnOpen = Arc<dyn Fn(&str) + Send + Sync>;

pub struct DesktopNotifier {
    on_open: Option<OnOpen>,
}

impl DesktopNotifier {
    pub fn new(on_open: Option<OnOpen>) -> Self {
        Self { on_open }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, n: &Notification) -> Result<(), String> {
        let mut note = notify_rust::Notification::new();
        note.appname("Coexist").summary(&n.title).body(&n.body);
        #[cfg(all(unix, not(target_os = "macos")))]
        {
            note.urgency(match n.urgency {
                Urgency::Urgent => notify_rust::Urgency::Critical,
                Urgency::Normal => notify_rust::Urgency::Normal,
            })
            .action("default", "Open Coexist")
            .action("open", "Open Coexist");
            if n.urgency == Urgency::Urgent {
                // Stays until the owner deals with it.
                note.timeout(notify_rust::Timeout::Never);
            }
            let handle = note.show().map_err(|e| e.to_string())?;
            if let Some(open) = self.on_open.clone() {
                let view = n.view.clone();
                std::thread::spawn(move || {
                    handle.wait_for_action(|action| {
                        if action == "default" || action == "open" {
                            open(&view);
                        }
                    })
                });
            }
        }
        #[cfg(not(all(unix, not(target_os = "macos"))))]
        {
            let _ = (&self.on_open, n.urgency == Urgency::Urgent);
            note.show().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
