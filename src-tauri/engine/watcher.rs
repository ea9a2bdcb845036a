//! librqbit has no event stream, so the watcher polls it and turns differences into events:
//! `task.stateUpdated` on every real transition (checked four times a second, and at once when an
//! API call pokes it) and `task.updated` about once a second with only the tasks whose numbers
//! changed, so that an idle session sends nothing.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Engine;

/// How often states are compared.
const STATE_INTERVAL: Duration = Duration::from_millis(250);
/// Every how many state checks the full numbers are sampled and `task.updated` is sent.
const TICKS_PER_UPDATE: u32 = 4;

/// Runs until `cancel` fires.
pub async fn run(engine: Engine, cancel: CancellationToken) {
    let mut interval = tokio::time::interval(STATE_INTERVAL);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick: u32 = 0;
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = interval.tick() => {
                tick = tick.wrapping_add(1);
                engine.observe(tick.is_multiple_of(TICKS_PER_UPDATE));
            }
            _ = engine.poked() => engine.observe(false),
        }
    }
}
