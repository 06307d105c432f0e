//! The approvals desk: the [`Holder`] that governs calls a policy sends for approval. It
//! admits each call against the approvals store (a new approval, the same call's pending one,
//! or an approval that covers it), watches the held calls' approvals, and releases each held
//! call as its approval is decided: forwarded when approved (the grant used atomically, the
//! action hash checked again), refused when denied or expired, or answered "pending" when its
//! hold runs out first. Decisions come from any process that shares the store (the CLI, the
//! admin API); the desk sees them within a poll (250 ms).

pub mod action;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use warden_audit::AuditEvent;
use warden_audit::approvals::{
    Admission, Approval, ApprovalStore, GrantKind, NewApproval, Status, records,
};
use warden_audit::keyed::KeyedHasher;
use warden_audit::now_us;
use warden_policy::{Channel, Grant};

use crate::errors;
use crate::pipeline::{Admit, Ask, HeldCall, Holder, Release};

/// How often the desk looks at the store for decisions and expiries.
const POLL: Duration = Duration::from_millis(250);

/// Writes a record the desk makes outside any call (an expiry).
pub type Recorder = Arc<dyn Fn(AuditEvent) + Send + Sync>;

/// A held call waiting on its approval.
struct Waiter {
    approval: String,
    action_hash: String,
    session: String,
    hold_until: Instant,
    tx: oneshot::Sender<Release>,
}

struct Shared {
    store: Arc<dyn ApprovalStore>,
    waiters: Mutex<Vec<Waiter>>,
    record: Recorder,
    dashboard: Mutex<Option<String>>,
    /// Webhook deliveries still retrying, by approval: stopped once it is decided.
    deliveries: Mutex<HashMap<String, tokio::task::AbortHandle>>,
}

/// See the module documentation.
pub struct Desk {
    shared: Arc<Shared>,
    hasher: KeyedHasher,
    log_id: Option<String>,
    /// New approvals whose rule has a webhook, until their call is held (then it is sent).
    to_notify: Mutex<HashMap<String, (warden_policy::Webhook, Approval)>>,
}

impl Desk {
    /// Starts the desk's watcher thread (it ends when the desk is dropped). `log_id` names the
    /// log of this process on the approvals it opens; `dashboard` is the base URL of a
    /// dashboard, linked from pending answers.
    pub fn start(
        store: Arc<dyn ApprovalStore>,
        hasher: KeyedHasher,
        record: Recorder,
        log_id: Option<String>,
        dashboard: Option<String>,
    ) -> std::io::Result<Arc<Desk>> {
        let shared = Arc::new(Shared {
            store,
            waiters: Mutex::new(Vec::new()),
            record,
            dashboard: Mutex::new(dashboard),
            deliveries: Mutex::default(),
        });
        let weak = Arc::downgrade(&shared);
        std::thread::Builder::new()
            .name("approvals".into())
            .spawn(move || watch(&weak))?;
        Ok(Arc::new(Desk {
            shared,
            hasher,
            log_id,
            to_notify: Mutex::default(),
        }))
    }

    /// Posts the notice of a new approval to its rule's webhook (on a runtime of the desk's
    /// own: `warden run` has none), recording each attempt in the approval's session.
    fn notify(&self, hook: &warden_policy::Webhook, a: &Approval) {
        let Some((rt, sender)) = webhook_runtime() else {
            return;
        };
        let record = self.shared.record.clone();
        let (session, server) = (a.session.clone(), a.server.clone());
        let on_attempt: crate::webhook::Record = Arc::new(move |name, detail| {
            let ctx = warden_audit::SessionContext {
                server_name: Some(server.clone()),
                ..warden_audit::SessionContext::default()
            };
            let mut ev = AuditEvent::gateway(session.as_str().into(), Arc::new(ctx), name);
            ev.detail = Some(detail);
            record(ev);
        });
        let dashboard = lock(&self.shared.dashboard).clone();
        if let Some(h) = sender.send(rt.handle(), hook, a, dashboard.as_deref(), on_attempt) {
            lock(&self.shared.deliveries).insert(a.id.clone(), h);
        }
    }

    /// Links pending answers and webhook notices to the dashboard at `url` (its base URL).
    pub fn set_dashboard(&self, url: Option<String>) {
        *lock(&self.shared.dashboard) = url;
    }

    /// The store the desk works on.
    pub fn store(&self) -> &Arc<dyn ApprovalStore> {
        &self.shared.store
    }
}

