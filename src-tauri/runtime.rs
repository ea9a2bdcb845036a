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
//! The cost: a timer may fire up to [`TIMER_SLACK`] late, and while data flows that is a cost:
//! with the slack always on, Magnetar's 1 GiB downloads were 1 to 7 % slower than the rqbit CLI
//! where they had been level (`magnetar-bench download`, the same runs with and without it). So
//! the slack is on only while the engine is quiet: the watcher calls [`relax_timers`] with
//! `false` as soon as any task has a peer connected, and with `true` once none has. Readiness of
//! a socket or file and a task's notification wake a thread at once whatever the slack (it only
//! stretches timeouts), and the watcher's 250 ms tick is a cadence, not a deadline.
//!
//! Only the runtime's worker threads take it, each when it parks or wakes (a thread can only set
//! its own): not its blocking threads, which do the disk I/O, and not the desktop's GTK thread
//! (nor the WebKit processes it starts, which would inherit it), so the window still animates
//! smoothly.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How late the kernel may end a timed wait of the runtime's threads, to wake once for many.
pub const TIMER_SLACK: Duration = Duration::from_millis(50);

/// The most threads the runtime's blocking pool may hold.
///
/// librqbit does its disk work in `block_in_place`, at most 8 sections at a time (its default,
/// which Magnetar keeps). Each such section hands its worker's role to another pool thread, and
/// tokio's default cap is 512. In a 1 GiB download of 200 files, with aria2c seeding, the pool
/// grew to 140 threads. Peak RSS followed the thread count: 26.7 MiB at 140 threads against
/// 17.5 MiB at 40. The rqbit CLI caps its pool at 8 and peaked at 22.9 MiB.
///
/// 16 leaves room beside librqbit's 8 for its handed-off workers and Magnetar's own brief
/// blocking calls (sidecar saves, memory trims, reading a `.torrent`). None of these waits
/// behind the disk.
pub const MAX_BLOCKING_THREADS: usize = 16;

/// Whether the runtime's workers may coalesce their timers now (see [`relax_timers`]).
static RELAXED: AtomicBool = AtomicBool::new(true);

/// Lets the engine say whether it is quiet (no peer connected to any task): then the workers
/// allow [`TIMER_SLACK`]; otherwise they keep the system's default. Takes effect as each worker
/// next parks or wakes.
pub fn relax_timers(relaxed: bool) {
    RELAXED.store(relaxed, Ordering::Relaxed);
}

/// A multi-threaded runtime (one worker per core) whose workers allow [`TIMER_SLACK`] while the
/// engine is quiet.
pub fn build() -> std::io::Result<tokio::runtime::Runtime> {
    build_following(&RELAXED)
}

/// [`build`], with the workers following `relaxed` (a test gives its own).
fn build_following(relaxed: &'static AtomicBool) -> std::io::Result<tokio::runtime::Runtime> {
    // A new thread inherits its creator's slack: a blocking thread started by a relaxed worker
    // would keep 50 ms for good. So every thread starts from the builder's own (the default).
    let default = current_timer_slack();
    let follow = move || apply_timer_slack(relaxed.load(Ordering::Relaxed), default);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .on_thread_start(move || apply_timer_slack(false, default))
        .on_thread_park(follow)
        .on_thread_unpark(follow)
        .build()
}

thread_local! {
    /// Whether this thread last asked for the slack (`None`: it never asked).
    static APPLIED: Cell<Option<bool>> = const { Cell::new(None) };
}

/// The calling thread's timer slack in nanoseconds (Linux; 0 elsewhere).
fn current_timer_slack() -> u64 {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_GET_TIMERSLACK only reads the calling thread's number.
        let nanos = unsafe { libc::prctl(libc::PR_GET_TIMERSLACK, 0, 0, 0, 0) };
        u64::try_from(nanos).unwrap_or(0)
    }
    #[cfg(not(target_os = "linux"))]
    0
}

