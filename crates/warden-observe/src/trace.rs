//! OTLP/HTTP trace export. Spans ([`Span`]) are built on the data path (no I/O there) and
//! handed to a bounded queue; a thread of its own batches them, encodes each batch once as OTLP
//! protobuf ([`crate::otlp::Encoder`]) and posts it over HTTP, retrying the same bytes with
//! exponential backoff. When the queue is full a span is dropped and counted: traffic never
//! waits for the collector, and an endpoint that is down costs nothing but dropped spans. Also
//! the W3C `traceparent` reading.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError, TrySendError, bounded};
use prometheus_client::metrics::counter::Counter;

use crate::otlp::Encoder;
use crate::span::{Span, SpanId, TraceId};

/// Where and how spans are exported.
#[derive(Clone, Debug)]
pub struct TraceConfig {
    /// The collector's OTLP/HTTP base URL (`/v1/traces` is appended unless present).
    pub endpoint: String,
    /// Extra request headers (e.g. `authorization`).
    pub headers: Vec<(String, String)>,
    /// PEM certificates (a private CA) trusted for an `https://` collector, besides the
    /// system's trust store.
    pub ca_file: Option<std::path::PathBuf>,
    /// Spans that may wait for export before new ones are dropped.
    pub queue: usize,
    /// Most spans per export request.
    pub batch: usize,
    /// Longest a span waits for its batch to fill.
    pub flush: Duration,
    /// Per request.
    pub timeout: Duration,
    /// Retries after a failed export, with backoff doubling from `backoff` up to `max_backoff`.
    pub retries: u32,
    pub backoff: Duration,
    pub max_backoff: Duration,
    pub service_name: String,
    /// Share of exchanges traced when no parent decided (0..=1); a `traceparent` from the
    /// client is followed (its sampled flag decides).
    pub sample_ratio: f64,
}

impl Default for TraceConfig {
    fn default() -> TraceConfig {
        TraceConfig {
            endpoint: "http://127.0.0.1:4318".into(),
            headers: Vec::new(),
            ca_file: None,
            queue: 2048,
            batch: 512,
            flush: Duration::from_secs(1),
            timeout: Duration::from_secs(5),
            retries: 3,
            backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            service_name: "warden".into(),
            sample_ratio: 1.0,
        }
    }
}

impl TraceConfig {
    /// The URL spans are posted to.
    pub fn traces_url(&self) -> String {
        let base = self.endpoint.trim_end_matches('/');
        if base.ends_with("/v1/traces") {
            base.to_owned()
        } else {
            format!("{base}/v1/traces")
        }
    }
}

/// Counts of what happened to spans (the `warden_trace_spans_total` counters).
#[derive(Clone, Debug, Default)]
pub struct TraceStats {
    pub exported: Counter,
    pub failed: Counter,
    pub dropped: Counter,
}

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("OTLP endpoint `{0}` is not an http:// or https:// URL")]
    Endpoint(String),
    #[error("the trace sample ratio must be between 0 and 1, not {0}")]
    Ratio(f64),
    #[error("cannot start the trace exporter: {0}")]
    Start(String),
}

/// The exporter: a queue and the thread that drains it. Shared by the threads that trace
/// (every method takes `&self`).
pub struct Tracer {
    tx: Sender<Span>,
    stats: TraceStats,
    done: Receiver<()>,
    /// Set by `shutdown`: new spans are no longer queued, and the export thread exports what
    /// is queued (one try each) and ends.
    closing: Arc<AtomicBool>,
    sample_ratio: f64,
}

