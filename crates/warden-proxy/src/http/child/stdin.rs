//! The stdin of a session's child: the messages of requests in flight together are written
//! together. Each writer queues its line and takes the lock; whoever holds it writes every
//! queued line with one write and one flush (the pipe takes as much as it can per call), so a writer that gets the lock after its line
//! went out with someone else's returns at once. No task of its own: the writers write.

use tokio::io::AsyncWriteExt;
use tokio::process::ChildStdin;

/// Lines queued and not yet written, numbered in the order they were queued.
#[derive(Default)]
struct Queue {
    buf: Vec<u8>,
    /// The number of lines ever queued (the last one's ticket).
    queued: u64,
}

/// The pipe and how far it has been written.
struct Pipe {
    stdin: Option<ChildStdin>,
    /// Every line with a ticket up to this one is written.
    written: u64,
    /// The lines being written (taken from the queue), up to ticket `out_last`, written up to
    /// `at`. Kept here, not in the writer's future, so a writer dropped mid-write (its client
    /// went away) leaves the rest to the next one: no line is cut or lost.
    out: Vec<u8>,
    at: usize,
    out_last: u64,
}

/// The child's stdin, shared by the requests of its session.
pub(super) struct Stdin {
    queue: parking_lot::Mutex<Queue>,
    pipe: tokio::sync::Mutex<Pipe>,
}

fn closed() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::BrokenPipe, "session closed")
}

impl Stdin {
    pub(super) fn new(stdin: Option<ChildStdin>) -> Stdin {
        Stdin {
            queue: parking_lot::Mutex::new(Queue::default()),
            pipe: tokio::sync::Mutex::new(Pipe {
                stdin,
                written: 0,
                out: Vec::new(),
                at: 0,
                out_last: 0,
            }),
        }
    }

    /// Writes `line` (one whole message, newline-terminated): returns once it is written,
    /// by this call or by one holding the pipe meanwhile. Lines go out in the order queued.
    pub(super) async fn write(&self, line: &[u8]) -> std::io::Result<()> {
        let ticket = {
            let mut q = self.queue.lock();
            q.buf.extend_from_slice(line);
            q.queued += 1;
            q.queued
        };
        let mut pipe = self.pipe.lock().await;
        loop {
            if pipe.written >= ticket {
                return Ok(());
            }
            let p = &mut *pipe;
            if p.at == p.out.len() {
                // Nothing half written: take every line queued (ours among them).
                p.out.clear();
                if p.out.capacity() > 1 << 20 {
                    p.out = Vec::new(); // not kept after one large message
                }
                p.at = 0;
                let mut q = self.queue.lock();
                std::mem::swap(&mut q.buf, &mut p.out);
                p.out_last = q.queued;
            }
            let Some(w) = p.stdin.as_mut() else {
                return Err(closed());
            };
            // A failed write leaves its lines unwritten for good: the pipe is dropped, so
            // they and every later one fail.
            while p.at < p.out.len() {
                match w.write(&p.out[p.at..]).await {
                    Ok(0) => {
                        p.stdin = None;
                        return Err(std::io::ErrorKind::WriteZero.into());
                    }
                    Ok(n) => p.at += n,
                    Err(e) => {
                        p.stdin = None;
                        return Err(e);
                    }
                }
            }
            if let Err(e) = w.flush().await {
                p.stdin = None;
                return Err(e);
            }
            p.written = p.out_last;
        }
    }

    /// Closes the pipe (the child sees end of input); later writes fail.
    pub(super) async fn close(&self) {
        self.pipe.lock().await.stdin.take();
        self.queue.lock().buf.clear();
    }
}

#[cfg(test)]
mod tests {
    use std::process::Stdio;
    use std::sync::Arc;

    use tokio::io::AsyncReadExt;

    use super::Stdin;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lines_written_together_arrive_whole_once_each_and_none_after_close() {
        let mut cat = tokio::process::Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = Arc::new(Stdin::new(cat.stdin.take()));
        let mut out = cat.stdout.take().unwrap();
        // Read while writing: the pipe fills otherwise (a writer then waits for room).
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            out.read_to_end(&mut all).await.unwrap();
            all
        });
        let pad = "x".repeat(10_000);
        let writers: Vec<_> = (0..200)
            .map(|i| {
                let (stdin, pad) = (stdin.clone(), pad.clone());
                tokio::spawn(async move { stdin.write(format!("{i} {pad}\n").as_bytes()).await })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        stdin.close().await;
        assert!(stdin.write(b"late\n").await.is_err());
        let all = String::from_utf8(reader.await.unwrap()).unwrap();
        let mut got: Vec<u32> = all
            .lines()
            .map(|l| {
                let (n, rest) = l.split_once(' ').unwrap();
                assert_eq!(rest, pad, "a whole line");
                n.parse().unwrap()
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
        cat.wait().await.unwrap();
    }

    #[tokio::test]
    async fn a_writer_dropped_mid_write_leaves_its_line_whole_for_the_next() {
        // Nobody reads cat's output yet, so the pipes fill and a large line waits half written.
        let mut cat = tokio::process::Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = Stdin::new(cat.stdin.take());
        let big = format!("{}\n", "a".repeat(4 << 20));
        {
            let first = stdin.write(big.as_bytes());
            futures::pin_mut!(first);
            assert!(
                futures::poll!(first.as_mut()).is_pending(),
                "4 MiB cannot fit in the pipes"
            );
            // Its client went away: the write is dropped with part of the line written.
        }
        let mut out = cat.stdout.take().unwrap();
        let reader = tokio::spawn(async move {
            let mut all = Vec::new();
            out.read_to_end(&mut all).await.unwrap();
            all
        });
        // The next writer finishes the first line, then writes its own.
        stdin.write(b"next\n").await.unwrap();
        stdin.close().await;
        let all = String::from_utf8(reader.await.unwrap()).unwrap();
        assert_eq!(all.len(), big.len() + 5);
        assert!(all.starts_with(&big) && all.ends_with("next\n"));
        cat.wait().await.unwrap();
    }
}