fn refuse(code: i64, reason: &str, message: String) -> Release {
    Release::Refuse {
        code,
        reason: reason.into(),
        message,
    }
}

fn grant(g: Grant) -> GrantKind {
    match g {
        Grant::Once => GrantKind::Once,
        Grant::Session => GrantKind::Session,
        Grant::Ttl { ms } => GrantKind::Ttl { ms },
    }
}

impl Holder for Desk {
    fn admit(&self, call: &mut HeldCall, ask: &Ask<'_>) -> Admit {
        let tool = call.target.clone().unwrap_or_else(|| call.method.clone());
        let Some(hash) = action::action_hash(&self.hasher, &call.server, &tool, ask.arguments)
        else {
            return Admit::Refuse(refuse(
                errors::APPROVAL_REQUIRED,
                "approval_unhashable",
                "warden: the call's arguments could not be read for its approval".into(),
            ));
        };
        call.action_hash = Some(hash.clone());
        let spec = ask.spec.clone().unwrap_or_default();
        call.hold_ms = spec.hold_ms.min(spec.timeout_ms);
        let new = NewApproval {
            id: call.approval.clone(),
            action_hash: hash,
            server: call.server.clone(),
            method: call.method.clone(),
            tool: call.target.clone(),
            principal: call.principal.clone(),
            agent: ask.agent.clone(),
            session: call.session.clone(),
            rule: call.rule.clone(),
            policy: ask.policy.clone(),
            approvers: call.approvers.clone(),
            grant: grant(spec.grant),
            self_approval: spec.self_approval,
            arguments: ask
                .stored_arguments
                .and_then(|b| serde_json::from_slice(b).ok()),
            timeout_ms: spec.timeout_ms,
            log_id: self.log_id.clone(),
            request_record: None,
        };
        match self.shared.store.admit(new, now_us()) {
            Ok(Admission::Fresh(a)) => {
                call.approval = a.id.clone();
                if let Some(hook) = spec
                    .webhook
                    .filter(|_| spec.channels.contains(&Channel::Webhook))
                {
                    lock(&self.to_notify).insert(a.id.clone(), (hook, a.clone()));
                }
                Admit::Hold {
                    fresh: Some(Box::new(a)),
                }
            }
            Ok(Admission::Attached(a)) => {
                call.approval = a.id;
                Admit::Hold { fresh: None }
            }
            Ok(Admission::Granted(a)) => {
                call.approval = a.id.clone();
                Admit::Granted(Box::new(a))
            }
            Err(e) => Admit::Refuse(refuse(
                errors::APPROVAL_REQUIRED,
                "approval_store_unavailable",
                format!("warden: the call needs approval and the approvals store failed: {e}"),
            )),
        }
    }

    fn hold(&self, call: &HeldCall) -> oneshot::Receiver<Release> {
        let (tx, rx) = oneshot::channel();
        let Some(action_hash) = call.action_hash.clone() else {
            // Not admitted by this desk: nothing can approve it.
            // The receiver is returned below: it cannot be gone yet.
            let _sent = tx.send(refuse(
                errors::APPROVAL_REQUIRED,
                "approval_required",
                "warden: this call needs approval and was not admitted for one".into(),
            ));
            return rx;
        };
        let w = Waiter {
            approval: call.approval.clone(),
            action_hash,
            session: call.session.clone(),
            hold_until: Instant::now() + Duration::from_millis(call.hold_ms),
            tx,
        };
        lock(&self.shared.waiters).push(w);
        // The approval's record is queued with the call's: now the channels may be contacted.
        let fresh = lock(&self.to_notify).remove(&call.approval);
        if let Some((hook, a)) = fresh {
            self.notify(&hook, &a);
        }
        rx
    }

    fn decide(
        &self,
        approval: &str,
        approve: bool,
        who: &warden_audit::approvals::Decider,
        reason: Option<&str>,
    ) -> Result<Approval, String> {
        self.shared
            .store
            .decide(approval, approve, who, reason, now_us())
            .map_err(|e| e.to_string())
    }
}

