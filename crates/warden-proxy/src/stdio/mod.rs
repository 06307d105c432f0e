//! The stdio transport of `warden run`: spawns the server in its own process group, pumps
//! newline-delimited frames both ways through the pipeline (one thread per direction, so a
//! full pipe on one side never stalls the other), drains the server's stderr continuously,
//! and shuts down in order: client EOF or a signal → close stdin / pass the signal → grace
//! period → SIGTERM → SIGKILL to the process group. Our stdout carries only MCP frames.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use crossbeam_channel::{RecvTimeoutError, bounded};
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::json;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use warden_core::Direction;

use warden_audit::writer::Durability;

use crate::pipeline::{Decision, OnStoreError, Pipeline, Route};

mod deliver;

use crate::policy_watch::PolicyWatch;
use deliver::{Delivery, Ends, Releaser, deliver};

/// How to run the server and frame its traffic.
#[derive(Clone, Debug)]
pub struct StdioConfig {
    /// The server command and its arguments.
    pub command: Vec<String>,
    /// Run the command through `/bin/sh -c` (joined with spaces).
    pub shell: bool,
    /// How long the server gets to exit after its stdin closes (or a signal) before SIGTERM,
    /// and again before SIGKILL.
    pub grace: Duration,
    /// Frames longer than this are streamed through unparsed (and recorded as oversized).
    pub max_frame: usize,
    pub on_store_error: OnStoreError,
    /// The policy file or directory in force: reloaded on SIGHUP and when it changes.
    pub policy_file: Option<std::path::PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("no server command given (put it after `--`)")]
    NoCommand,
    #[error("cannot start server `{command}`: {source}")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot set up stdio: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Audit(#[from] warden_audit::writer::WriterGone),
}

/// How the session ended.
#[derive(Debug)]
pub struct RunResult {
    /// The server's exit status as a shell would report it (128 + signal if killed).
    pub exit_code: i32,
    pub abandoned: usize,
}

#[derive(Debug)]
enum Note {
    /// The pump in `dir` has ended.
    Ended(Direction, Ended),
    Signal(i32),
    Exited(ExitStatus),
    /// Our stdout can no longer reach the client (it closed its end): it is gone for good,
    /// even while a pump is stuck writing to a server that stopped reading.
    ClientGone,
}

/// How a pump ended.
#[derive(Debug)]
enum Ended {
    /// Its input reached EOF.
    Eof,
    ClientGone(String),
    ServerGone(String),
}

/// Exit code a shell would show for `status`.
pub fn exit_code(status: ExitStatus) -> i32 {
    status
        .code()
        .unwrap_or_else(|| 128 + status.signal().unwrap_or(0))
}

