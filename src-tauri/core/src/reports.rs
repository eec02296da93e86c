//! The figures a shop owner staffs the desk by: how fast customers get an answer (from the
//! phone, the desk by staff member, automation), which chats are still waiting, and when
//! customers write (hour of day, weekday, in the owner's local time).

use crate::error::Result;
use crate::store::Store;
use serde::Serialize;
use std::collections::BTreeMap;

/// Response times of one kind of responder (for the desk: one staff member).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ResponderStats {
    /// `phone`, `desk` or `automation`.
    pub responder: String,
    /// The staff member for desk replies.
    pub staff: Option<String>,
    /// Customer waits this responder ended.
    pub answered: i64,
    /// Median wait from the first unanswered customer message to this responder's reply.
    pub median_first_response_secs: Option<i64>,
    /// Median wait of every customer message until the next reply.
    pub median_response_secs: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ResponseReport {
    pub from: i64,
    pub to: i64,
    pub median_first_response_secs: Option<i64>,
    pub median_response_secs: Option<i64>,
    pub responders: Vec<ResponderStats>,
    /// Conversations whose last message in the period is a customer's, still unanswered.
    pub open: i64,
    /// Conversations active in the period whose last word was ours.
    pub resolved: i64,
    /// Customer messages answered only after their 24-hour window had closed (a template
    /// weeks later is a new conversation, not a response time); left out of the medians.
    pub answered_late: i64,
    /// Customer messages by local hour (0–23) and weekday (0 = Monday).
    pub by_hour: Vec<i64>,
    pub by_weekday: Vec<i64>,
}

/// One message as the report reads it, in time order within its conversation.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Event {
    pub contact_id: i64,
    pub at: i64,
    pub inbound: bool,
    /// For our messages: who answered (`phone`, `desk`, `automation`), or none when the message
    /// is not an answer (a campaign).
    pub responder: Option<String>,
    pub staff: Option<String>,
}

fn median(v: &mut [i64]) -> Option<i64> {
    if v.is_empty() {
        return None;
    }
    v.sort_unstable();
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2
    })
}

const WINDOW: i64 = crate::policy::SERVICE_WINDOW_SECS;

/// The report over `events`, which are ordered by conversation then time. Pure: the clock and
/// the owner's UTC offset are passed in.
pub fn compute(events: &[Event], from: i64, to: i64, utc_offset_secs: i64) -> ResponseReport {
    #[derive(Default)]
    struct Acc {
        first: Vec<i64>,
        every: Vec<i64>,
    }
    let mut by: BTreeMap<(String, Option<String>), Acc> = BTreeMap::new();
    let (mut all_first, mut all_every) = (Vec::new(), Vec::new());
    let (mut by_hour, mut by_weekday) = (vec![0i64; 24], vec![0i64; 7]);
    let (mut open, mut resolved, mut late) = (0, 0, 0);
    let mut i = 0;
    while i < events.len() {
        let contact = events[i].contact_id;
        // Customer messages waiting for an answer in this conversation.
        let mut waiting: Vec<i64> = Vec::new();
        let mut last_inbound_unanswered = false;
        while i < events.len() && events[i].contact_id == contact {
            let e = &events[i];
            i += 1;
            if e.inbound {
                let local = e.at + utc_offset_secs;
                by_hour[(local.rem_euclid(86_400) / 3600) as usize] += 1;
                // 1970-01-01 was a Thursday (3 with Monday = 0).
                by_weekday[((local.div_euclid(86_400) + 3).rem_euclid(7)) as usize] += 1;
                waiting.push(e.at);
                last_inbound_unanswered = true;
                continue;
            }
            let Some(who) = &e.responder else { continue };
            if waiting.is_empty() {
                continue;
            }
            let acc = by.entry((who.clone(), e.staff.clone())).or_default();
            let in_window: Vec<i64> = waiting.iter().copied().filter(|w| e.at - w <= WINDOW).collect();
            late += (waiting.len() - in_window.len()) as i64;
            if let Some(first) = in_window.first().map(|w| e.at - w) {
                acc.first.push(first);
                all_first.push(first);
            }
            for w in in_window {
                acc.every.push(e.at - w);
                all_every.push(e.at - w);
            }
            waiting.clear();
            last_inbound_unanswered = false;
        }
        if last_inbound_unanswered {
            open += 1;
        } else {
            resolved += 1;
        }
    }
    let responders = by
        .into_iter()
        .map(|((responder, staff), mut acc)| ResponderStats {
            responder,
            staff,
            answered: acc.every.len() as i64,
            median_first_response_secs: median(&mut acc.first),
            median_response_secs: median(&mut acc.every),
        })
        .collect();
    ResponseReport {
        from,
        to,
        median_first_response_secs: median(&mut all_first),
        median_response_secs: median(&mut all_every),
        responders,
        open,
        resolved,
        answered_late: late,
        by_hour,
        by_weekday,
    }
}