impl Tracer {
    pub fn start(cfg: TraceConfig, stats: TraceStats) -> Result<Tracer, TraceError> {
        if !(cfg.endpoint.starts_with("http://") || cfg.endpoint.starts_with("https://")) {
            return Err(TraceError::Endpoint(cfg.endpoint.clone()));
        }
        if !(0.0..=1.0).contains(&cfg.sample_ratio) {
            return Err(TraceError::Ratio(cfg.sample_ratio));
        }
        let sample_ratio = cfg.sample_ratio;
        let (tx, rx) = bounded::<Span>(cfg.queue.max(1));
        let (done_tx, done) = bounded::<()>(1);
        let (ready_tx, ready) = bounded::<Result<(), String>>(1);
        let st = stats.clone();
        let closing = Arc::new(AtomicBool::new(false));
        let closed = closing.clone();
        std::thread::Builder::new()
            .name("otlp-export".into())
            .spawn(move || {
                // The blocking HTTP client is built on this thread: it must not live inside an
                // async runtime.
                let mut exporter = match build(&cfg) {
                    Ok(e) => {
                        let _sent = ready_tx.send(Ok(()));
                        e
                    }
                    Err(e) => {
                        let _sent = ready_tx.send(Err(e));
                        return;
                    }
                };
                export_loop(&cfg, &mut exporter, &rx, &st, &closed);
                let _sent = done_tx.send(());
            })
            .map_err(|e| TraceError::Start(e.to_string()))?;
        match ready.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(TraceError::Start(e)),
            Err(_) => return Err(TraceError::Start("exporter thread ended".into())),
        }
        Ok(Tracer {
            tx,
            stats,
            done,
            closing,
            sample_ratio,
        })
    }

    /// Queues a finished span; never blocks (a full queue drops it, counted). After
    /// `shutdown` it does nothing.
    pub fn submit(&self, span: Span) {
        if self.closing.load(Ordering::Relaxed) {
            return;
        }
        match self.tx.try_send(span) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.inc();
            }
        }
    }

    /// Whether to trace an exchange: as its parent says, else by the sample ratio.
    pub fn sampled(&self, parent: Option<&Parent>) -> bool {
        match parent {
            Some(p) => p.sampled,
            None => self.sample_ratio >= 1.0 || rand::random::<f64>() < self.sample_ratio,
        }
    }

    pub fn stats(&self) -> &TraceStats {
        &self.stats
    }

    /// Exports what is queued (one try each), waiting at most `wait`.
    pub fn shutdown(&self, wait: Duration) {
        self.closing.store(true, Ordering::Release);
        let _done = self.done.recv_timeout(wait);
    }
}

impl Drop for Tracer {
    fn drop(&mut self) {
        self.closing.store(true, Ordering::Release);
    }
}

/// The HTTP side of export: where batches go, with what, and about which service.
struct Exporter {
    client: reqwest::blocking::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
    encoder: Encoder,
}

impl Exporter {
    /// One OTLP request body for a batch.
    fn encode(&mut self, spans: &[Span]) -> bytes::Bytes {
        self.encoder.encode(spans).into()
    }

    /// Posts one encoded batch; any answer but 2xx is a failure.
    fn send(&self, body: bytes::Bytes) -> Result<(), String> {
        let resp = self
            .client
            .post(&self.url)
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(body)
            .send()
            .map_err(|e| e.to_string())?;
        let status = resp.status();
        // Read the answer so the connection can be reused.
        let _body = resp.bytes();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("the collector answered {status}"))
        }
    }
}

fn build(cfg: &TraceConfig) -> Result<Exporter, String> {
    let mut headers = reqwest::header::HeaderMap::new();
    for (k, v) in &cfg.headers {
        let name = reqwest::header::HeaderName::from_bytes(k.as_bytes())
            .map_err(|e| format!("OTLP header {k:?}: {e}"))?;
        let value = reqwest::header::HeaderValue::from_str(v)
            .map_err(|e| format!("OTLP header {k:?}: {e}"))?;
        headers.insert(name, value);
    }
    let mut client = reqwest::blocking::Client::builder()
        .timeout(cfg.timeout)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(path) = &cfg.ca_file {
        let pem = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!("{}: no PEM certificate in it", path.display()));
        }
        for c in certs {
            client = client.add_root_certificate(c);
        }
    }
    let client = client.build().map_err(|e| e.to_string())?;
    let version = env!("CARGO_PKG_VERSION");
    Ok(Exporter {
        client,
        url: cfg.traces_url(),
        headers,
        encoder: Encoder::new(&cfg.service_name, version, "warden", version),
    })
}

/// How often the export thread looks at its queue. It sleeps rather than waits on the queue,
/// so queuing a span never has to wake a thread: the data path pays no system call for it.
const TICK: Duration = Duration::from_millis(20);