/// Runs the server behind the pipeline until it exits; returns its exit status.
pub fn run(cfg: StdioConfig, pipeline: Arc<Pipeline>) -> Result<RunResult, RunError> {
    // warden's own requests can reach the client (approval elicitations) and the server (a
    // re-read of its tool list) on this transport.
    pipeline.enable_client_elicitation();
    pipeline.enable_relist();
    let (program, args) = cfg.command.split_first().ok_or(RunError::NoCommand)?;
    let mut cmd = if cfg.shell {
        let mut c = Command::new("/bin/sh");
        c.arg("-c").arg(cfg.command.join(" "));
        c
    } else {
        let mut c = Command::new(program);
        c.args(args);
        c
    };
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn().map_err(|source| RunError::Spawn {
        command: program.clone(),
        source,
    })?;
    let pgid = Pid::from_raw(i32::try_from(child.id()).unwrap_or(i32::MAX));
    let name = std::path::Path::new(program)
        .file_name()
        .map(|n| pipeline.scrub(&n.to_string_lossy()));
    pipeline.event(
        "session_start",
        json!({ "transport": "stdio", "command": name, "args": args.len(), "pid": child.id(), "shell": cfg.shell }),
    )?;

    let (tx, rx) = bounded::<Note>(64);
    let our_stdout = Arc::new(Mutex::new(File::from(
        std::io::stdout().as_fd().try_clone_to_owned()?,
    )));
    let our_stdin = File::from(std::io::stdin().as_fd().try_clone_to_owned()?);
    let child_stdin = child
        .stdin
        .take()
        .ok_or_else(|| std::io::Error::other("child stdin missing"))?;
    let child_stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("child stdout missing"))?;
    let mut child_stderr = child
        .stderr
        .take()
        .ok_or_else(|| std::io::Error::other("child stderr missing"))?;

    std::thread::Builder::new()
        .name("server-stderr".into())
        .spawn(move || {
            let mut err = std::io::stderr();
            let _copied = std::io::copy(&mut child_stderr, &mut err);
        })?;

    // The server's stdin, shared with threads that wait for held calls; closed when the
    // client→server pump ends (the guard in its `forward`).
    let to_server = Arc::new(Mutex::new(Some(child_stdin)));
    let holds = Holds {
        pipeline: pipeline.clone(),
        to_server: to_server.clone(),
        to_client: our_stdout.clone(),
    };
    let input = ServerInput(to_server.clone());
    let out = our_stdout.clone();
    spawn_pump(
        Direction::C2S,
        our_stdin,
        pipeline.clone(),
        PumpOpts::new(&cfg, Some(holds)),
        move |b| input.write(b),
        move |b| write_shared(&out, b),
        tx.clone(),
    )?;
    let out = our_stdout.clone();
    spawn_pump(
        Direction::S2C,
        child_stdout,
        pipeline.clone(),
        PumpOpts::new(&cfg, None),
        move |b| write_shared(&out, b),
        move |b| write_server(&to_server, b),
        tx.clone(),
    )?;
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    let signal_handle = signals.handle();
    {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for sig in signals.forever() {
                    if tx.send(Note::Signal(sig)).is_err() {
                        break;
                    }
                }
            })?;
    }
    {
        let tx = tx.clone();
        std::thread::Builder::new()
            .name("server-wait".into())
            .spawn(move || {
                if let Ok(status) = child.wait() {
                    let _sent = tx.send(Note::Exited(status));
                }
            })?;
    }
    {
        let tx = tx.clone();
        let watched = our_stdout
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .try_clone()?;
        std::thread::Builder::new()
            .name("client-watch".into())
            .spawn(move || {
                if client_hung_up(&watched) {
                    let _sent = tx.send(Note::ClientGone);
                }
            })?;
    }
    drop(tx);

    let grace = cfg.grace;
    let mut term_at: Option<Instant> = None;
    let mut kill_at: Option<Instant> = None;
    let mut reason = "server exited";
    let mut s2c_done = false;
    let mut watch = cfg.policy_file.as_deref().map(PolicyWatch::new);
    let status = loop {
        if let Some(w) = &mut watch
            && w.changed()
        {
            reload(w, &pipeline);
        }
        let poll = watch
            .as_ref()
            .map(|_| Instant::now() + Duration::from_secs(1));
        let next = [term_at, kill_at, poll].into_iter().flatten().min();
        let timeout = next.map_or(Duration::from_secs(3600), |t| {
            t.saturating_duration_since(Instant::now())
        });
        match rx.recv_timeout(timeout) {
            Ok(Note::Exited(status)) => break Some(status),
            Ok(Note::Ended(dir, how)) => {
                s2c_done |= dir == Direction::S2C;
                match how {
                    Ended::Eof if dir == Direction::C2S => {
                        reason = "client closed the connection";
                        term_at.get_or_insert(Instant::now() + grace);
                    }
                    Ended::Eof => {}
                    Ended::ClientGone(e) => {
                        tracing::warn!("client connection failed: {e}");
                        reason = "client connection failed";
                        term_at.get_or_insert(Instant::now() + grace);
                    }
                    Ended::ServerGone(e) => tracing::warn!("server connection failed: {e}"),
                }
            }
            Ok(Note::ClientGone) => {
                reason = "client connection failed";
                term_at.get_or_insert(Instant::now() + grace);
            }
            Ok(Note::Signal(SIGHUP)) => match &mut watch {
                Some(w) => reload(w, &pipeline),
                None => tracing::info!("SIGHUP: no policy file to reload"),
            },
            Ok(Note::Signal(sig)) => {
                reason = if sig == SIGINT { "SIGINT" } else { "SIGTERM" };
                if let Ok(s) = Signal::try_from(sig) {
                    let _sent = killpg(pgid, s);
                }
                kill_at.get_or_insert(Instant::now() + grace);
            }
            Err(RecvTimeoutError::Timeout) => {
                let now = Instant::now();
                if term_at.is_some_and(|t| t <= now) {
                    term_at = None;
                    tracing::warn!(
                        "server did not exit within the grace period; sending SIGTERM to its process group"
                    );
                    let _sent = killpg(pgid, Signal::SIGTERM);
                    kill_at.get_or_insert(now + grace);
                }
                if kill_at.is_some_and(|t| t <= now) {
                    kill_at = None;
                    tracing::warn!("server still running; sending SIGKILL to its process group");
                    let _sent = killpg(pgid, Signal::SIGKILL);
                }
            }
            Err(RecvTimeoutError::Disconnected) => break None,
        }
    };
    // Let the server's last frames through; then make sure nothing of its group lingers.
    let s2c_ended = |n: &Note| matches!(n, Note::Ended(Direction::S2C, _));
    if !s2c_done && !wait_for(&rx, Duration::from_secs(2), s2c_ended) {
        let _sent = killpg(pgid, Signal::SIGKILL);
        wait_for(&rx, Duration::from_secs(1), s2c_ended);
    }
    signal_handle.close();
    let code = status.map_or(1, exit_code);
    let abandoned = pipeline.end(
        reason,
        json!({
            "reason": reason,
            "exit_code": status.and_then(|s| s.code()),
            "signal": status.and_then(|s| s.signal()),
        }),
    )?;
    Ok(RunResult {
        exit_code: code,
        abandoned,
    })
}