/// The runtime webhook deliveries run on (started on first use, kept for the process), and
/// the sender; `None` (said once) if either cannot be made.
fn webhook_runtime() -> Option<&'static (tokio::runtime::Runtime, crate::webhook::WebhookSender)> {
    static RT: std::sync::OnceLock<
        Option<(tokio::runtime::Runtime, crate::webhook::WebhookSender)>,
    > = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("approval-webhook")
            .enable_all()
            .build()
            .map_err(|e| e.to_string());
        match rt.and_then(|rt| Ok((rt, crate::webhook::WebhookSender::new()?))) {
            Ok(pair) => Some(pair),
            Err(e) => {
                tracing::error!("approvals: webhooks cannot be sent: {e}");
                None
            }
        }
    })
    .as_ref()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The watcher: expiries, then each held call's approval, every `POLL`.
fn watch(weak: &Weak<Shared>) {
    for round in 0u64.. {
        std::thread::sleep(POLL);
        let Some(shared) = weak.upgrade() else { return };
        // Expiries every second (every round while calls are held, so none outlives its hold).
        if round % 4 == 0 || !lock(&shared.waiters).is_empty() {
            shared.expire();
        }
        shared.release_decided();
    }
}

impl Shared {
    /// Marks approvals past their expiry as expired (whichever process marks one records it).
    fn expire(&self) {
        match self.store.expire_due(now_us()) {
            Ok(expired) => {
                for a in expired {
                    (self.record)(records::decided(&a));
                }
            }
            Err(e) => tracing::warn!("approvals: cannot expire due approvals: {e}"),
        }
    }

    /// Releases the held calls whose approval was decided or whose hold ran out.
    fn release_decided(&self) {
        let waiters = std::mem::take(&mut *lock(&self.waiters));
        if waiters.is_empty() {
            return;
        }
        let mut seen: HashMap<String, Option<Approval>> = HashMap::new();
        let mut keep = Vec::new();
        for w in waiters {
            if w.tx.is_closed() {
                continue; // the session went away; the approval stays for a retry
            }
            let a = seen
                .entry(w.approval.clone())
                .or_insert_with(|| match self.store.get(&w.approval) {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(approval = %w.approval, "approvals: cannot read: {e}");
                        None
                    }
                })
                .clone();
            match self.release(&w, a) {
                Some(r) => {
                    // A held call whose session ended meanwhile has no one to tell.
                    let _gone = w.tx.send(r);
                }
                None => keep.push(w),
            }
        }
        lock(&self.waiters).extend(keep);
    }

    /// How `w` ends given its approval as stored, or `None` while it keeps waiting.
    fn release(&self, w: &Waiter, a: Option<Approval>) -> Option<Release> {
        let Some(a) = a else {
            return Some(refuse(
                errors::APPROVAL_REQUIRED,
                "approval_missing",
                format!(
                    "warden: approval {} is not in the approvals store",
                    w.approval
                ),
            ));
        };
        let by = a.decided_by.as_deref().unwrap_or("warden");
        let why = a
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        if a.status != Status::Pending
            && let Some(h) = lock(&self.deliveries).remove(&a.id)
        {
            h.abort();
        }
        Some(match a.status {
            Status::Pending if Instant::now() < w.hold_until => return None,
            Status::Pending => Release::Pending {
                approval: Box::new(a),
                dashboard: lock(&self.dashboard).clone(),
            },
            Status::Approved => {
                match self
                    .store
                    .consume(&a.id, &w.action_hash, &w.session, now_us())
                {
                    Ok(true) => {
                        let mut a = a;
                        a.uses += 1;
                        Release::Approved(Box::new(a))
                    }
                    Ok(false) => refuse(
                        errors::APPROVAL_REQUIRED,
                        "approval_used",
                        format!(
                            "warden: approval {} was already used by another call (grant {}); call again to ask for a new one",
                            a.id, a.grant
                        ),
                    ),
                    Err(e) => refuse(
                        errors::APPROVAL_REQUIRED,
                        "approval_store_unavailable",
                        format!("warden: approval {} could not be used: {e}", a.id),
                    ),
                }
            }
            Status::Denied => refuse(
                errors::APPROVAL_DENIED,
                "approval_denied",
                format!(
                    "warden: approval {} was denied by {by}{why}; the call was not forwarded",
                    a.id
                ),
            ),
            Status::Cancelled => refuse(
                errors::APPROVAL_DENIED,
                "approval_cancelled",
                format!(
                    "warden: approval {} was cancelled{why}; the call was not forwarded",
                    a.id
                ),
            ),
            Status::Expired => refuse(
                errors::APPROVAL_EXPIRED,
                "approval_expired",
                format!(
                    "warden: approval {} expired before anyone decided; the call was not forwarded",
                    a.id
                ),
            ),
        })
    }
}
