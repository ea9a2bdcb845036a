//! Below the WebSocket: accepting TCP connections, TLS, and HTTP/1.1 with upgrades, with every
//! cost bounded before a connection has proved anything.
//!
//! - **Open connections** are capped ([`Limits::max_open`]): each holds a permit for as long as
//!   its socket lives (a WebSocket's too, after the upgrade). At the cap the loop stops accepting
//!   and new connections wait in the kernel's backlog, costing no descriptor of ours.
//! - **Unproven connections** (accepted, no complete request head yet: idle sockets, slowloris,
//!   TLS handshakes) are capped much lower ([`Limits::max_unproven`]); when one more arrives, the
//!   oldest is dropped. So 2,000 idle sockets hold at most that many descriptors, and a real
//!   client, which sends its request at once, always gets through.
//! - **Time**: a TLS handshake and every request head (the first, and each on a kept-alive
//!   connection) must arrive within [`Limits::head_timeout`]; a write that the client does not
//!   take for [`Limits::write_stall`] ends the connection (a client that never reads its
//!   answers holds nothing for long).
//! - **One address** (an IPv6 /64 counting as one) may hold at most
//!   [`Limits::max_per_address`] connections, so that one host cannot take every slot; loopback
//!   and trusted proxies, which speak for many clients, are exempt.
//!
//! axum's own `serve` has none of these knobs (no header timeout, no connection cap), so the
//! loop is ours; requests still go to the same axum router, with `ConnectInfo` set.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower_service::Service;

use super::lockout::address_key;

/// The bounds of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once, of every kind.
    pub max_open: usize,
    /// Connections open at once that have not sent a complete request head yet.
    pub max_unproven: usize,
    /// Time allowed for a TLS handshake, and for each request head.
    pub head_timeout: Duration,
    /// How long a write may wait for the client to take it.
    pub write_stall: Duration,
    /// Connections open at once from one address (not loopback, not a trusted proxy).
    pub max_per_address: usize,
}

/// How long the loop rests after a failed accept (out of descriptors: let some close).
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts connections on `listener` and serves `router` on them until `cancel`; every
/// connection is tracked on `tracker`, and closes gracefully on `cancel`.
pub async fn run(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    router: Router,
    limits: Limits,
    exempt: impl Fn(IpAddr) -> bool,
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let open = Arc::new(Semaphore::new(limits.max_open));
    let unproven = Arc::new(Unproven::new(limits.max_unproven));
    let per_address = Arc::new(PerAddress::default());
    loop {
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            permit = open.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            },
        };
        let address = (!exempt(peer.ip())).then(|| address_key(peer.ip()));
        let Some(share) = per_address.take(address, limits.max_per_address) else {
            tracing::debug!(%peer, "refused a connection: too many from its address");
            continue; // dropped: closed at once
        };
        // Responses are small and latency matters more than packing: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let ticket = Arc::new(unproven.admit());
        let connection = Connection {
            tcp: Counted {
                io: tcp,
                write_stall: limits.write_stall,
                stalled: None,
                _permit: permit,
                _share: share,
            },
            peer,
            router: router.clone(),
            ticket,
            head_timeout: limits.head_timeout,
            cancel: cancel.clone(),
        };
        tracker.spawn(connection.serve(tls.clone()));
    }
}

/// One accepted connection, before and during HTTP.
struct Connection {
    tcp: Counted<TcpStream>,
    peer: SocketAddr,
    router: Router,
    ticket: Arc<Ticket>,
    head_timeout: Duration,
    cancel: CancellationToken,
}

impl Connection {
    async fn serve(self, tls: Option<TlsAcceptor>) {
        let evicted = self.ticket.evicted.clone();
        let peer = self.peer;
        tokio::select! {
            _ = evicted.cancelled() => {
                tracing::debug!(%peer, "dropped an idle connection: too many connections had sent nothing");
            }
            _ = self.run(tls) => {}
        }
    }

    async fn run(self, tls: Option<TlsAcceptor>) {
        let Connection {
            tcp,
            peer,
            router,
            ticket,
            head_timeout,
            cancel,
        } = self;
        let Some(acceptor) = tls else {
            return http(tcp, peer, router, ticket, head_timeout, cancel).await;
        };
        match tokio::time::timeout(head_timeout, acceptor.accept(tcp)).await {
            Ok(Ok(stream)) => http(stream, peer, router, ticket, head_timeout, cancel).await,
            Ok(Err(e)) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
            Err(_) => tracing::debug!(%peer, "TLS handshake timed out"),
        }
    }
}

/// Serves HTTP/1.1 (and upgrades to WebSocket) on one connection.
async fn http<I>(
    io: I,
    peer: SocketAddr,
    router: Router,
    ticket: Arc<Ticket>,
    head_timeout: Duration,
    cancel: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
        // A whole request head arrived: this connection has proved it speaks HTTP.
        ticket.prove();
        let mut request = request.map(axum::body::Body::new);
        request.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { router.call(request).await }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(head_timeout)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(e) = result {
                tracing::debug!(%peer, "connection ended: {e}");
            }
        }
        _ = cancel.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// The connections that have not proved themselves yet, oldest first.
struct Unproven {
    cap: usize,
    queue: Mutex<VecDeque<(u64, CancellationToken)>>,
    next: AtomicU64,
}

