//! The timed workloads, each against one path's endpoint, each calling `mark` once its
//! warm-up is done (that is where the processes' CPU clocks start): sequential small calls on
//! one session (per-call latency), C sessions each making sequential calls (calls/s), large
//! echoes on one session (MB/s), and N sessions opened all at once, each making a few calls
//! and ending with DELETE (errors and wall time).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;
use tokio::sync::Barrier;

use crate::client::{Conn, Endpoint, Error};

/// A session opened and checked, then `warmup` calls (the first one checked in full).
async fn warm_session(ep: &Endpoint, message: &str, warmup: u64) -> Result<Conn, Error> {
    let mut c = Conn::open(ep).await?;
    c.check_server().await?;
    c.checked_call(1, message).await?;
    for id in 2..=warmup {
        c.call(id, message).await?;
    }
    Ok(c)
}

/// `n` calls one at a time on one session; each call's latency (request written to answer
/// read in full).
pub fn sequential(
    rt: &Runtime,
    ep: &Endpoint,
    n: u64,
    warmup: u64,
    message: &str,
    mark: &mut dyn FnMut(),
) -> Result<Vec<Duration>, Error> {
    rt.block_on(async {
        let mut c = warm_session(ep, message, warmup).await?;
        mark();
        let mut lat = Vec::with_capacity(n as usize);
        for id in 1_000_000..1_000_000 + n {
            let start = Instant::now();
            c.call(id, message).await?;
            lat.push(start.elapsed());
        }
        c.delete().await?;
        Ok(lat)
    })
}

/// `sessions` sessions, each on its own connection, each making `per_session` sequential
/// calls, all started together once every session is open and warm; the time from the start
/// to the last answer.
pub fn throughput(
    rt: &Runtime,
    ep: &Endpoint,
    sessions: usize,
    per_session: u64,
    warmup: u64,
    message: &str,
    mark: &mut dyn FnMut(),
) -> Result<Duration, Error> {
    rt.block_on(async {
        let barrier = Arc::new(Barrier::new(sessions + 1));
        let message: Arc<str> = message.into();
        let mut tasks = Vec::with_capacity(sessions);
        for _ in 0..sessions {
            let (ep, barrier, message) = (ep.clone(), barrier.clone(), message.clone());
            tasks.push(tokio::spawn(async move {
                let warm = warm_session(&ep, &message, warmup).await;
                // Wait even after a failure, so the others are not left at the barrier.
                barrier.wait().await;
                let mut c = warm?;
                for id in 1_000_000..1_000_000 + per_session {
                    c.call(id, &message).await?;
                }
                let done = Instant::now();
                c.delete().await?;
                Ok::<Instant, Error>(done)
            }));
        }
        barrier.wait().await;
        mark();
        let start = Instant::now();
        let mut last = start;
        for t in tasks {
            let done = t.await.map_err(|e| format!("session task: {e}"))??;
            last = last.max(done);
        }
        Ok(last - start)
    })
}

/// `n` calls on ONE session with `inflight` of them in flight at once (one connection per
/// call in flight, all naming the same session; each connection makes its calls one after
/// another, taking the next from a shared counter); the time from the start to the last answer.
pub fn in_flight(
    rt: &Runtime,
    ep: &Endpoint,
    n: u64,
    inflight: usize,
    warmup: u64,
    message: &str,
    mark: &mut dyn FnMut(),
) -> Result<Duration, Error> {
    rt.block_on(async {
        let mut first = warm_session(ep, message, warmup).await?;
        let mut conns = Vec::with_capacity(inflight);
        for _ in 1..inflight {
            let mut c = Conn::join(ep, &first).await?;
            // Each connection warm (and its id space its own) before the clock starts.
            c.call(500_000 + conns.len() as u64, message).await?;
            conns.push(c);
        }
        let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let message: Arc<str> = message.into();
        mark();
        let start = Instant::now();
        let mut tasks = Vec::with_capacity(inflight);
        for mut c in conns {
            let (next, message) = (next.clone(), message.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        return Ok::<(), Error>(());
                    }
                    c.call(1_000_000 + i, &message).await?;
                }
            }));
        }
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= n {
                break;
            }
            first.call(1_000_000 + i, &message).await?;
        }
        for t in tasks {
            t.await.map_err(|e| format!("in-flight task: {e}"))??;
        }
        let elapsed = start.elapsed();
        first.delete().await?;
        Ok(elapsed)
    })
}

/// `n` sequential echoes of the large `message` on one session; the elapsed time.
pub fn large(
    rt: &Runtime,
    ep: &Endpoint,
    n: u64,
    message: &str,
    mark: &mut dyn FnMut(),
) -> Result<Duration, Error> {
    rt.block_on(async {
        // One large call first, checked in full and unmeasured.
        let mut c = warm_session(ep, message, 1).await?;
        mark();
        let start = Instant::now();
        for id in 1_000_000..1_000_000 + n {
            c.call(id, message).await?;
        }
        let elapsed = start.elapsed();
        c.delete().await?;
        Ok(elapsed)
    })
}

/// What the many-sessions workload saw.
pub struct Many {
    pub wall: Duration,
    /// Each successful session's time from connect to DELETE answered.
    pub session_times: Vec<Duration>,
    pub errors: Vec<Error>,
}

/// `n` sessions started at once, each on its own connection: initialize, initialized,
/// `calls` echo calls, DELETE.
pub fn many_sessions(
    rt: &Runtime,
    ep: &Endpoint,
    n: usize,
    calls: u64,
    message: &str,
    mark: &mut dyn FnMut(),
) -> Many {
    rt.block_on(async {
        mark();
        let message: Arc<str> = message.into();
        let start = Instant::now();
        let tasks: Vec<_> = (0..n)
            .map(|_| {
                let (ep, message) = (ep.clone(), message.clone());
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let mut c = Conn::open(&ep).await?;
                    for id in 1..=calls {
                        c.call(id, &message).await?;
                    }
                    c.delete().await?;
                    Ok::<Duration, Error>(t0.elapsed())
                })
            })
            .collect();
        let mut many = Many {
            wall: Duration::ZERO,
            session_times: Vec::with_capacity(n),
            errors: Vec::new(),
        };
        for t in tasks {
            match t.await {
                Ok(Ok(d)) => many.session_times.push(d),
                Ok(Err(e)) => many.errors.push(e),
                Err(e) => many.errors.push(format!("session task: {e}")),
            }
        }
        many.wall = start.elapsed();
        many
    })
}
