//! The front door's connections: a cap on how many are open at once and a deadline for each
//! request's headers, so clients that connect and never finish a request (slowloris) cannot
//! hold the gateway's file descriptors. A connection beyond the cap is closed as soon as it is
//! accepted; one that has not delivered a complete request head within the deadline is closed.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tower::ServiceExt;

/// What a connection may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Most connections open at once; more are closed on accept.
    pub max_connections: usize,
    /// Longest a connection may take to send a complete request head (its first one from
    /// accept, each later one from when the previous response ended).
    pub header_read_timeout: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves; then stops accepting, asks every
/// connection to finish, and returns once they have (the caller bounds that wait).
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections.max(1)));
    let refused = AtomicU64::new(0);
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    accept_failed(&e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            // Closed at once: the descriptor goes back now, not when the client gives up.
            let n = refused.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() || n == 0 {
                tracing::warn!(
                    refused = n + 1,
                    max_connections = limits.max_connections,
                    "max_connections reached: a connection was closed on accept"
                );
            }
            drop(tcp);
            continue;
        };
        if let Err(e) = tcp.set_nodelay(true) {
            // Small writes (an SSE event after its headers) go out at once.
            tracing::debug!("TCP_NODELAY: {e}");
        }
        let served = Arc::new(AtomicBool::new(false));
        let io = TokioIo::new(FirstHead {
            io: tcp,
            deadline: Some(Box::pin(tokio::time::sleep(limits.header_read_timeout))),
            served: served.clone(),
        });
        let app = app.clone();
        let service = hyper::service::service_fn(move |req: hyper::Request<Incoming>| {
            served.store(true, Ordering::Relaxed);
            app.clone().oneshot(req.map(Body::new))
        });
        let conn = graceful.watch(builder.serve_connection(io, service).into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Like axum's own loop: a connection that failed on accept is skipped; anything else (out of
/// descriptors) waits a moment rather than spinning.
async fn accept_failed(e: &std::io::Error) {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    if matches!(
        e.kind(),
        ConnectionRefused | ConnectionAborted | ConnectionReset
    ) {
        return;
    }
    tracing::error!("accept: {e}");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// A connection that must deliver its first complete request head (of either HTTP version)
/// before its deadline: reading fails with `TimedOut` after it. hyper's own header timeout
/// covers HTTP/1 heads after the first, but not the wait before hyper knows the version.
struct FirstHead {
    io: TcpStream,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    served: Arc<AtomicBool>,
}

impl AsyncRead for FirstHead {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        if this.served.load(Ordering::Relaxed) {
            this.deadline = None;
        }
        if let Some(d) = this.deadline.as_mut()
            && d.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no complete request head before header_read_timeout",
            )));
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for FirstHead {
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
