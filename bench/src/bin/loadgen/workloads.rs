//! The timed workloads, each run against one started `Target`: sequential small calls
//! (per-call latency), pipelined small calls (N calls in flight, calls/s), large payloads
//! (sequential 1 MB / 8 MB echoes, MB/s), and the long RSS soak through one process; and the
//! machine's `fdatasync` floor (no target: a file beside the audit stores).

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::sync::mpsc::{TryRecvError, sync_channel};
use std::time::{Duration, Instant};

use crate::target::{Mem, Target, check_answer, fresh_tmp, read_line, write_call};

/// Calls made before each timed phase (not measured) so caches, allocators and warden's
/// writer are warm.
pub fn warm_up(t: &mut Target, message: &str, calls: u64) {
    t.checked_call(1, message);
    for id in 2..=calls {
        one_call(t, id, message);
    }
}

/// One call, waiting for its answer.
fn one_call(t: &mut Target, id: u64, message: &str) {
    let mut buf = Vec::with_capacity(message.len() + 256);
    write_call(&mut t.input, id, message);
    t.input.flush().expect("flush");
    read_line(&mut t.output, &mut buf);
    check_answer(&buf, id, message.len());
}

/// (a) `n` calls one at a time; returns each call's latency (write of the request to the end
/// of reading its answer).
pub fn sequential(t: &mut Target, n: u64, message: &str, first_id: u64) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(n as usize);
    let mut buf = Vec::with_capacity(message.len() + 256);
    for id in first_id..first_id + n {
        let start = Instant::now();
        write_call(&mut t.input, id, message);
        t.input.flush().expect("flush");
        read_line(&mut t.output, &mut buf);
        lat.push(start.elapsed());
        check_answer(&buf, id, message.len());
    }
    lat
}

/// (b) `n` calls with up to `window` in flight: a writer thread sends while it holds a credit
/// (flushing only when it has to wait for one, so requests go out in natural batches) and a
/// reader thread returns a credit for every answer. Returns the elapsed time from the first
/// write to the last answer.
pub fn pipelined(t: &mut Target, n: u64, window: usize, message: &str, first_id: u64) -> Duration {
    let (credit_tx, credit_rx) = sync_channel::<()>(window);
    for _ in 0..window {
        credit_tx.send(()).expect("credit");
    }
    let input = &mut t.input;
    let output = &mut t.output;
    let start = Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            for id in first_id..first_id + n {
                match credit_rx.try_recv() {
                    Ok(()) => {}
                    Err(TryRecvError::Empty) => {
                        input.flush().expect("flush");
                        credit_rx.recv().expect("credit");
                    }
                    Err(TryRecvError::Disconnected) => panic!("reader gone"),
                }
                write_call(input, id, message);
            }
            input.flush().expect("flush");
        });
        s.spawn(move || {
            let mut buf = Vec::with_capacity(message.len() + 256);
            for id in first_id..first_id + n {
                read_line(output, &mut buf);
                // Every path answers in order here (one server, one pipe).
                check_answer(&buf, id, message.len());
                // The writer may have finished and dropped its receiver; that's fine.
                let _ = credit_tx.try_send(());
            }
        });
    });
    start.elapsed()
}

/// (c) `n` sequential echoes of `message` (large); returns the elapsed time.
pub fn large(t: &mut Target, n: u64, message: &str, first_id: u64) -> Duration {
    let mut buf = Vec::with_capacity(message.len() + 256);
    let start = Instant::now();
    for id in first_id..first_id + n {
        write_call(&mut t.input, id, message);
        t.input.flush().expect("flush");
        read_line(&mut t.output, &mut buf);
        check_answer(&buf, id, message.len());
    }
    start.elapsed()
}

/// The RSS soak: `total` sequential calls, sampling the proxy's memory after each count in
/// `at` (ascending). Returns (calls done, memory) pairs and the elapsed time.
pub fn soak(
    t: &mut Target,
    total: u64,
    at: &[u64],
    message: &str,
    first_id: u64,
) -> (Vec<(u64, Mem)>, Duration) {
    let mut samples = Vec::new();
    let mut buf = Vec::with_capacity(message.len() + 256);
    let start = Instant::now();
    for i in 1..=total {
        let id = first_id + i;
        write_call(&mut t.input, id, message);
        t.input.flush().expect("flush");
        read_line(&mut t.output, &mut buf);
        check_answer(&buf, id, message.len());
        if at.contains(&i)
            && let Some(m) = t.proxy_mem()
        {
            samples.push((i, m));
        }
    }
    (samples, start.elapsed())
}

/// The `fdatasync` floor: `n` times, overwrite one 4 KiB block of a preallocated 1 MiB file
/// in a fresh directory where the audit stores are made (the temp dir) and `fdatasync` it
/// (`File::sync_data`); returns each write + sync's latency.
pub fn fdatasync(n: u64) -> Vec<Duration> {
    let dir = fresh_tmp();
    let path = dir.join("fdatasync-probe");
    let mut f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&path)
        .expect("probe file");
    let block = [0x5au8; 4096];
    for _ in 0..256 {
        f.write_all(&block).expect("preallocate");
    }
    f.sync_all().expect("sync_all");
    let mut lat = Vec::with_capacity(n as usize);
    for i in 0..n {
        f.seek(SeekFrom::Start((i % 256) * 4096)).expect("seek");
        let start = Instant::now();
        f.write_all(&block).expect("write");
        f.sync_data().expect("fdatasync");
        lat.push(start.elapsed());
    }
    drop(f);
    let _ = std::fs::remove_dir_all(&dir);
    lat
}