/// Blocks until the reading end of `out` (our stdout) is closed; false if that cannot be
/// watched (a terminal or file never hangs up, which is fine).
fn client_hung_up(out: &File) -> bool {
    use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
    loop {
        // No events asked for: poll still reports POLLERR and POLLHUP, which a pipe's or
        // socket's writing end gets when the reader has gone.
        let mut fds = [PollFd::new(out.as_fd(), PollFlags::empty())];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {
                let got = fds[0].revents().unwrap_or(PollFlags::empty());
                if got.intersects(PollFlags::POLLERR | PollFlags::POLLHUP) {
                    return true;
                }
                if got.contains(PollFlags::POLLNVAL) {
                    return false;
                }
            }
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return false,
        }
    }
}

fn wait_for(
    rx: &crossbeam_channel::Receiver<Note>,
    d: Duration,
    want: impl Fn(&Note) -> bool,
) -> bool {
    let end = Instant::now() + d;
    while let Ok(n) = rx.recv_deadline(end) {
        if want(&n) {
            return true;
        }
    }
    false
}

/// Writes a frame's bytes to one side.
type Writes = dyn FnMut(&[u8]) -> std::io::Result<()> + Send;

/// Starts the thread pumping `input` in direction `dir`. `forward` writes to the other side
/// (dropped when the pump ends, which closes the server's stdin after client EOF); `answer`
/// writes back to the sender. The server's frames under sync durability go out through an
/// ordered releaser (`deliver`), the rest inline. The thread reports how its pump ended on `tx`.
fn spawn_pump<R: Read + Send + 'static>(
    dir: Direction,
    input: R,
    pipeline: Arc<Pipeline>,
    opts: PumpOpts,
    forward: impl FnMut(&[u8]) -> std::io::Result<()> + Send + 'static,
    answer: impl Fn(&[u8]) -> std::io::Result<()> + Send + Sync + 'static,
    tx: crossbeam_channel::Sender<Note>,
) -> std::io::Result<()> {
    let answer = Arc::new(answer);
    let mut forward: Box<Writes> = Box::new(forward);
    let mut releaser = if dir == Direction::S2C && pipeline.durability() == Durability::Sync {
        let a = answer.clone();
        let f = std::mem::replace(&mut forward, Box::new(|_: &[u8]| Ok(())));
        Some(Releaser::start(
            pipeline.clone(),
            opts.on_store_error,
            f,
            move |b: &[u8]| a(b),
        )?)
    } else {
        None
    };
    std::thread::Builder::new()
        .name(dir.as_str().into())
        .spawn(move || {
            let result = match releaser.as_mut() {
                Some(r) => {
                    let pumped = pump(input, dir, &pipeline, &opts, &mut |d| r.send(d), &*answer);
                    let released = r.finish();
                    pumped.and(released)
                }
                None => {
                    let mut ends = Ends {
                        pipeline: &pipeline,
                        on_store_error: opts.on_store_error,
                        forward: &mut forward,
                        answer: &*answer,
                        holds: opts.holds.as_ref(),
                    };
                    pump(
                        input,
                        dir,
                        &pipeline,
                        &opts,
                        &mut |d| deliver(d, &mut ends),
                        &*answer,
                    )
                }
            };
            drop(forward);
            let how =
                match (dir, result) {
                    (_, Ok(())) => Ended::Eof,
                    (Direction::C2S, Err(Side::Input(e)))
                    | (Direction::S2C, Err(Side::Output(e))) => Ended::ClientGone(e),
                    (Direction::C2S, Err(Side::Output(e)))
                    | (Direction::S2C, Err(Side::Input(e))) => Ended::ServerGone(e),
                };
            let note = Note::Ended(dir, how);
            let _sent = tx.send(note);
        })?;
    Ok(())
}

