//! What `run` and `serve` share: the audit writer, the policy, the redaction rules, and how a
//! session's pipeline is made from them.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use warden_audit::approvals::SqliteApprovals;
use warden_audit::{AuditWriter, Durability, Keys, PayloadLevel, Store, WriterConfig};
use warden_policy::PolicySet;
use warden_policy::redact::{RedactConfig, Redactor};
use warden_proxy::approvals::{Desk, Recorder};
use warden_proxy::budgets::BudgetBook;
use warden_proxy::limits::RateLimiter;
use warden_proxy::{Governance, OnStoreError, Pipeline};

use crate::cli::{DurabilityArg, LogLevel, RecordArgs, StoreErrorArg};
use crate::paths;

/// The recording and governance set up from `RecordArgs`.
pub(crate) struct Recording {
    pub(crate) db: std::path::PathBuf,
    pub(crate) writer: AuditWriter,
    /// Removes content past its retention period (`--content-retention`).
    expiry: Option<super::erase::Expiry>,
    pub(crate) durability: Durability,
    pub(crate) on_store_error: OnStoreError,
    /// The policy new sessions get (replaced when the file is reloaded).
    policy: Arc<std::sync::RwLock<Option<Arc<PolicySet>>>>,
    redactor: Option<Arc<Redactor>>,
    wire: Option<Arc<Redactor>>,
    sensitive_tools: Vec<String>,
    write_tools: Vec<String>,
    /// Shared by every session of this process, seeded from the store.
    limiter: Arc<RateLimiter>,
    budgets: Arc<BudgetBook>,
    /// Metrics, traces and security events, when asked for.
    pub(crate) observe: Option<super::observe::Running>,
    /// Holds calls sent for approval and releases them as they are decided.
    pub(crate) desk: Arc<Desk>,
    /// The tool catalog: pinned definitions, unapproved tools hidden and refused.
    pub(crate) catalog: Arc<warden_proxy::catalog::Catalog>,
    /// Sends committed checkpoints to witnesses and anchors, when asked for.
    submitter: Option<warden_audit::witness::submit::Submitter>,
}

