//! The tokio runtime that runs the engine and the server, with timers that may coalesce.
//!
//! librqbit keeps timers in the tasks it spawns: each task has a 5-second "still running" trace
//! tick (every torrent has such a task even when paused: its fast-resume flusher), and every
//! running torrent samples its speed each 100 ms. With 1,000 torrents that is 200 (paused) to
//! 10,000 (running) timer expiries a second, at scattered instants, and the runtime woke for
//! nearly each one. Measured on `magnetar serve` with 1,000 paused torrents: 1,258 `epoll_wait`
//! returns in 10 s and 0.75 % of a core, all in wake-ups (scheduler, timer wheel, kernel).
//!
//! Linux coalesces timers for a thread that allows it: its *timer slack* lets the kernel end a
//! timed wait up to that much later, together with other expiries. With [`TIMER_SLACK`] on the
//! runtime's threads the same process woke 121 times in 10 s and used 0.1 to 0.2 % of a core;
//! with the 1,000 torrents running but stalled (no peers), 5.5 % instead of 11 %.
//!
//! The cost: a timer may fire up to [`TIMER_SLACK`] late. Nothing here needs better. Readiness
//! of a socket or file and a task's notification wake a thread at once (slack only stretches
//! timeouts); librqbit's rate limits allow a burst of one second, so a late wake-up loses no
//! bandwidth; the watcher's 250 ms tick is a cadence, not a deadline. Only the runtime's own
//! threads get it: the desktop's GTK thread (and the WebKit processes it starts, which would
//! inherit it) keep the default, so the window still animates smoothly.

use std::time::Duration;

/// How late the kernel may end a timed wait of the runtime's threads, to wake once for many.
pub const TIMER_SLACK: Duration = Duration::from_millis(50);

/// A multi-threaded runtime (one worker per core) whose threads allow [`TIMER_SLACK`].
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(allow_timer_slack)
        .build()
}

/// Sets the calling thread's timer slack to [`TIMER_SLACK`] (Linux only; elsewhere nothing).
fn allow_timer_slack() {
    #[cfg(target_os = "linux")]
    {
        let nanos = TIMER_SLACK.as_nanos() as libc::c_ulong;
        // SAFETY: PR_SET_TIMERSLACK only sets a number on the calling thread.
        let result = unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanos, 0, 0, 0) };
        if result != 0 {
            tracing::debug!("timer slack not set: {}", std::io::Error::last_os_error());
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The runtime's threads (workers and blocking threads alike) carry the slack; the thread
    /// that built it does not.
    #[test]
    fn runtime_threads_allow_the_slack_and_only_they() {
        let slack_of_this_thread = || unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
        let before = slack_of_this_thread();
        let runtime = build().unwrap();
        let worker = runtime.block_on(async {
            tokio::spawn(async move { slack_of_this_thread() })
                .await
                .unwrap()
        });
        let blocking = runtime
            .block_on(runtime.spawn_blocking(slack_of_this_thread))
            .unwrap();
        let wanted = TIMER_SLACK.as_nanos() as i32;
        assert_eq!(worker, wanted);
        assert_eq!(blocking, wanted);
        assert_eq!(slack_of_this_thread(), before);
        assert_ne!(before, wanted);
    }
}