fn write_shared(out: &Mutex<File>, b: &[u8]) -> std::io::Result<()> {
    let mut f = out
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    f.write_all(b)
}

/// How a pump frames and answers, beside its two ends.
struct PumpOpts {
    max_frame: usize,
    on_store_error: OnStoreError,
    /// Where held calls go once released (client frames only).
    holds: Option<Holds>,
}

impl PumpOpts {
    fn new(cfg: &StdioConfig, holds: Option<Holds>) -> PumpOpts {
        PumpOpts {
            max_frame: cfg.max_frame,
            on_store_error: cfg.on_store_error,
            holds,
        }
    }
}

/// Which end of a pump failed.
pub(super) enum Side {
    Input(String),
    Output(String),
}

const READ_CHUNK: usize = 128 * 1024;

/// Reads frames from `input` until EOF, runs each through the pipeline and forwards it (or
/// sends the pipeline's answer back). A frame is the bytes up to and including `\n`, forwarded
/// exactly as read; a last line without `\n` at EOF is forwarded as it is.
///
/// Reads go into one reusable buffer; each frame is copied out into an allocation of its own
/// size, so a frame waiting in the audit queue holds only its own bytes.
fn pump(
    mut input: impl Read,
    dir: Direction,
    pipeline: &Pipeline,
    opts: &PumpOpts,
    out: &mut dyn FnMut(Delivery) -> Result<(), Side>,
    answer: &dyn Fn(&[u8]) -> std::io::Result<()>,
) -> Result<(), Side> {
    let max_frame = opts.max_frame;
    let gone = |e: warden_audit::writer::WriterGone| Side::Output(e.to_string());
    let mut scratch = vec![0u8; READ_CHUNK];
    // The start of a frame whose end has not been read yet.
    let mut partial: Vec<u8> = Vec::new();
    // Bytes of an oversized frame streamed through (server frames) or discarded (client
    // frames) so far.
    let mut streaming: Option<u64> = None;
    // A client frame over the limit is refused: its bytes are discarded, not forwarded.
    let discard = dir == Direction::C2S;
    loop {
        let n = match input.read(&mut scratch) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Side::Input(e.to_string())),
        };
        if n == 0 {
            if !partial.is_empty() {
                handle(Bytes::from(partial), dir, pipeline, out)?;
            }
            return Ok(());
        }
        let mut data = &scratch[..n];
        while !data.is_empty() {
            let Some(pos) = memchr::memchr(b'\n', data) else {
                if let Some(total) = streaming.as_mut() {
                    if !discard {
                        out(Delivery::raw(Bytes::copy_from_slice(data)))?;
                    }
                    *total += data.len() as u64;
                } else {
                    partial.extend_from_slice(data);
                    if partial.len() >= max_frame {
                        // Too long to hold: record its start, then refuse a client's frame
                        // (discarding the rest) or stream a server's through unparsed.
                        let prefix =
                            Bytes::copy_from_slice(&partial[..partial.len().min(64 * 1024)]);
                        if discard {
                            let reply =
                                pipeline.refuse_oversized(prefix, max_frame).map_err(gone)?;
                            answer(&reply).map_err(|e| Side::Input(e.to_string()))?;
                        } else {
                            pipeline.oversized(dir, prefix, max_frame).map_err(gone)?;
                        }
                        streaming = Some(partial.len() as u64);
                        let start = Bytes::from(std::mem::take(&mut partial));
                        if !discard {
                            out(Delivery::raw(start))?;
                        }
                    }
                }
                break;
            };
            let (line, rest) = data.split_at(pos + 1);
            data = rest;
            if let Some(total) = streaming.take() {
                if !discard {
                    out(Delivery::raw(Bytes::copy_from_slice(line)))?;
                }
                let size = total + line.len() as u64;
                pipeline
                    .event(
                        "oversized_frame_end",
                        json!({ "direction": dir.as_str(), "size": size, "forwarded": !discard }),
                    )
                    .map_err(gone)?;
            } else if partial.is_empty() {
                handle(Bytes::copy_from_slice(line), dir, pipeline, out)?;
            } else {
                partial.extend_from_slice(line);
                let frame = Bytes::from(std::mem::take(&mut partial));
                handle(frame, dir, pipeline, out)?;
            }
        }
    }
}

