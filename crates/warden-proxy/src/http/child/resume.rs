//! Resumable POST streams of a stdio upstream: each SSE POST stream's events are kept with
//! ids until its requests are answered, so a client that lost the stream can pick it up again
//! with `Last-Event-ID`; one that does not come back has its requests cancelled.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use tokio::sync::mpsc;
use warden_core::RequestId;

use super::{ChildSession, REPLAY_BYTES};
use crate::http::sse;

/// The events of one SSE POST stream with their ids (`STREAM-SEQ`), kept until its requests
/// are answered, so a client that lost the stream can resume it: a GET with `Last-Event-ID`
/// gets the events after that one, then the rest as they come. A client that is gone longer
/// than `stream_resume_ms` has its unanswered requests cancelled.
pub(super) struct PostStream {
    pub(super) id: u64,
    events: parking_lot::Mutex<PostEvents>,
    /// New events, or the end.
    notify: tokio::sync::Notify,
    /// A reader took events (or left): room for more.
    space: tokio::sync::Notify,
    readers: std::sync::atomic::AtomicUsize,
    /// The stream's requests, for cancelling them when nobody resumes it.
    ids: Vec<(RequestId, String)>,
    /// A stateless (2026-07-28) request: that era has no resumption, so no ids and no wait.
    ephemeral: bool,
    grace: Duration,
    /// The stream's waiter: cancelling the stream cancels only the requests still on it.
    owner: std::sync::Weak<super::Waiter>,
}

#[derive(Default)]
struct PostEvents {
    list: VecDeque<(u64, Bytes)>,
    bytes: usize,
    next: u64,
    /// The last event a reader has taken.
    delivered: u64,
    /// All of the stream's messages have arrived.
    ended: bool,
}

impl PostEvents {
    fn undelivered_bytes(&self) -> usize {
        self.list
            .iter()
            .filter(|(seq, _)| *seq > self.delivered)
            .map(|(_, ev)| ev.len())
            .sum()
    }
}

impl PostStream {
    pub(super) fn new(
        id: u64,
        ids: Vec<(RequestId, String)>,
        ephemeral: bool,
        grace: Duration,
        owner: std::sync::Weak<super::Waiter>,
    ) -> PostStream {
        PostStream {
            id,
            events: parking_lot::Mutex::new(PostEvents::default()),
            notify: tokio::sync::Notify::new(),
            space: tokio::sync::Notify::new(),
            readers: std::sync::atomic::AtomicUsize::new(0),
            ids,
            ephemeral,
            grace,
            owner,
        }
    }

    /// Takes the stream's messages from `rx` as events until its last one. A reader that
    /// falls more than 8 MiB behind holds the stream (and so the server), as the channel
    /// alone did; only while nobody reads are the oldest events dropped beyond that.
    pub(super) async fn relay(
        self: Arc<Self>,
        mut rx: mpsc::Receiver<Bytes>,
        child: Arc<ChildSession>,
    ) {
        while let Some(msg) = rx.recv().await {
            loop {
                let space = self.space.notified();
                tokio::pin!(space);
                space.as_mut().enable();
                if self.readers.load(Ordering::Acquire) == 0
                    || self.events.lock().undelivered_bytes() <= REPLAY_BYTES
                {
                    break;
                }
                space.await;
            }
            self.push(&msg);
        }
        self.end();
        if self.readers.load(Ordering::Acquire) == 0 {
            child.routes.lock().posts.remove(&self.id);
        }
    }

    /// Whether a client is reading the stream now.
    pub(super) fn is_read(&self) -> bool {
        self.readers.load(Ordering::Acquire) > 0
    }

    fn push(&self, msg: &[u8]) {
        let mut e = self.events.lock();
        e.next += 1;
        let ev = if self.ephemeral {
            sse::message_event(msg)
        } else {
            sse::message_event_with_label(&format!("{}-{}", self.id, e.next), msg)
        };
        e.bytes += ev.len();
        let seq = e.next;
        e.list.push_back((seq, ev));
        // Beyond the cap, events a reader has taken go first; those nobody has taken only
        // while nobody reads.
        let nobody = self.readers.load(Ordering::Acquire) == 0;
        while e.list.len() > 1 && e.bytes > REPLAY_BYTES {
            let taken = e.list.front().is_some_and(|(seq, _)| *seq <= e.delivered);
            if !taken && !nobody {
                break;
            }
            match e.list.pop_front() {
                Some((_, old)) => e.bytes -= old.len(),
                None => break,
            }
        }
        drop(e);
        self.notify.notify_waiters();
    }