impl Recording {
    /// Opens the store and keys, compiles the policy and redaction rules, starts the writer.
    /// A policy that does not compile stops warden before any server starts.
    pub(crate) fn start(
        args: &RecordArgs,
        front: super::observe::Front,
        always_observe: bool,
    ) -> anyhow::Result<Recording> {
        let db = args.store.db.clone().unwrap_or_else(paths::default_db);
        let key_dir = args
            .keys
            .key_dir
            .clone()
            .unwrap_or_else(paths::default_key_dir);
        let keys = Keys::load_or_create(&key_dir, &args.instance).context("loading keys")?;
        let durability = match args.durability {
            DurabilityArg::Batch => Durability::Batch,
            DurabilityArg::Sync => Durability::Sync,
        };
        let on_store_error = match args.on_store_error {
            StoreErrorArg::FailClosed => OnStoreError::FailClosed,
            StoreErrorArg::FailOpen => OnStoreError::FailOpen,
        };
        let store = Store::open(&db, durability == Durability::Sync)?;
        let (submitter, checkpoint_sink) =
            match super::witness_audit::start_submitter(&args.witnessing, &db)? {
                Some((s, sink)) => (Some(s), Some(sink)),
                None => (None, None),
            };
        let cfg = WriterConfig {
            checkpoint_sink,
            instance: args.instance.clone(),
            durability,
            level: match args.log_level {
                LogLevel::Minimal => PayloadLevel::Minimal,
                LogLevel::Standard => PayloadLevel::Standard,
                LogLevel::Detailed => PayloadLevel::Detailed,
            },
            max_payload: args.max_payload,
            checkpoint_every: args.checkpoint_every.max(1),
            checkpoint_interval: Duration::from_secs(args.checkpoint_secs.max(1)),
            ..WriterConfig::default()
        };
        let loaded = match &args.policy {
            Some(path) => Some(super::policy::load_for_run(path)?),
            None => None,
        };
        let (policy, files) = match loaded {
            Some(l) => (Some(Arc::new(l.policy)), l.files),
            None => (None, Vec::new()),
        };
        let config: Option<RedactConfig> = match &args.redact_config {
            None => None,
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading {}", path.display()))?;
                Some(
                    serde_saphyr::from_str(&text)
                        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
                )
            }
        };
        let rules_in = || {
            args.redact_config
                .as_ref()
                .map_or(String::new(), |p| format!(" in {}", p.display()))
        };
        let redactor = if args.no_redact {
            None
        } else {
            Some(match &config {
                None => Redactor::default(),
                Some(c) => {
                    Redactor::new(c).with_context(|| format!("redaction rules{}", rules_in()))?
                }
            })
        };
        let wire = match config.as_ref().and_then(RedactConfig::wire) {
            Some(c) => {
                Some(Redactor::new(&c).with_context(|| format!("mask_fields{}", rules_in()))?)
            }
            None => None,
        };
        // Budgets keep counting across restarts: the current windows' usage is in the store.
        let budgets = Arc::new(BudgetBook::default());
        if let Some(p) = &policy {
            for (key, window_start_ms, units) in budget_seed(&store, p)? {
                budgets.seed(&key, window_start_ms, units);
            }
        }
        let params_hasher = keys.hasher.clone();
        let action_hasher = keys.hasher.clone();
        let writer = AuditWriter::start(store, keys, cfg)?;
        // Tool names an operator wrote (tool lists, exact policy patterns) are labels from the
        // start, so a call made before any `tools/list` is not `other`.
        let known: Vec<String> = args
            .sensitive_tools
            .iter()
            .chain(&args.write_tools)
            .cloned()
            .chain(policy.iter().flat_map(|p| p.named_tools()))
            .collect();
        let observe = super::observe::start(
            &args.observe,
            &writer.handle(),
            &known,
            front,
            always_observe,
            params_hasher,
        )?;
        let desk = start_desk(&db, &writer, observe.as_ref(), action_hasher)?;
        let catalog = Arc::new(warden_proxy::catalog::Catalog::new(
            Arc::new(warden_audit::catalog::SqliteCatalog::open(&db).map_err(anyhow::Error::msg)?),
            warden_audit::catalog::Intake {
                new: match args.new_tools {
                    crate::cli::NewToolsArg::Allow => warden_audit::catalog::NewTools::Allow,
                    crate::cli::NewToolsArg::Quarantine => {
                        warden_audit::catalog::NewTools::Quarantine
                    }
                    crate::cli::NewToolsArg::Deny => warden_audit::catalog::NewTools::Deny,
                },
                baseline: !args.no_tool_baseline,
            },
        ));
        let policy_slot = Arc::new(std::sync::RwLock::new(policy.clone()));
        if let (Some(o), Some(s)) = (&observe, &submitter) {
            o.observer
                .metrics()
                .witness
                .set(super::witness_audit::counts(s));
        }
        if let Some(o) = &observe {
            // `mcp_catalog_tools{state}` and `mcp_catalog_review_overdue` are read from the
            // catalog (and the catalog metadata of the policy in force) when scraped.
            let store = catalog.store().clone();
            let slot = policy_slot.clone();
            o.observer.metrics().catalog_tools.set(Arc::new(move || {
                let tools = store.list(None).ok()?;
                let policy = slot
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let meta = policy.as_ref().map(|p| p.catalog());
                Some(warden_proxy::catalog_meta::counts(
                    &tools,
                    meta,
                    warden_proxy::catalog_meta::today(),
                ))
            }));
        }
        let expiry = args.content_retention.map(|keep| {
            super::erase::Expiry::start(
                db.clone(),
                writer.handle(),
                keep,
                Duration::from_secs(3600),
            )
        });
        let rec = Recording {
            expiry,
            submitter,
            catalog,
            desk,
            observe,
            db,
            writer,
            durability,
            on_store_error,
            policy: policy_slot,
            redactor: redactor.map(Arc::new),
            wire: wire.map(Arc::new),
            sensitive_tools: args.sensitive_tools.clone(),
            write_tools: args.write_tools.clone(),
            limiter: Arc::default(),
            budgets,
        };
        if let (Some(path), Some(p)) = (&args.policy, &policy) {
            // The policy in force from the start, and the files it came from.
            let detail = warden_proxy::policy_source::Loaded::detail(p, path, &files);
            rec.pipeline(None, None, None, Vec::new())
                .with_session("")
                .event("policy_loaded", detail)
                .context("recording the policy loaded")?;
        }
        Ok(rec)
    }

    /// How the admin API records the decisions it makes: as the desk records its own.
    pub(crate) fn approvals_recorder(&self) -> Recorder {
        approvals_recorder(&self.writer, self.observe.as_ref())
    }

    /// Closes the log with `closing` as its last record; an error if any record was lost.
    pub(crate) fn finish(self, closing: warden_audit::AuditEvent) -> anyhow::Result<()> {
        if let Some(e) = self.expiry {
            e.stop();
        }
        let summary = self.writer.close(closing);
        if let Some(s) = self.submitter {
            // The final checkpoint is anchored and submitted before the process ends.
            s.finish(Duration::from_secs(10));
        }
        if let Some(o) = &self.observe {
            o.shutdown();
        }
        if summary.lost > 0 {
            anyhow::bail!(
                "{} audit records could not be written to {}",
                summary.lost,
                self.db.display()
            );
        }
        Ok(())
    }

    /// The policy in force (shared with what reads the catalog metadata: metrics, the API).
    pub(crate) fn policy_slot(&self) -> Arc<std::sync::RwLock<Option<Arc<PolicySet>>>> {
        self.policy.clone()
    }

    /// A server's identity in the tool catalog (`stdio:` and its command line, `url:` and its
    /// URL), redacted as a record's fields are: a password in a connection string never
    /// reaches the catalog or its records.
    pub(crate) fn identity(&self, raw: &str) -> String {
        match &self.redactor {
            Some(r) => r.redact_str(raw).0.into_owned(),
            None => raw.to_owned(),
        }
    }

    /// The policy for sessions started from now on.
    pub(crate) fn set_policy(&self, p: Arc<PolicySet>) {
        *self
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(p);
    }

    /// A new session's pipeline for `server`, governing `principal` with `roles`.
    /// `identity` names the server in the tool catalog (its command line or URL); without
    /// one the session's tools are not catalogued.
    pub(crate) fn pipeline(
        &self,
        server: Option<String>,
        identity: Option<String>,
        principal: Option<String>,
        roles: Vec<String>,
    ) -> Pipeline {
        let mut p = Pipeline::new(
            self.writer.handle(),
            server,
            self.durability,
            self.on_store_error,
        )
        .with_counters(self.limiter.clone(), self.budgets.clone())
        .with_identity(principal.clone(), None);
        let policy = self
            .policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        if let Some(policy) = policy {
            p = p.with_governance(Governance {
                policy,
                principal,
                roles,
            });
        }
        if let Some(r) = &self.redactor {
            p = p.with_redactor(r.clone());
        }
        if let Some(w) = &self.wire {
            p = p.with_wire_masking(w.clone());
        }
        if let Some(o) = &self.observe {
            p = p.with_observer(o.observer.clone());
        }
        if let Some(id) = identity {
            p = p.with_catalog(self.catalog.clone(), id);
        }
        p.with_holder(self.desk.clone())
            .with_tool_lists(self.sensitive_tools.clone(), self.write_tools.clone())
    }
}