/// One connection's place among the unproven; leaves it when proved or dropped.
struct Ticket {
    id: u64,
    evicted: CancellationToken,
    proved: AtomicBool,
    registry: Arc<Unproven>,
}

impl Unproven {
    fn new(cap: usize) -> Unproven {
        Unproven {
            cap: cap.max(1),
            queue: Mutex::new(VecDeque::new()),
            next: AtomicU64::new(0),
        }
    }

    /// Registers a new connection, evicting the oldest unproven one if the cap is reached.
    fn admit(self: &Arc<Self>) -> Ticket {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let evicted = CancellationToken::new();
        let mut queue = self.lock();
        while queue.len() >= self.cap {
            if let Some((_, oldest)) = queue.pop_front() {
                oldest.cancel();
            }
        }
        queue.push_back((id, evicted.clone()));
        drop(queue);
        Ticket {
            id,
            evicted,
            proved: AtomicBool::new(false),
            registry: self.clone(),
        }
    }

    fn leave(&self, id: u64) {
        let mut queue = self.lock();
        if let Some(at) = queue.iter().position(|(queued, _)| *queued == id) {
            queue.remove(at);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(u64, CancellationToken)>> {
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Ticket {
    fn prove(&self) {
        if !self.proved.swap(true, Ordering::AcqRel) {
            self.registry.leave(self.id);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.prove();
    }
}

/// How many connections each address holds.
#[derive(Default)]
struct PerAddress {
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's share of its address's count; given back on drop.
struct Share {
    address: Option<IpAddr>,
    registry: Arc<PerAddress>,
}

impl PerAddress {
    /// A share for one more connection from `address` (`None`: exempt), unless it holds
    /// `max` already.
    fn take(self: &Arc<Self>, address: Option<IpAddr>, max: usize) -> Option<Share> {
        if let Some(address) = address {
            let mut counts = self.lock();
            let count = counts.entry(address).or_insert(0);
            if *count >= max {
                return None;
            }
            *count += 1;
        }
        Some(Share {
            address,
            registry: self.clone(),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let Some(address) = self.address else { return };
        let mut counts = self.registry.lock();
        if let Some(count) = counts.get_mut(&address) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&address);
            }
        }
    }
}

/// A socket that holds its slot among the open connections (and its address's share) for as
/// long as it lives, and fails a write that the client has not taken for `write_stall`.
struct Counted<I> {
    io: I,
    write_stall: Duration,
    /// Since when writes have been waiting, while they wait.
    stalled: Option<Pin<Box<tokio::time::Sleep>>>,
    _permit: OwnedSemaphorePermit,
    _share: Share,
}

impl<I> Counted<I> {
    /// Passes a write's outcome through, failing it once writes have waited too long.
    fn watch<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<std::io::Result<T>>,
    ) -> Poll<std::io::Result<T>> {
        if poll.is_ready() {
            self.stalled = None;
            return poll;
        }
        let stall = self.write_stall;
        let deadline = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(stall)));
        if deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "the client took nothing for too long",
            )));
        }
        Poll::Pending
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for Counted<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Counted<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write(cx, buf);
        self.watch(cx, poll)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let poll = Pin::new(&mut self.io).poll_flush(cx);
        self.watch(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let poll = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.watch(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A client that takes nothing: the write fails after the stall time, not never.
    #[tokio::test]
    async fn a_write_nobody_takes_fails_after_the_stall_time() {
        use tokio::io::AsyncWriteExt;
        let (near, _far) = tokio::io::duplex(64);
        let mut counted = Counted {
            io: near,
            write_stall: Duration::from_millis(50),
            stalled: None,
            _permit: Arc::new(Semaphore::new(1)).acquire_owned().await.unwrap(),
            _share: Arc::new(PerAddress::default()).take(None, 1).unwrap(),
        };
        let started = tokio::time::Instant::now();
        let written = tokio::time::timeout(Duration::from_secs(5), counted.write_all(&[0u8; 4096]))
            .await
            .expect("the write gives up by itself");
        assert_eq!(written.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn one_address_holds_at_most_its_share_and_gets_it_back() {
        let per_address = Arc::new(PerAddress::default());
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8::ffff".parse().unwrap();
        let shares: Vec<Share> = (0..3)
            .map(|_| per_address.take(Some(address_key(a)), 3).unwrap())
            .collect();
        assert!(per_address.take(Some(address_key(same_64)), 3).is_none());
        assert!(
            per_address.take(None, 3).is_some(),
            "exempt addresses are not counted"
        );
        drop(shares);
        assert!(per_address.lock().is_empty());
        assert!(per_address.take(Some(address_key(same_64)), 3).is_some());
    }

    #[test]
    fn the_oldest_unproven_connection_makes_room_and_proved_ones_leave() {
        let unproven = Arc::new(Unproven::new(3));
        let tickets: Vec<Ticket> = (0..5).map(|_| unproven.admit()).collect();
        assert_eq!(unproven.len(), 3);
        assert!(tickets[0].evicted.is_cancelled() && tickets[1].evicted.is_cancelled());
        assert!(tickets[2..].iter().all(|t| !t.evicted.is_cancelled()));
        tickets[4].prove();
        assert_eq!(unproven.len(), 2);
        let newer = unproven.admit();
        assert!(!tickets[2].evicted.is_cancelled(), "a proved one left room");
        drop(tickets);
        assert_eq!(unproven.len(), 1);
        drop(newer);
        assert_eq!(unproven.len(), 0);
    }
}
