//! Resumable POST streams of a stdio upstream: each SSE POST stream's events are kept with
//! ids until its requests are answered, so a client that lost the stream can pick it up again
//! with `Last-Event-ID`; one that does not come back has its requests cancelled.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use warden_core::RequestId;

use super::{ChildSession, REPLAY_BYTES};
use crate::http::sse;

/// The events of one SSE POST stream with their ids (`STREAM-SEQ`), kept until its requests
/// are answered, so a client that lost the stream can resume it: a GET with `Last-Event-ID`
/// gets the events after that one, then the rest as they come. A client that is gone longer
/// than `stream_resume_ms` has its unanswered requests cancelled.
pub(super) struct PostStream {
    pub(super) id: u64,
    pub(super) events: parking_lot::Mutex<PostEvents>,
    pub(super) notify: tokio::sync::Notify,
    pub(super) readers: std::sync::atomic::AtomicUsize,
    /// The stream's requests, for cancelling them when nobody resumes it.
    pub(super) ids: Vec<(RequestId, String)>,
    /// A stateless (2026-07-28) request: that era has no resumption, so no ids and no wait.
    pub(super) ephemeral: bool,
    pub(super) grace: Duration,
}

#[derive(Default)]
pub(super) struct PostEvents {
    list: VecDeque<(u64, Bytes)>,
    bytes: usize,
    next: u64,
    /// All of the stream's messages have arrived.
    ended: bool,
}

impl PostStream {
    pub(super) fn push(&self, msg: &[u8]) {
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
        while e.list.len() > 1 && e.bytes > REPLAY_BYTES {
            match e.list.pop_front() {
                Some((_, old)) => e.bytes -= old.len(),
                None => break,
            }
        }
        drop(e);
        self.notify.notify_waiters();
    }

    pub(super) fn end(&self) {
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
                    let e = post.events.lock();
                    let mut out = Vec::new();
                    for (seq, ev) in &e.list {
                        if *seq > after {
                            out.extend_from_slice(ev);
                            after = *seq;
                        }
                    }
                    (out, e.ended)
                };
                if !out.is_empty() {
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
        if self.post.readers.fetch_sub(1, Ordering::AcqRel) != 1 {
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
            child.abandon(post.ids.clone()).await;
            if post.ephemeral {
                child.close("client_request_done").await;
            }
        });
    }
}
