//! The one hook observability has into the data path: an [`Observer`] is shown the records
//! each frame (or gateway event) produced, just before they are queued for the audit log.

use warden_audit::AuditEvent;

/// What the transport knows about a frame beyond its bytes.
#[derive(Clone, Copy, Debug, Default)]
pub struct FrameHints<'a> {
    /// A W3C `traceparent` that came with the frame (an HTTP header of the front door).
    pub traceparent: Option<&'a str>,
}

/// Told about every record before it is queued. Implementations count, trace and watch; they
/// must never block (the pipeline waits for them) and never keep payloads.
pub trait Observer: Send + Sync {
    /// `records` are one frame's records (or one gateway event), in order. Returns gateway
    /// events to record after them (`name`, `detail`), e.g. anomalies that were detected.
    fn observe(
        &self,
        records: &[AuditEvent],
        hints: FrameHints<'_>,
    ) -> Vec<(&'static str, serde_json::Value)>;
}

/// Shows `events` to `o` and appends the gateway events it asks for, in the session and
/// context of the first event (or `session` and `ctx` when there is none).
pub fn observed(
    o: &dyn Observer,
    events: &mut Vec<AuditEvent>,
    hints: FrameHints<'_>,
    session: &std::sync::Arc<str>,
    ctx: impl FnOnce() -> std::sync::Arc<warden_audit::SessionContext>,
) {
    let extra = o.observe(events, hints);
    if extra.is_empty() {
        return;
    }
    let (session, ctx) = match events.first() {
        Some(e) => (e.session.clone(), e.context.clone()),
        None => (session.clone(), ctx()),
    };
    for (name, detail) in extra {
        let mut ev = AuditEvent::gateway(session.clone(), ctx.clone(), name);
        ev.detail = Some(detail);
        events.push(ev);
    }
}
