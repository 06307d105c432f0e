//! Delivery of a frame the pipeline has decided on: with `durability: sync` it first waits for
//! the commit of its records, then it is forwarded, answered, dropped or held. Inline for the
//! client's frames; for the server's under sync durability, on an ordered releaser thread, so
//! the server→client pump keeps reading while responses wait for their commit (the writer then
//! groups them into one) and the client still gets them in the order the server wrote them.

use std::thread::JoinHandle;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, bounded};
use warden_audit::writer::Ack;

use super::{Holds, Side};
use crate::pipeline::{OnStoreError, Pipeline, Route};

/// A frame on its way out: where it goes, and the commit it waits for first.
pub(super) struct Delivery {
    pub(super) frame: Bytes,
    pub(super) route: Route,
    pub(super) ack: Option<Receiver<Ack>>,
    /// warden's own request back to the frame's sender, sent after the frame.
    pub(super) ask: Option<Vec<u8>>,
}

impl Delivery {
    /// Bytes passed through unparsed (the rest of an oversized server frame).
    pub(super) fn raw(frame: Bytes) -> Delivery {
        Delivery {
            frame,
            route: Route::Forward,
            ack: None,
            ask: None,
        }
    }
}

/// Where a pump's frames go: `forward` to the other side, `answer` back to the sender (warden's
/// refusals to the client; warden's own requests to the server).
pub(super) struct Ends<'a> {
    pub(super) pipeline: &'a Pipeline,
    pub(super) on_store_error: OnStoreError,
    pub(super) forward: &'a mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    pub(super) answer: &'a dyn Fn(&[u8]) -> std::io::Result<()>,
    pub(super) holds: Option<&'a Holds>,
}

/// Waits for the frame's commit, then moves it as its route says.
pub(super) fn deliver(d: Delivery, ends: &mut Ends<'_>) -> Result<(), Side> {
    let out = |e: std::io::Error| Side::Output(e.to_string());
    if let Some(ack) = d.ack {
        let committed = ack
            .recv()
            .unwrap_or_else(|_| Err("audit writer stopped".into()));
        if let Err(reason) = committed
            && ends.on_store_error == OnStoreError::FailClosed
        {
            // durability: sync promises no response reaches the client unrecorded.
            let reply = ends
                .pipeline
                .store_failed(&d.frame, &reason)
                .map_err(|e| Side::Output(e.to_string()))?;
            return (ends.forward)(&reply).map_err(out);
        }
    }
    let moved = match d.route {
        Route::Forward => (ends.forward)(&d.frame).map_err(out),
        Route::Replace(bytes) => (ends.forward)(&bytes).map_err(out),
        Route::Answer(reply) => (ends.answer)(&reply).map_err(|e| Side::Input(e.to_string())),
        Route::Drop => Ok(()),
        Route::Hold(hold) => match ends.holds {
            Some(h) => h.wait(*hold, d.frame).map_err(out),
            // Only client requests are held; a server frame is never.
            None => Err(Side::Output("a server frame cannot be held".into())),
        },
    };
    if let Some(ask) = d.ask
        && let Err(e) = (ends.answer)(&ask)
    {
        // Recorded already; unanswered, it is recorded as abandoned at session end.
        tracing::warn!("warden's own request not delivered: {e}");
    }
    moved
}

/// Frames queued between the pump and the releaser: enough to cover many commits in flight.
const QUEUE: usize = 1024;

/// The ordered releaser: one thread delivering a pump's frames in the order they were read.
pub(super) struct Releaser {
    tx: Option<Sender<Delivery>>,
    thread: Option<JoinHandle<Result<(), Side>>>,
}

impl Releaser {
    pub(super) fn start(
        pipeline: std::sync::Arc<Pipeline>,
        on_store_error: OnStoreError,
        mut forward: impl FnMut(&[u8]) -> std::io::Result<()> + Send + 'static,
        answer: impl Fn(&[u8]) -> std::io::Result<()> + Send + 'static,
    ) -> std::io::Result<Releaser> {
        let (tx, rx) = bounded::<Delivery>(QUEUE);
        let thread = std::thread::Builder::new()
            .name("release".into())
            .spawn(move || {
                let mut ends = Ends {
                    pipeline: &pipeline,
                    on_store_error,
                    forward: &mut forward,
                    answer: &answer,
                    holds: None,
                };
                for d in rx {
                    deliver(d, &mut ends)?;
                }
                Ok(())
            })?;
        Ok(Releaser {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues a frame; once the releaser has failed, its error.
    pub(super) fn send(&mut self, d: Delivery) -> Result<(), Side> {
        match self.tx.as_ref().map(|tx| tx.send(d)) {
            Some(Ok(())) => Ok(()),
            _ => Err(self
                .finish()
                .err()
                .unwrap_or_else(|| Side::Output("the releaser stopped".into()))),
        }
    }

    /// Delivers what is queued and stops: how the releaser ended.
    pub(super) fn finish(&mut self) -> Result<(), Side> {
        self.tx.take();
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(r)) => r,
            Some(Err(_)) => Err(Side::Output("the releaser panicked".into())),
            None => Ok(()),
        }
    }
}
