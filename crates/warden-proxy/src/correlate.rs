//! Correlation of requests and responses in both id spaces of a session, cancellation and
//! progress tokens. Owned by one session; no I/O.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use uuid::Uuid;
use warden_core::{RequestId, Side};

/// A request waiting for its response.
#[derive(Clone, Debug)]
pub struct Pending {
    pub exchange: Uuid,
    pub started: Instant,
    pub method: String,
    pub target: Option<String>,
    pub progress: Option<RequestId>,
    pub cancelled: bool,
    pub initiator: Side,
    pub id: RequestId,
    /// warden's own request (sent in `initiator`'s id space, answered to warden, not forwarded).
    pub own: bool,
}

/// A response matched to its request.
#[derive(Clone, Debug)]
pub struct Closed {
    pub exchange: Uuid,
    pub duration: Duration,
    pub method: String,
    pub target: Option<String>,
    pub cancelled: bool,
    /// It answers warden's own request.
    pub own: bool,
}

/// In-flight requests keyed by `(initiator, id)`: ids are unique only per sender.
#[derive(Default)]
pub struct Correlator {
    pending: HashMap<(Side, RequestId), Pending>,
    progress: HashMap<RequestId, Uuid>,
}

impl Correlator {
    /// Opens an exchange for a request sent by `initiator`. Returns the new exchange id and,
    /// if the id was still in flight (a protocol anomaly), the exchange it displaced.
    pub fn request(
        &mut self,
        initiator: Side,
        id: RequestId,
        method: &str,
        target: Option<String>,
        progress: Option<RequestId>,
    ) -> (Uuid, Option<Pending>) {
        let exchange = Uuid::now_v7();
        if let Some(token) = &progress {
            self.progress.insert(token.clone(), exchange);
        }
        let displaced = self.pending.insert(
            (initiator, id.clone()),
            Pending {
                exchange,
                started: Instant::now(),
                method: method.to_owned(),
                target,
                progress,
                cancelled: false,
                initiator,
                id,
                own: false,
            },
        );
        if let Some(d) = &displaced
            && let Some(t) = &d.progress
            && self.progress.get(t) == Some(&d.exchange)
        {
            self.progress.insert(t.clone(), exchange);
        }
        (exchange, displaced)
    }

    /// Closes the exchange a response (sent by the other side) answers.
    pub fn response(&mut self, initiator: Side, id: &RequestId) -> Option<Closed> {
        let p = self.pending.remove(&(initiator, id.clone()))?;
        if let Some(t) = &p.progress
            && self.progress.get(t) == Some(&p.exchange)
        {
            self.progress.remove(t);
        }
        Some(Closed {
            exchange: p.exchange,
            duration: p.started.elapsed(),
            method: p.method,
            target: p.target,
            cancelled: p.cancelled,
            own: p.own,
        })
    }

    /// Opens an exchange for warden's own request, sent to the other side in `initiator`'s id
    /// space (so a peer reusing the id while it is in flight is refused like any reuse). `None`,
    /// opening nothing, if the id is in flight already.
    pub fn own_request(&mut self, initiator: Side, id: RequestId, method: &str) -> Option<Uuid> {
        let key = (initiator, id.clone());
        if self.pending.contains_key(&key) {
            return None;
        }
        let exchange = Uuid::now_v7();
        self.pending.insert(
            key,
            Pending {
                exchange,
                started: Instant::now(),
                method: method.to_owned(),
                target: None,
                progress: None,
                cancelled: false,
                initiator,
                id,
                own: true,
            },
        );
        Some(exchange)
    }

    /// The method of the in-flight request a response would answer.
    pub fn method_of(&self, initiator: Side, id: &RequestId) -> Option<&str> {
        self.pending
            .get(&(initiator, id.clone()))
            .map(|p| p.method.as_str())
    }

    /// Marks a request cancelled (`notifications/cancelled`); returns its exchange.
    pub fn cancel(&mut self, initiator: Side, id: &RequestId) -> Option<Uuid> {
        let p = self.pending.get_mut(&(initiator, id.clone()))?;
        p.cancelled = true;
        Some(p.exchange)
    }

    /// The exchange a progress token belongs to.
    pub fn progress(&self, token: &RequestId) -> Option<Uuid> {
        self.progress.get(token).copied()
    }

    /// Ends the session: every request still in flight, oldest first.
    pub fn drain(&mut self) -> Vec<Pending> {
        self.progress.clear();
        let mut all: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        all.sort_by_key(|p| p.started);
        all
    }

    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(n: &str) -> RequestId {
        RequestId::Num(n.into())
    }

    #[test]
    fn both_id_spaces_are_separate_and_out_of_order_works() {
        let mut c = Correlator::default();
        let (a, _) = c.request(
            Side::Client,
            num("1"),
            "tools/call",
            Some("echo".into()),
            Some(num("1")),
        );
        let (b, _) = c.request(Side::Server, num("1"), "sampling/createMessage", None, None);
        let (d, _) = c.request(Side::Client, num("2"), "tools/list", None, None);
        assert_eq!(c.progress(&num("1")), Some(a));
        assert_eq!(c.response(Side::Client, &num("2")).unwrap().exchange, d);
        assert_eq!(c.response(Side::Server, &num("1")).unwrap().exchange, b);
        let closed = c.response(Side::Client, &num("1")).unwrap();
        assert_eq!((closed.exchange, closed.method.as_str()), (a, "tools/call"));
        assert!(c.response(Side::Client, &num("1")).is_none());
        assert_eq!(c.progress(&num("1")), None);
    }

    #[test]
    fn cancel_then_drain() {
        let mut c = Correlator::default();
        let (a, _) = c.request(
            Side::Client,
            RequestId::Str("x".into()),
            "tools/call",
            None,
            None,
        );
        assert_eq!(c.cancel(Side::Client, &RequestId::Str("x".into())), Some(a));
        assert!(
            c.response(Side::Client, &RequestId::Str("x".into()))
                .unwrap()
                .cancelled
        );
        c.request(Side::Client, num("9"), "ping", None, None);
        let (_, displaced) = c.request(Side::Client, num("9"), "ping", None, None);
        assert!(displaced.is_some());
        assert_eq!(c.drain().len(), 1);
        assert_eq!(c.in_flight(), 0);
    }
}
