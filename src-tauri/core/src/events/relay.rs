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
    /// Outbox rows changed in the newest second seen, with the state announced (a row can change
    /// twice within one second, so the second alone does not tell).
    outbox: HashMap<i64, (OutboxState, i64)>,
    since: i64,
    /// The same for media downloads.
    media: HashMap<i64, (String, i64)>,
    media_since: i64,
}

type MediaChange = (i64, String, i64);

type OutboxChange = (i64, OutboxState, Option<i64>, i64);

impl Marks {
    async fn now(store: &Store) -> Result<Marks> {
        let (applied, since, media_since): (i64, i64, i64) = sqlx::query_as(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM journal_apply), (SELECT COALESCE(MAX(updated_at), 0) FROM outbox),
                    (SELECT COALESCE(MAX(updated_at), 0) FROM media_download)",
        )
        .fetch_one(store.pool())
        .await?;
        let mut m = Marks {
            applied,
            outbox: HashMap::new(),
            since,
            media: HashMap::new(),
            media_since,
        };
        for (id, state, _, at) in m.changed(store).await? {
            m.outbox.insert(id, (state, at));
        }
        for (id, state, at) in m.media_changed(store).await? {
            m.media.insert(id, (state, at));
        }
        Ok(m)
    }

    async fn media_changed(&self, store: &Store) -> Result<Vec<MediaChange>> {
        Ok(sqlx::query_as(
            "SELECT message_id, state, updated_at FROM media_download WHERE updated_at >= ? ORDER BY updated_at, message_id",
        )
        .bind(self.media_since)
        .fetch_all(store.pool())
        .await?)
    }

    async fn changed(&self, store: &Store) -> Result<Vec<OutboxChange>> {
        Ok(sqlx::query_as(
            "SELECT id, state, campaign_id, updated_at FROM outbox WHERE updated_at >= ? ORDER BY updated_at, id",
        )
        .bind(self.since)
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
        for (id, state, campaign_id, at) in self.changed(store).await? {
            if self.outbox.get(&id).map(|(s, _)| *s) != Some(state) {
                events.emit(CoreEvent::Outbox { id, state, campaign_id });
            }
            self.outbox.insert(id, (state, at));
            self.since = self.since.max(at);
        }
        let since = self.since;
        self.outbox.retain(|_, (_, at)| *at >= since);
        for (message_id, state, at) in self.media_changed(store).await? {
            if self.media.get(&message_id).map(|(s, _)| s.as_str()) != Some(state.as_str()) {
                events.emit(CoreEvent::MediaChanged {
                    message_id,
                    state: state.clone(),
                });
            }
            self.media.insert(message_id, (state, at));
            self.media_since = self.media_since.max(at);
        }
        let media_since = self.media_since;
        self.media.retain(|_, (_, at)| *at >= media_since);
        Ok(())
    }
}