fn export_loop(
    cfg: &TraceConfig,
    exporter: &mut Exporter,
    rx: &Receiver<Span>,
    st: &TraceStats,
    closing: &AtomicBool,
) {
    let mut batch = Vec::with_capacity(cfg.batch.min(rx.capacity().unwrap_or(0)));
    loop {
        // Wait for a full batch, the flush interval, or the end.
        let since = Instant::now();
        while rx.len() < cfg.batch
            && since.elapsed() < cfg.flush
            && !closing.load(Ordering::Acquire)
        {
            std::thread::sleep(TICK);
        }
        let closed = closing.load(Ordering::Acquire);
        batch.clear();
        let mut gone = false;
        while batch.len() < cfg.batch {
            match rx.try_recv() {
                Ok(s) => batch.push(s),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => {
                    gone = true;
                    break;
                }
            }
        }
        if batch.is_empty() {
            if closed || gone {
                return;
            }
            continue;
        }
        // While closing, one try: shutdown must not hang on a collector that is down.
        let retries = if closed || gone { 0 } else { cfg.retries };
        let n = batch.len() as u64;
        // Encoded once; a retry sends the same bytes.
        let body = exporter.encode(&batch);
        let mut backoff = cfg.backoff;
        let mut attempt = 0;
        loop {
            match exporter.send(body.clone()) {
                Ok(()) => {
                    st.exported.inc_by(n);
                    break;
                }
                Err(e) if attempt >= retries => {
                    tracing::debug!("OTLP export failed, {n} spans lost: {e}");
                    st.failed.inc_by(n);
                    break;
                }
                Err(_) => {
                    attempt += 1;
                    std::thread::sleep(backoff);
                    backoff = (backoff * 2).min(cfg.max_backoff);
                }
            }
        }
    }
}

/// A W3C trace context parent: `00-<trace-id>-<parent-id>-<flags>`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub sampled: bool,
}

/// Parses a `traceparent` value; `None` for anything malformed (version `ff`, zero ids, …).
pub fn parse_traceparent(s: &str) -> Option<Parent> {
    let s = s.trim();
    let mut parts = s.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |p: &str, n: usize| {
        p.len() == n && p.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    if !hex(version, 2) || version == "ff" || !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
        return None;
    }
    // Version 00 has exactly four fields; later versions may add more.
    if version == "00" && parts.next().is_some() {
        return None;
    }
    let trace_id = TraceId::from_hex(trace)?;
    let span_id = SpanId::from_hex(span)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_parsed_strictly() {
        let p =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(p.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(p.span_id.to_string(), "00f067aa0ba902b7");
        assert!(p.sampled);
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_traces_path_is_appended_once() {
        let mut c = TraceConfig {
            endpoint: "http://h:4318/".into(),
            ..TraceConfig::default()
        };
        assert_eq!(c.traces_url(), "http://h:4318/v1/traces");
        c.endpoint = "http://h:4318/v1/traces".into();
        assert_eq!(c.traces_url(), "http://h:4318/v1/traces");
    }

    #[test]
    fn sampling_follows_the_parent_else_the_ratio() {
        let t = Tracer::start(
            TraceConfig {
                endpoint: "http://127.0.0.1:9".into(),
                sample_ratio: 0.0,
                ..TraceConfig::default()
            },
            TraceStats::default(),
        )
        .unwrap();
        let on = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let off = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
        assert!(!t.sampled(None));
        assert!(t.sampled(on.as_ref()));
        assert!(!t.sampled(off.as_ref()));
        t.shutdown(Duration::from_secs(1));
        let bad = Tracer::start(
            TraceConfig {
                sample_ratio: 1.5,
                ..TraceConfig::default()
            },
            TraceStats::default(),
        );
        assert!(matches!(bad, Err(TraceError::Ratio(_))));
    }

    #[test]
    fn a_bad_endpoint_is_refused() {
        assert!(matches!(
            Tracer::start(
                TraceConfig {
                    endpoint: "localhost:4318".into(),
                    ..TraceConfig::default()
                },
                TraceStats::default()
            ),
            Err(TraceError::Endpoint(_))
        ));
    }
}
