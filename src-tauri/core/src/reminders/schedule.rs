//! The reminder schedule as a pure function of what is known and the time: heartbeat reminders
//! from day 10 after the phone app was last used, and the 24-hour sync deadline after onboarding.

pub use crate::policy::{LINK_DROP_AFTER_DAYS, PHONE_APP_DEADLINE_DAYS, SYNC_WINDOW_SECS};

pub const DAY: i64 = 86_400;
/// How often the urgent reminder repeats on day 13 until the owner acts.
pub const URGENT_REPEAT_SECS: i64 = 4 * 3600;

#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The last sign the phone app was used: an echo, an acknowledgement, a reconnection, onboarding.
    pub last_heartbeat: Option<i64>,
    pub link_connected: bool,
    pub onboarded_at: Option<i64>,
    /// Both syncs (contacts and history) have been requested.
    pub sync_done: bool,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub kind: &'static str,
    pub urgency: &'static str,
    /// Unique per reminder, so planning twice inserts nothing twice.
    pub source_ref: String,
    pub title: String,
    pub body: String,
    pub due_at: i64,
}

/// Which reminders belong to one series: on restart only the newest due one of a series fires.
pub fn series(kind: &str) -> &'static str {
    match kind {
        "heartbeat" | "heartbeat_warning" | "heartbeat_urgent" => "heartbeat",
        "sync_deadline" => "sync",
        _ => "link",
    }
}

fn date(at: i64) -> String {
    chrono::DateTime::from_timestamp(at, 0).map_or_else(String::new, |d| d.format("%a %-d %b %H:%M UTC").to_string())
}

pub fn plan(f: &Facts) -> Vec<Planned> {
    let mut out = Vec::new();
    if let (Some(h), true) = (f.last_heartbeat, f.link_connected) {
        let drop_at = h + LINK_DROP_AFTER_DAYS * DAY;
        let open_by = format!(
            "Open the WhatsApp Business app on the phone before {} or Meta disconnects the API from this number.",
            date(drop_at)
        );
        for day in [10, 11] {
            out.push(Planned {
                kind: "heartbeat",
                urgency: "normal",
                source_ref: format!("heartbeat:{h}:d{day}"),
                title: format!("Open WhatsApp Business on your phone ({day} days)"),
                body: format!("The phone app was last used {day} days ago. {open_by}"),
                due_at: h + day * DAY,
            });
        }
        out.push(Planned {
            kind: "heartbeat_warning",
            urgency: "normal",
            source_ref: format!("heartbeat:{h}:d12"),
            title: "Two days left: open WhatsApp Business on your phone".into(),
            body: format!("The phone app was last used 12 days ago. {open_by}"),
            due_at: h + 12 * DAY,
        });
        let mut due = h + PHONE_APP_DEADLINE_DAYS * DAY;
        while due < drop_at {
            out.push(Planned {
                kind: "heartbeat_urgent",
                urgency: "urgent",
                source_ref: format!(
                    "heartbeat:{h}:d13:{}",
                    (due - h - PHONE_APP_DEADLINE_DAYS * DAY) / URGENT_REPEAT_SECS
                ),
                title: "Urgent: open WhatsApp Business on your phone today".into(),
                body: format!(
                    "The phone app was last used 13 days ago. {open_by} Then click \"I opened it\" in Coexist."
                ),
                due_at: due,
            });
            due += URGENT_REPEAT_SECS;
        }
        // Past day 14 the earlier texts ("13 days ago") are no longer true: if Coexist was off
        // through it, this is the one reminder shown.
        out.push(Planned {
            kind: "heartbeat_urgent",
            urgency: "urgent",
            source_ref: format!("heartbeat:{h}:d14"),
            title: "The phone app has not been used for 14 days".into(),
            body: format!(
                "WhatsApp Business was last opened on the phone {}. Meta disconnects the API after 14 days: open the app now, then check the link on the Dashboard.",
                date(h)
            ),
            due_at: drop_at,
        });
    }
    // Sync reminders only while the window is open: after it, they could only frustrate.
    if let Some(o) = f.onboarded_at.filter(|o| !f.sync_done && f.now < o + SYNC_WINDOW_SECS) {
        let closes = o + SYNC_WINDOW_SECS;
        for hours in [1, 12, 20] {
            out.push(Planned {
                kind: "sync_deadline",
                urgency: if hours == 20 { "urgent" } else { "normal" },
                source_ref: format!("sync:{o}:{hours}h"),
                title: format!("Import your chats and contacts: {} hours left", 24 - hours),
                body: format!(
                    "Meta lets Coexist import up to 180 days of chats and your phone's contacts only once, before {}. Start it from the Dashboard.",
                    date(closes)
                ),
                due_at: o + hours * 3600,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_series_from_day_ten_to_the_drop() {
        let p = plan(&Facts {
            last_heartbeat: Some(0),
            link_connected: true,
            ..Default::default()
        });
        let days: Vec<(i64, &str)> = p.iter().map(|r| (r.due_at, r.urgency)).collect();
        assert_eq!(days[0], (10 * DAY, "normal"));
        assert_eq!(days[1], (11 * DAY, "normal"));
        assert_eq!(days[2], (12 * DAY, "normal"));
        assert_eq!(p[2].kind, "heartbeat_warning");
        let urgent: Vec<i64> = p.iter().filter(|r| r.urgency == "urgent").map(|r| r.due_at).collect();
        let mut expected: Vec<i64> = (0..6).map(|k| 13 * DAY + k * URGENT_REPEAT_SECS).collect();
        expected.push(14 * DAY); // the one still true after a long absence
        assert_eq!(urgent, expected);
        assert!(plan(&Facts {
            last_heartbeat: Some(0),
            link_connected: false,
            ..Default::default()
        })
        .is_empty());
    }

    #[test]
    fn sync_reminders_until_requested() {
        let f = Facts {
            onboarded_at: Some(1000),
            ..Default::default()
        };
        let due: Vec<i64> = plan(&f).iter().map(|r| r.due_at).collect();
        assert_eq!(due, vec![1000 + 3600, 1000 + 12 * 3600, 1000 + 20 * 3600]);
        assert!(plan(&Facts {
            sync_done: true,
            ..f.clone()
        })
        .is_empty());
        assert!(
            plan(&Facts {
                now: 1000 + SYNC_WINDOW_SECS,
                ..f
            })
            .is_empty(),
            "the window has closed"
        );
    }
}