/// Sets the calling thread's timer slack to [`TIMER_SLACK`] when `relaxed`, else to
/// `default_nanos`, if that changes anything (a parking worker pays one thread-local read
/// otherwise). Linux only; elsewhere nothing.
fn apply_timer_slack(relaxed: bool, default_nanos: u64) {
    if APPLIED.get() == Some(relaxed) {
        return;
    }
    APPLIED.set(Some(relaxed));
    #[cfg(target_os = "linux")]
    {
        let nanos = if relaxed {
            TIMER_SLACK.as_nanos() as u64
        } else {
            default_nanos
        };
        if nanos == 0 {
            return; // unknown default: leave it
        }
        // SAFETY: PR_SET_TIMERSLACK only sets a number on the calling thread.
        let result =
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, nanos as libc::c_ulong, 0, 0, 0) };
        if result != 0 {
            tracing::debug!("timer slack not set: {}", std::io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = default_nanos;
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn slack_of_this_thread() -> u64 {
        current_timer_slack()
    }

    /// The workers follow the flag, both ways; blocking threads and the thread that built the
    /// runtime keep the default.
    #[test]
    fn workers_allow_the_slack_only_while_relaxed() {
        static FLAG: AtomicBool = AtomicBool::new(true);
        let default = slack_of_this_thread();
        let wanted = TIMER_SLACK.as_nanos() as u64;
        assert_ne!(default, wanted);
        let runtime = build_following(&FLAG).unwrap();
        let on_a_worker = |runtime: &tokio::runtime::Runtime| {
            // Let every worker park first, so that the next task wakes one.
            std::thread::sleep(Duration::from_millis(50));
            runtime.block_on(async { tokio::spawn(async { slack_of_this_thread() }).await })
        };
        assert_eq!(on_a_worker(&runtime).unwrap(), wanted);
        FLAG.store(false, Ordering::Relaxed);
        assert_eq!(on_a_worker(&runtime).unwrap(), default);
        FLAG.store(true, Ordering::Relaxed);
        assert_eq!(on_a_worker(&runtime).unwrap(), wanted);
        // A blocking thread started from a relaxed worker does not inherit its slack.
        let blocking = runtime.block_on(async {
            tokio::spawn(async { tokio::task::spawn_blocking(slack_of_this_thread).await }).await
        });
        assert_eq!(blocking.unwrap().unwrap(), default);
        assert_eq!(slack_of_this_thread(), default);
    }

    /// However much blocking work piles up at once, it runs on at most
    /// [`MAX_BLOCKING_THREADS`] threads: the rest waits its turn.
    #[test]
    fn the_blocking_pool_never_grows_past_its_cap() {
        let runtime = build().unwrap();
        let threads: std::collections::HashSet<_> = runtime.block_on(async {
            let work: Vec<_> = (0..64)
                .map(|_| {
                    tokio::task::spawn_blocking(|| {
                        std::thread::sleep(Duration::from_millis(20));
                        std::thread::current().id()
                    })
                })
                .collect();
            let mut ids = std::collections::HashSet::new();
            for one in work {
                ids.insert(one.await.unwrap());
            }
            ids
        });
        assert!(threads.len() <= MAX_BLOCKING_THREADS, "{}", threads.len());
        assert!(threads.len() > 1, "the work ran on one thread only");
    }
}

/// Raises this process's soft limit on open files to its hard limit, and logs the result.
///
/// librqbit keeps every file of every torrent open (paused ones too, and a `.bitv` each), and
/// each client holds a socket: the usual desktop soft limit of 1,024 is met by one torrent of
/// 1,000 files, or by 1,000 idle sockets. The hard limit is what the system allows us.
pub fn raise_descriptor_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit/setrlimit only read and write the struct passed.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
            tracing::warn!(
                "cannot read the open-file limit: {}",
                std::io::Error::last_os_error()
            );
            return;
        }
        let before = limit.rlim_cur;
        if before >= limit.rlim_max {
            tracing::info!(limit = before, "open-file limit");
            return;
        }
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: as above.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } == 0 {
            tracing::info!(before, after = limit.rlim_cur, "raised the open-file limit");
        } else {
            tracing::warn!(
                before,
                "cannot raise the open-file limit: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}
