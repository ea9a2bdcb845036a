//! The event bus: every event the engine (or the API layer, for session changes) publishes
//! reaches every subscriber, serialized once for all of them. A subscriber that falls more than
//! [`CAPACITY`] events behind lags, and is resynced by its connection (see `server/connection.rs`).

use tokio::sync::broadcast;

use crate::protocol::{Event, Published};

/// How many events the bus holds for a slow subscriber before it lags.
const CAPACITY: usize = 1024;

pub struct Bus {
    sender: broadcast::Sender<Published>,
}

impl Bus {
    pub fn new() -> Bus {
        Bus {
            sender: broadcast::channel(CAPACITY).0,
        }
    }

    /// Publishes an event to every subscriber (none is fine).
    pub fn publish(&self, event: Event) {
        let _ = self.sender.send(Published::new(event));
    }

    /// A new receiver of every event published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Published> {
        self.sender.subscribe()
    }
}
