//! Events for a process that does not run the engine (a window while `coexist serve` holds the
//! lease): the engine's events stay in its own process, so the client reads the two sequences
//! every write moves — the applier's last outcome, the outbox's and the media downloads' changed
//! rows — and announces
//! what moved, as the engine would have. One cheap indexed read per tick, in the core, instead of
//! every view polling its own list.

use super::{CoreEvent, EventBus};
use crate::error::Result;
use crate::send::OutboxState;
use crate::store::Store;
use std::collections::HashMap;
use std::time::Duration;

/// The relay running in the background; dropping it stops it.
pub struct Relay {
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    /// Reads `store` every `every` and emits on `events` what other processes changed since.
    /// What was there when it started is not announced.
    pub fn spawn(store: Store, events: EventBus, every: Duration) -> Relay {
        let task = tokio::spawn(async move {
            let mut marks = None;
            loop {
                match &mut marks {
                    None => match Marks::now(&store).await {
                        Ok(m) => marks = Some(m),
                        Err(e) => tracing::warn!(error = %e, "the event relay could not read the workspace"),
                    },
                    Some(m) => {
                        if let Err(e) = m.tick(&store, &events).await {
                            tracing::warn!(error = %e, "the event relay could not read the workspace");
                        }
                    }
                }
                tokio::time::sleep(every).await;
            }
        });
        Relay { task }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// How far the relay has seen.
struct Marks {
    /// The newest journal row with an outcome.
    applied: i64,
    outbox: Seen<OutboxState>,
    media: Seen<String>,
}

/// Rows of one table changed in the newest second seen, with the state announced: a row can
/// change twice within one second, so `updated_at` alone does not tell.
struct Seen<S> {
    rows: HashMap<i64, (S, i64)>,
    since: i64,
}

impl<S: PartialEq> Seen<S> {
    fn from(since: i64) -> Self {
        Seen {
            rows: HashMap::new(),
            since,
        }
    }

    /// Records a row read at `updated_at >= since`; true when its state is new to the relay.
    fn note(&mut self, id: i64, state: S, at: i64) -> bool {
        let new = self.rows.get(&id).map(|(s, _)| s) != Some(&state);
        self.rows.insert(id, (state, at));
        self.since = self.since.max(at);
        new
    }

    /// Forgets rows older than the newest second (they are not read again).
    fn settle(&mut self) {
        let since = self.since;
        self.rows.retain(|_, (_, at)| *at >= since);
    }
}

type OutboxChange = (i64, OutboxState, Option<i64>, i64);
type MediaChange = (i64, String, i64);

impl Marks {
    async fn now(store: &Store) -> Result<Marks> {
        let (applied, outbox, media): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM journal_apply), (SELECT COALESCE(MAX(updated_at), 0) FROM outbox),
                    (SELECT COALESCE(MAX(updated_at), 0) FROM media_download)",
        )
        .fetch_one(store.pool())
        .await?;
        let mut m = Marks {
            applied,
            outbox: Seen::from(outbox),
            media: Seen::from(media),
        };
        for (id, state, _, at) in m.outbox_changed(store).await? {
            m.outbox.note(id, state, at);
        }
        for (id, state, at) in m.media_changed(store).await? {
            m.media.note(id, state, at);
        }
        Ok(m)
    }

    async fn outbox_changed(&self, store: &Store) -> Result<Vec<OutboxChange>> {
        Ok(sqlx::query_as(
            "SELECT id, state, campaign_id, updated_at FROM outbox WHERE updated_at >= ? ORDER BY updated_at, id",
        )
        .bind(self.outbox.since)
        .fetch_all(store.pool())
        .await?)
    }

    async fn media_changed(&self, store: &Store) -> Result<Vec<MediaChange>> {
        Ok(sqlx::query_as(
            "SELECT message_id, state, updated_at FROM media_download WHERE updated_at >= ? ORDER BY updated_at, message_id",
        )
        .bind(self.media.since)
        .fetch_all(store.pool())
        .await?)
    }

    async fn tick(&mut self, store: &Store, events: &EventBus) -> Result<()> {
        let applied: i64 = sqlx::query_scalar("SELECT COALESCE(MAX(seq), 0) FROM journal_apply")
            .fetch_one(store.pool())
            .await?;
        if applied > self.applied {
            events.emit(CoreEvent::MirrorChanged {
                applied: (applied - self.applied) as u64,
            });
            self.applied = applied;
        }
        for (id, state, campaign_id, at) in self.outbox_changed(store).await? {
            if self.outbox.note(id, state, at) {
                events.emit(CoreEvent::Outbox { id, state, campaign_id });
            }
        }
        self.outbox.settle();
        for (message_id, state, at) in self.media_changed(store).await? {
            if self.media.note(message_id, state.clone(), at) {
                events.emit(CoreEvent::MediaChanged { message_id, state });
            }
        }
        self.media.settle();
        Ok(())
    }
}