impl Store {
    /// Response times and traffic between `from` and `to` (unix seconds).
    pub async fn response_report(&self, from: i64, to: i64, utc_offset_secs: i64) -> Result<ResponseReport> {
        let events: Vec<Event> = sqlx::query_as(
            "SELECT m.contact_id, m.timestamp AS at, m.direction = 'inbound' AS inbound,
                    CASE WHEN m.direction = 'inbound' THEN NULL
                         WHEN m.origin IN ('phone', 'history') THEN 'phone'
                         WHEN o.campaign_id IS NOT NULL THEN NULL
                         WHEN o.source IN ('automation', 'follow_up') THEN 'automation'
                         WHEN o.source = 'desk' THEN 'desk'
                         WHEN o.id IS NULL THEN 'desk'
                         ELSE NULL END AS responder,
                    CASE WHEN o.source = 'desk' THEN o.actor END AS staff
             FROM message m LEFT JOIN outbox o ON o.id = m.outbox_id
             WHERE m.contact_id IS NOT NULL AND m.timestamp >= ?1 AND m.timestamp < ?2 AND m.revoked = 0
             ORDER BY m.contact_id, m.timestamp, m.id",
        )
        .bind(from)
        .bind(to)
        .fetch_all(self.pool())
        .await?;
        Ok(compute(&events, from, to, utc_offset_secs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(contact_id: i64, at: i64, who: Option<(&str, Option<&str>)>) -> Event {
        Event {
            contact_id,
            at,
            inbound: who.is_none(),
            responder: who.map(|w| w.0.to_string()),
            staff: who.and_then(|w| w.1.map(String::from)),
        }
    }

    #[test]
    fn waits_are_measured_from_the_first_unanswered_message() {
        // 1970-01-05 was a Monday; hours in UTC.
        let mon = 4 * 86_400;
        let events = vec![
            // Chat 1: two questions, the phone answers 10 min after the first.
            ev(1, mon + 9 * 3600, None),
            ev(1, mon + 9 * 3600 + 300, None),
            ev(1, mon + 9 * 3600 + 600, Some(("phone", None))),
            // …then asks again; Sam at the desk answers in 2 min.
            ev(1, mon + 10 * 3600, None),
            ev(1, mon + 10 * 3600 + 120, Some(("desk", Some("sam")))),
            // Chat 2: automation answers in 5 s; a campaign message is not an answer.
            ev(2, mon + 86_400 + 14 * 3600, None),
            ev(2, mon + 86_400 + 14 * 3600 + 5, Some(("automation", None))),
            Event {
                contact_id: 2,
                at: mon + 86_400 + 15 * 3600,
                inbound: false,
                responder: None,
                staff: None,
            },
            // Chat 3: still waiting.
            ev(3, mon + 2 * 86_400 + 23 * 3600, None),
            // Chat 4: answered by a template two weeks later: late, not a response time.
            ev(4, mon, None),
            ev(4, mon + 14 * 86_400, Some(("desk", Some("sam")))),
        ];
        let r = compute(&events, 0, i64::MAX, 0);
        assert_eq!((r.open, r.resolved, r.answered_late), (1, 3, 1));
        let phone = r.responders.iter().find(|s| s.responder == "phone").unwrap();
        assert_eq!(phone.answered, 2);
        assert_eq!(phone.median_first_response_secs, Some(600));
        assert_eq!(phone.median_response_secs, Some((300 + 600) / 2));
        let sam = r.responders.iter().find(|s| s.responder == "desk").unwrap();
        assert_eq!(
            (sam.staff.as_deref(), sam.median_first_response_secs),
            (Some("sam"), Some(120))
        );
        assert_eq!(r.median_first_response_secs, Some(120)); // of 600, 120, 5
        assert_eq!(r.by_hour[9], 2);
        assert_eq!(r.by_hour[0], 1);
        assert_eq!(r.by_hour[23], 1);
        assert_eq!(r.by_weekday, vec![4, 1, 1, 0, 0, 0, 0]);
        // In UTC+2 the 23:00 message falls on Thursday 01:00.
        let r2 = compute(&events, 0, i64::MAX, 2 * 3600);
        assert_eq!((r2.by_hour[1], r2.by_weekday[3]), (1, 1));
    }

    #[tokio::test]
    async fn the_report_reads_the_mirror() {
        let store = Store::open_in_memory().await.unwrap();
        let now = 1_763_712_000;
        for body in crate::demo::shop_week(now) {
            store
                .journal_append(&body, crate::webhook::SignatureVerdict::Imported, now)
                .await
                .unwrap();
        }
        crate::webhook::apply_pending(&store, &crate::webhook::Rules::default(), &crate::FixedClock::new(now))
            .await
            .unwrap();
        let r = store.response_report(now - 7 * 86_400, now + 1, 0).await.unwrap();
        let customer: i64 = r.by_hour.iter().sum();
        let in_week: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM message WHERE direction = 'inbound' AND timestamp >= ? AND revoked = 0",
        )
        .bind(now - 7 * 86_400)
        .fetch_one(store.pool())
        .await
        .unwrap();
        assert_eq!(customer, in_week);
        assert!(r.responders.iter().any(|s| s.responder == "phone"), "{r:?}");
        assert!(r.open + r.resolved > 0);
    }
}
