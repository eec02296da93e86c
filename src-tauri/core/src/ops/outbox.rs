//! The outbox as people manage it: what waits, what is held after a restore, what may have gone
//! out already. Everything that changes a send is audited; what can deliver a message twice or
//! lets held messages go out is the owner's call.

use super::Ctx;
use crate::audit::Action;
use crate::error::{CoreError, Result};
use crate::send::outbox::{cancel_queued, release_held, requeue_uncertain};
use crate::send::{OutboxRow, OutboxState};
use serde_json::json;

/// The outbox, oldest first; only rows in `state` when given.
pub async fn list(ctx: &Ctx<'_>, state: Option<OutboxState>) -> Result<Vec<OutboxRow>> {
    ctx.store.outbox_rows(state.map(OutboxState::as_str)).await
}

/// Sends an `uncertain` message again. Meta may have taken it already, so the customer can get it
/// twice: the owner decides, and must say so (`confirmed`).
pub async fn resend(ctx: &Ctx<'_>, id: i64, confirmed: bool, now_ms: i64) -> Result<()> {
    ctx.owner("resend a message that may have reached the customer").await?;
    if !confirmed {
        return Err(CoreError::Invalid(format!(
            "outbox #{id} may already have reached the customer; resending can deliver it twice. Confirm to resend."
        )));
    }
    let now = ctx.now;
    ctx.store
        .audited(now, &ctx.actor, Action::OutboxResend, Some(&id.to_string()), |tx| {
            Box::pin(async move {
                if !requeue_uncertain(tx, id, now, now_ms).await? {
                    // Rolled back: a refusal leaves no audit entry.
                    return Err(CoreError::Invalid(format!(
                        "outbox #{id} is not uncertain; only uncertain sends can be resent"
                    )));
                }
                Ok(((), json!({"outbox": id})))
            })
        })
        .await
}

/// Withdraws a queued send before it goes out (anyone at the desk may).
pub async fn cancel(ctx: &Ctx<'_>, id: i64) -> Result<()> {
    let now = ctx.now;
    ctx.store
        .audited(now, &ctx.actor, Action::OutboxCancel, Some(&id.to_string()), |tx| {
            Box::pin(async move {
                if !cancel_queued(tx, id, now).await? {
                    return Err(CoreError::Invalid(format!(
                        "outbox #{id} is not queued; only queued sends can be cancelled"
                    )));
                }
                Ok(((), json!({"outbox": id})))
            })
        })
        .await
}

/// Lets held sends go out: one (`Some(id)`), or every held send and follow-up (`None`). Held
/// messages were waiting when a restored backup was taken and may have been sent since: the
/// owner checks first. How many were released.
pub async fn release(ctx: &Ctx<'_>, id: Option<i64>) -> Result<u64> {
    ctx.owner("release messages held after a restore").await?;
    let now = ctx.now;
    let subject = id.map(|i| i.to_string()).unwrap_or_else(|| "all".into());
    ctx.store
        .audited(now, &ctx.actor, Action::OutboxRelease, Some(&subject), |tx| {
            Box::pin(async move {
                let n = release_held(tx, id, now).await?;
                if n == 0 {
                    return Err(CoreError::Invalid("no held message to release".into()));
                }
                Ok((n, json!({"outbox": id, "released": n})))
            })
        })
        .await
}