/// Runs a frame through the pipeline and hands it, decided, to `out`.
fn handle(
    frame: Bytes,
    dir: Direction,
    pipeline: &Pipeline,
    out: &mut dyn FnMut(Delivery) -> Result<(), Side>,
) -> Result<(), Side> {
    let Decision { route, ack, ask } = pipeline
        .on_frame(dir, frame.clone())
        .map_err(|e| Side::Output(e.to_string()))?;
    out(Delivery {
        frame,
        route,
        ack,
        ask,
    })
}

/// The server's stdin as the client→server pump writes it; dropping this closes it (held
/// calls released later find it closed).
struct ServerInput(Arc<Mutex<Option<std::process::ChildStdin>>>);

impl ServerInput {
    fn write(&self, b: &[u8]) -> std::io::Result<()> {
        write_server(&self.0, b)
    }
}

impl Drop for ServerInput {
    fn drop(&mut self) {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
    }
}

fn write_server(to: &Mutex<Option<std::process::ChildStdin>>, b: &[u8]) -> std::io::Result<()> {
    let mut to = to.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match to.as_mut() {
        Some(w) => w.write_all(b),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::BrokenPipe,
            "the server's input is closed",
        )),
    }
}

/// Where held client calls go once released: each waits on a thread of its own, so the
/// session's other traffic keeps flowing.
#[derive(Clone)]
pub(super) struct Holds {
    pipeline: Arc<Pipeline>,
    to_server: Arc<Mutex<Option<std::process::ChildStdin>>>,
    to_client: Arc<Mutex<File>>,
}

impl Holds {
    pub(super) fn wait(&self, hold: crate::pipeline::Hold, frame: Bytes) -> std::io::Result<()> {
        let me = self.clone();
        let call_for_ticks = hold.call.clone();
        if let Some(ask) = &hold.elicit {
            write_shared(&self.to_client, ask)?;
        }
        std::thread::Builder::new()
            .name("held-call".into())
            .spawn(move || {
                let pipeline = me.pipeline.clone();
                let client = me.to_client.clone();
                let (call, release) =
                    hold.wait_ticking(crate::pipeline::progress_every(call_for_ticks.hold_ms), |n| {
                        if let Ok(Some(note)) = pipeline.progress(&call_for_ticks, n)
                            && let Err(e) = write_shared(&client, &note)
                        {
                            tracing::debug!("progress not delivered: {e}");
                        }
                    });
                let sent = match me.pipeline.release(&call, &release) {
                    Ok(Route::Answer(reply)) => write_shared(&me.to_client, &reply),
                    Ok(_) => write_server(&me.to_server, &frame),
                    Err(e) => Err(std::io::Error::other(e.to_string())),
                };
                // The session ends with this call still in flight, recorded as abandoned.
                if let Err(e) = sent {
                    tracing::warn!(approval = %call.approval, "held call released, not delivered: {e}");
                }
            })
            .map(|_| ())
    }
}

/// Compiles the watched policy and puts it in force; on any problem the old policy stays, and
/// the problems go to stderr and into the audit log.
fn reload(w: &PolicyWatch, pipeline: &Pipeline) {
    match w.compile() {
        Ok(loaded) => {
            let policy = loaded.policy;
            tracing::warn!(policy = %policy.hash, "policy reloaded from {}", w.path().display());
            if let Err(e) = pipeline.reload_policy(policy, w.path(), &loaded.files) {
                tracing::error!("cannot record the policy reload: {e}");
            }
        }
        Err(problems) => {
            tracing::error!(
                "policy reload failed, the previous policy stays in force:\n{}",
                problems.join("\n")
            );
            if let Err(e) = pipeline.reload_failed(&problems) {
                tracing::error!("cannot record the failed policy reload: {e}");
            }
        }
    }
}
