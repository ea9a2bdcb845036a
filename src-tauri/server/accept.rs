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
//!   connection) must arrive within [`Limits::head_timeout`].
//!
//! axum's own `serve` has none of these knobs (no header timeout, no connection cap), so the
//! loop is ours; requests still go to the same axum router, with `ConnectInfo` set.

use std::collections::VecDeque;
use std::net::SocketAddr;
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

/// The bounds of the accept loop.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once, of every kind.
    pub max_open: usize,
    /// Connections open at once that have not sent a complete request head yet.
    pub max_unproven: usize,
    /// Time allowed for a TLS handshake, and for each request head.
    pub head_timeout: Duration,
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
    cancel: CancellationToken,
    tracker: TaskTracker,
) {
    let open = Arc::new(Semaphore::new(limits.max_open));
    let unproven = Arc::new(Unproven::new(limits.max_unproven));
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
        // Responses are small and latency matters more than packing: no Nagle delay.
        let _ = tcp.set_nodelay(true);
        let ticket = Arc::new(unproven.admit());
        let connection = Connection {
            tcp: Counted {
                io: tcp,
                _permit: permit,
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

/// A socket that holds its slot among the open connections for as long as it lives.
struct Counted<I> {
    io: I,
    _permit: OwnedSemaphorePermit,
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
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
