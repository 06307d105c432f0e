//! `warden run`: the stdio front door.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use warden_audit::{AuditEvent, AuditWriter, Durability, Keys, PayloadLevel, Store, WriterConfig};
use warden_policy::redact::{RedactConfig, Redactor};
use warden_proxy::{Governance, OnStoreError, Pipeline, StdioConfig};

use crate::cli::{DurabilityArg, LogLevel, RunArgs, StoreErrorArg};
use crate::paths;

pub(crate) fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    let db = args.store.db.unwrap_or_else(paths::default_db);
    let key_dir = args.keys.key_dir.unwrap_or_else(paths::default_key_dir);
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
    let cfg = WriterConfig {
        instance: args.instance,
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
    // A policy that does not compile stops warden before the server starts.
    let governance = match &args.policy {
        Some(path) => Some(Governance {
            policy: Arc::new(super::policy::load_for_run(path)?),
            principal: args
                .principal
                .clone()
                .or_else(|| std::env::var("USER").ok()),
            roles: args.roles.clone(),
        }),
        None => None,
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
        Some(c) => Some(Redactor::new(&c).with_context(|| format!("mask_fields{}", rules_in()))?),
        None => None,
    };
    // Budgets keep counting across restarts: the current windows' usage is in the store.
    let seed = match &governance {
        Some(g) => budget_seed(&store, &g.policy)?,
        None => Vec::new(),
    };
    let writer = AuditWriter::start(store, keys, cfg)?;
    let mut pipeline = Pipeline::new(
        writer.handle(),
        args.server_name,
        durability,
        on_store_error,
    );
    if let Some(g) = governance {
        pipeline = pipeline.with_governance(g);
    }
    if let Some(r) = redactor {
        pipeline = pipeline.with_redactor(r);
    }
    if let Some(w) = wire {
        pipeline = pipeline.with_wire_masking(w);
    }
    pipeline = pipeline.with_tool_lists(args.sensitive_tools.clone(), args.write_tools.clone());
    for (key, window_start_ms, units) in seed {
        pipeline.seed_budget(&key, window_start_ms, units);
    }
    let pipeline = Arc::new(pipeline);
    let result = warden_proxy::run(
        StdioConfig {
            command: args.command,
            shell: args.shell,
            grace: Duration::from_millis(args.grace_ms),
            max_frame: args.max_frame.max(1024),
            on_store_error,
            policy_file: args.policy.clone(),
        },
        pipeline.clone(),
    );
    let closing = AuditEvent::gateway(pipeline.session().into(), pipeline.context(), "log_closed");
    let summary = writer.close(closing);
    if summary.lost > 0 {
        anyhow::bail!(
            "{} audit records could not be written to {}",
            summary.lost,
            db.display()
        );
    }
    let result = result?;
    Ok(ExitCode::from(u8::try_from(result.exit_code).unwrap_or(1)))
}

/// The usage of the policy's budgets in their current windows, from the store.
fn budget_seed(
    store: &Store,
    policy: &warden_policy::PolicySet,
) -> anyhow::Result<Vec<(String, u64, u64)>> {
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
