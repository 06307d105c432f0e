//! The security event stream: one JSON object per line, in the monitoring guide's shape
//! (`event`, `tool_name`, `server_id`, `user_id`, `agent_name`, `params_hash`, `success`,
//! `latency_ms`, `timestamp`), plus `outcome` and the audit `record_id`. Hashes, never
//! payloads. Lines are queued (bounded) and written by a thread of their own, so a slow disk
//! never holds up traffic; when the queue is full an event is dropped and counted.

use std::io::Write;
use std::path::{Path, PathBuf};

use crossbeam_channel::{Sender, TryRecvError, TrySendError, bounded};
use prometheus_client::metrics::counter::Counter;

/// The guide's event names, plus `mcp_anomaly`, the approval events, the catalog's and
/// policy alerts.
pub const TOOL_CALL: &str = "mcp_tool_call";
pub const ACCESS_DENIED: &str = "mcp_access_denied";
pub const RATE_LIMIT: &str = "mcp_rate_limit";
pub const BUDGET_EXCEEDED: &str = "mcp_budget_exceeded";
pub const ANOMALY: &str = "mcp_anomaly";
pub const APPROVAL_REQUESTED: &str = "mcp_approval_requested";
pub const APPROVAL_DECIDED: &str = "mcp_approval_decided";
pub const TOOL_DEFINITION_CHANGED: &str = "mcp_tool_definition_changed";
/// A tool first seen, restored, decided or reviewed in the catalog.
pub const CATALOG_EVENT: &str = "mcp_catalog_event";
/// An alert a governance-guide file's `audit.alert_on` asks for (`blocked_table_attempt`,
/// `large_result_set`), from the gateway's `policy_alert` record.
pub const POLICY_ALERT: &str = "mcp_policy_alert";

/// Where the stream goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sink {
    Stderr,
    /// Appended to (created if missing).
    File(PathBuf),
}

impl Sink {
    /// `-` or `stderr` for stderr, anything else a file path.
    pub fn parse(s: &str) -> Sink {
        match s {
            "-" | "stderr" => Sink::Stderr,
            p => Sink::File(PathBuf::from(p)),
        }
    }
}

/// The queue to the event-writer thread.
pub struct EventStream {
    tx: Option<Sender<String>>,
    dropped: Counter,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Events that may wait for the writer thread before new ones are dropped.
const QUEUE: usize = 8192;

/// How often the writer thread looks at the queue.
const TICK: std::time::Duration = std::time::Duration::from_millis(20);

impl EventStream {
    /// Opens the sink (a file is opened now, so a bad path is an error at start) and starts
    /// the writer thread. Events dropped because the queue is full are counted in `dropped`.
    pub fn start(sink: &Sink, dropped: Counter) -> std::io::Result<EventStream> {
        let mut out: Box<dyn Write + Send> = match sink {
            Sink::Stderr => Box::new(std::io::stderr()),
            Sink::File(p) => Box::new(open(p)?),
        };
        let (tx, rx) = bounded::<String>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("security-events".into())
            .spawn(move || {
                // Sleeps between looks at the queue (rather than waiting on it), so queuing an
                // event never has to wake this thread: no system call on the data path.
                let mut open = true;
                while open {
                    std::thread::sleep(TICK);
                    let mut wrote = false;
                    loop {
                        match rx.try_recv() {
                            Ok(line) => {
                                wrote = true;
                                if out.write_all(line.as_bytes()).is_err() {
                                    tracing::error!("cannot write the security event stream");
                                }
                            }
                            Err(TryRecvError::Empty) => break,
                            Err(TryRecvError::Disconnected) => {
                                open = false;
                                break;
                            }
                        }
                    }
                    if wrote && out.flush().is_err() {
                        tracing::error!("cannot write the security event stream");
                    }
                }
            })?;
        Ok(EventStream {
            tx: Some(tx),
            dropped,
            thread: Some(thread),
        })
    }

    /// Queues one event (a JSON object); false if it was dropped because the queue was full.
    pub fn emit(&self, event: &serde_json::Value) -> bool {
        let Some(tx) = &self.tx else { return false };
        let mut line = event.to_string();
        line.push('\n');
        match tx.try_send(line) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.dropped.inc();
                false
            }
        }
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.get()
    }

    /// Writes what is queued and stops the thread.
    pub fn close(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _joined = t.join();
        }
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        self.close();
    }
}

fn open(p: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", p.display())))
}

/// RFC 3339 UTC with milliseconds, from microseconds since the epoch.
pub fn timestamp(ts_us: i64) -> String {
    match jiff::Timestamp::from_microsecond(ts_us) {
        Ok(t) => format!("{t:.3}"),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_json_lines_in_the_file() {
        let dir = std::env::temp_dir().join(format!("warden-events-{}", std::process::id()));
        let _gone = std::fs::remove_file(&dir);
        let mut s = EventStream::start(&Sink::File(dir.clone()), Counter::default()).unwrap();
        assert!(s.emit(&serde_json::json!({"event": TOOL_CALL, "success": true})));
        assert!(s.emit(&serde_json::json!({"event": ACCESS_DENIED})));
        s.close();
        let text = std::fs::read_to_string(&dir).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1]["event"], "mcp_access_denied");
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn a_bad_path_fails_at_start() {
        let e = EventStream::start(
            &Sink::File("/nonexistent-dir/x/events.jsonl".into()),
            Counter::default(),
        );
        assert!(e.is_err());
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(timestamp(1_700_000_000_123_456), "2023-11-14T22:13:20.123Z");
    }
}