/// The approvals desk of this process, on the store's approvals; what it records outside a
/// call (expiries) goes through the observer like every record.
fn start_desk(
    db: &std::path::Path,
    writer: &AuditWriter,
    observe: Option<&super::observe::Running>,
    hasher: warden_audit::keyed::KeyedHasher,
) -> anyhow::Result<Arc<Desk>> {
    let approvals = SqliteApprovals::open(db).map_err(anyhow::Error::msg)?;
    let log_id = writer.handle().log_id().to_owned();
    let record = approvals_recorder(writer, observe);
    Desk::start(Arc::new(approvals), hasher, record, Some(log_id), None)
        .context("starting the approvals desk")
}

/// Writes an approvals record made outside a call (an expiry, a decision through the admin
/// API) to this process's log, through the observer like every record.
fn approvals_recorder(writer: &AuditWriter, observe: Option<&super::observe::Running>) -> Recorder {
    let handle = writer.handle();
    let observer = observe.map(|o| o.observer.clone());
    let none: Arc<str> = "".into();
    Arc::new(move |ev| {
        let mut events = vec![ev];
        if let Some(o) = &observer {
            warden_proxy::observer::observed(&**o, &mut events, Default::default(), &none, || {
                Arc::default()
            });
        }
        for ev in events {
            if let Err(e) = handle.record(ev) {
                tracing::error!("approvals: cannot record: {e}");
            }
        }
    })
}

/// The usage of the policy's budgets in their current windows, from the store.
fn budget_seed(store: &Store, policy: &PolicySet) -> anyhow::Result<Vec<(String, u64, u64)>> {
    let longest = policy
        .rules()
        .iter()
        .filter_map(|r| r.budget.as_ref())
        .map(|b| b.window_ms)
        .max();
    let Some(longest) = longest else {
        return Ok(Vec::new());
    };
    let now_ms = u64::try_from(warden_audit::now_us() / 1000).unwrap_or(0);
    let since_ms = warden_proxy::budgets::window_start(now_ms, longest);
    Ok(store.budget_usage(i64::try_from(since_ms).unwrap_or(0) * 1000)?)
}