    fn end(&self) {
        self.events.lock().ended = true;
        self.notify.notify_waiters();
    }

    /// The response body of a reader that has seen the events up to `after`.
    pub(super) fn reader(self: &Arc<Self>, child: Arc<ChildSession>, after: u64) -> Body {
        self.readers.fetch_add(1, Ordering::AcqRel);
        let leave = Leave {
            child,
            post: self.clone(),
        };
        let stream = futures::stream::unfold((leave, after), |(leave, mut after)| async move {
            loop {
                let post = leave.post.clone();
                let notified = post.notify.notified();
                tokio::pin!(notified);
                notified.as_mut().enable();
                let (out, ended) = {
                    let mut e = post.events.lock();
                    let mut out = Vec::new();
                    for (seq, ev) in &e.list {
                        if *seq > after {
                            out.extend_from_slice(ev);
                            after = *seq;
                        }
                    }
                    e.delivered = e.delivered.max(after);
                    (out, e.ended)
                };
                if !out.is_empty() {
                    post.space.notify_waiters();
                    return Some((
                        Ok::<_, std::convert::Infallible>(Bytes::from(out)),
                        (leave, after),
                    ));
                }
                if ended {
                    return None;
                }
                notified.await;
            }
        });
        Body::from_stream(stream)
    }
}

/// Dropped when a reader of a POST stream ends or its client goes away. When nobody reads the
/// stream any more and requests are still unanswered, they are cancelled upstream after the
/// resume grace (at once for a stateless request, whose child is then stopped).
struct Leave {
    child: Arc<ChildSession>,
    post: Arc<PostStream>,
}

impl Drop for Leave {
    fn drop(&mut self) {
        let was = self.post.readers.fetch_sub(1, Ordering::AcqRel);
        // A relay waiting for this reader to make room need not wait for it any more.
        self.post.space.notify_waiters();
        if was != 1 {
            return;
        }
        let child = self.child.clone();
        let post = self.post.clone();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        rt.spawn(async move {
            if !post.ephemeral && !post.events.lock().ended {
                tokio::time::sleep(post.grace).await;
            }
            if post.readers.load(Ordering::Acquire) > 0 {
                return; // resumed
            }
            child.routes.lock().posts.remove(&post.id);
            child.abandon(post.ids.clone(), &post.owner).await;
            if post.ephemeral {
                child.close("client_request_done").await;
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_a_reader_has_not_taken_are_never_dropped() {
        let p = PostStream::new(3, Vec::new(), false, Duration::ZERO, std::sync::Weak::new());
        let big = vec![b'x'; 3 << 20];
        let seqs =
            |p: &PostStream| -> Vec<u64> { p.events.lock().list.iter().map(|(s, _)| *s).collect() };
        // A reader is attached and has taken nothing: 15 MiB are kept, over the cap.
        p.readers.store(1, Ordering::Release);
        for _ in 0..5 {
            p.push(&big);
        }
        assert_eq!(seqs(&p), [1, 2, 3, 4, 5]);
        assert!(p.events.lock().undelivered_bytes() > REPLAY_BYTES);
        // It has taken three: those go first, down to the cap.
        p.events.lock().delivered = 3;
        p.push(&big);
        assert_eq!(seqs(&p), [4, 5, 6]);
        // Nobody reads: the oldest go, whatever they are, so memory stays bounded.
        p.readers.store(0, Ordering::Release);
        p.push(&big);
        assert_eq!(seqs(&p), [6, 7]);
        // Ids name the stream and the place in it.
        let last = p
            .events
            .lock()
            .list
            .back()
            .map(|(_, ev)| ev.clone())
            .unwrap();
        assert!(last.starts_with(b"id: 3-7\n"));
    }
}
