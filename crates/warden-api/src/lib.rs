//! warden-api: the admin plane over an audit store. A REST API under `/api/v1` (records,
//! sessions, statistics, integrity, a live tail over SSE, the approvals queue and its
//! decisions, the tool catalog and its decisions), its OpenAPI document, the
//! dashboard (static files embedded in the binary that use only that API), and the
//! self-contained report (`report`).
//!
//! # Layout
//! - [`routes`]: the handlers; every store read runs in `spawn_blocking` on a read-only
//!   connection (`Store::open_read`), never on a writer's.
//! - [`approvals`]: the approvals queue and its decisions (the one write the API makes, in
//!   the approvals table, and its `approval_decided` record); [`approvers`]: who decides.
//! - [`catalog`]: the tool catalog, a tool's diff, and its approval or rejection (in the
//!   catalog table, recorded as `catalog_tool_decided`).
//! - [`stream`]: the live tail. [`assets`]: the dashboard files. [`auth`]: the `Host` and
//!   `Origin` check on every route (DNS rebinding), the bearer token on the API.
//! - [`tlog`]: each log as a C2SP tiled log (checkpoint, tiles, entry bundles), read-only.
//! - [`params`], [`views`], [`error`]: what requests and answers look like.
//! - [`report`]: the report model and its HTML, JSON, CSV and Markdown forms.

pub mod approvals;
pub mod approvers;
pub mod assets;
pub mod auth;
pub mod catalog;
mod decision;
pub mod error;
pub mod params;
pub mod report;
pub mod routes;
pub mod stream;
pub mod tlog;
pub mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use parking_lot::Mutex;
use warden_audit::Store;
use warden_audit::approvals::{ApprovalStore, SqliteApprovals};
use warden_audit::catalog::CatalogStore;
pub use warden_core::host::HostRules;

pub use approvers::Decisions;
pub use error::ApiError;

/// What the admin plane serves from: the store, and who may ask.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    db: PathBuf,
    token: Option<String>,
    hosts: HostRules,
    /// Idle read-only connections, reused across requests.
    pool: Mutex<Vec<Store>>,
    verify: tokio::sync::Mutex<Option<routes::VerifyCache>>,
    /// Trusted verifier keys for `/verify` (none: each log's registered key).
    trusted: Option<Vec<String>>,
    /// The approvals: given, or the store's table opened on first use (the store may not
    /// exist before).
    approvals: Arc<Mutex<Option<Arc<dyn ApprovalStore>>>>,
    decisions: Option<Decisions>,
    /// The tool catalog: given, or the store's table opened on first use.
    catalog: Arc<Mutex<Option<Arc<dyn CatalogStore>>>>,
    /// Whose holders decide catalog entries (with [`Decisions`]).
    catalog_roles: Vec<String>,
    /// The policy in force, for its catalog metadata (owner, tier, reviews).
    policy: Option<PolicySource>,
}

/// Gives the policy in force (`warden serve`'s, which a reload replaces).
pub type PolicySource = Arc<dyn Fn() -> Option<Arc<warden_policy::PolicySet>> + Send + Sync>;

/// What an [`ApiState`] is made from.
#[derive(Clone, Default)]
pub struct ApiOptions {
    /// The audit store (SQLite) to read.
    pub db: PathBuf,
    /// When set, every API request must carry `Authorization: Bearer TOKEN`.
    pub token: Option<String>,
    /// Verifier keys `/verify` trusts (none: each log's registered key).
    pub trusted_keys: Option<Vec<String>>,
    /// The `Host` and `Origin` values every route accepts (the default: loopback names only).
    pub hosts: HostRules,
    /// The approvals store (`warden serve`: its desk's). None: the store's table, opened
    /// on first use.
    pub approvals: Option<Arc<dyn ApprovalStore>>,
    /// Approvers and a recorder: approvals can be decided here (`warden serve`). Without,
    /// they are only shown (`warden dashboard`).
    pub decisions: Option<Decisions>,
    /// The tool catalog (`warden serve`: its gateway's). None: the store's table, opened on
    /// first use.
    pub catalog: Option<Arc<dyn CatalogStore>>,
    /// The roles whose holders decide catalog entries, with `decisions` (empty:
    /// [`catalog::DEFAULT_ROLES`]).
    pub catalog_roles: Vec<String>,
    /// The policy in force, whose catalog metadata the catalog routes show.
    pub policy: Option<PolicySource>,
}

impl std::fmt::Debug for ApiOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiOptions")
            .field("db", &self.db)
            .field("token", &self.token.as_ref().map(|_| "…"))
            .field("trusted_keys", &self.trusted_keys)
            .field("hosts", &self.hosts)
            .field("approvals", &self.approvals.as_ref().map(|_| "given"))
            .field("decisions", &self.decisions)
            .field("catalog", &self.catalog.as_ref().map(|_| "given"))
            .field("catalog_roles", &self.catalog_roles)
            .field("policy", &self.policy.as_ref().map(|_| "given"))
            .finish()
    }
}

impl ApiState {
    pub fn new(opts: ApiOptions) -> ApiState {
        ApiState {
            inner: Arc::new(Inner {
                db: opts.db,
                token: opts.token.filter(|t| !t.is_empty()),
                hosts: opts.hosts,
                pool: Mutex::new(Vec::new()),
                verify: tokio::sync::Mutex::new(None),
                trusted: opts.trusted_keys,
                approvals: Arc::new(Mutex::new(opts.approvals)),
                decisions: opts.decisions,
                catalog: Arc::new(Mutex::new(opts.catalog)),
                catalog_roles: if opts.catalog_roles.is_empty() {
                    catalog::DEFAULT_ROLES
                        .iter()
                        .map(|r| (*r).to_owned())
                        .collect()
                } else {
                    opts.catalog_roles
                },
                policy: opts.policy,
            }),
        }
    }

    pub fn db(&self) -> &std::path::Path {
        &self.inner.db
    }

    pub(crate) fn token(&self) -> Option<&str> {
        self.inner.token.as_deref()
    }

    pub(crate) fn hosts(&self) -> &HostRules {
        &self.inner.hosts
    }

    pub(crate) fn decisions(&self) -> Option<&Decisions> {
        self.inner.decisions.as_ref()
    }

    /// Runs `f` on the approvals table on the blocking pool.
    pub(crate) async fn approvals<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn ApprovalStore) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        fn open(db: &std::path::Path) -> Result<Arc<dyn ApprovalStore>, String> {
            Ok(Arc::new(SqliteApprovals::open(db)?))
        }
        decision::on_store(
            &self.inner.db,
            self.inner.approvals.clone(),
            open,
            "the approvals",
            move |s| f(s),
        )
        .await
    }

    /// Runs `f` on a read-only connection on the blocking pool.
    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        let state = self.clone();
        tokio::task::spawn_blocking(move || {
            let store = match state.inner.pool.lock().pop() {
                Some(s) => s,
                None => Store::open_read(&state.inner.db)?,
            };
            let out = f(&store);
            let mut pool = state.inner.pool.lock();
            if pool.len() < 8 {
                pool.push(store);
            }
            out
        })
        .await
        .map_err(|e| ApiError::internal("a store read", &e))?
    }
}

/// The admin plane's routes: `/api/v1/...`, `/api/v1/openapi.json`, and the dashboard at `/`.
pub fn router(state: ApiState) -> axum::Router {
    routes::router(state)
}

/// Where the admin listener listens, its token, and the `Host` names and origins it answers
/// besides loopback names and its own address.
#[derive(Clone, Debug)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token: Option<String>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
}

impl Default for AdminConfig {
    fn default() -> AdminConfig {
        AdminConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 9477)),
            token: None,
            allowed_hosts: Vec::new(),
            allowed_origins: Vec::new(),
        }
    }
}

impl AdminConfig {
    /// The DNS-rebinding rules of this listener (its actual address once bound).
    pub fn host_rules(&self, bound: SocketAddr) -> HostRules {
        HostRules {
            listen: Some(bound),
            allowed_hosts: self.allowed_hosts.clone(),
            allowed_origins: self.allowed_origins.clone(),
            public_host: None,
        }
    }
}

/// Refuses a listener that others can reach without a token, and a token too weak to guard
/// the audit store (`warden_core::token::check_strength`: 32 characters or more, not a short
/// pattern repeated).
pub fn check_exposure(cfg: &AdminConfig) -> anyhow::Result<()> {
    match cfg.token.as_deref().filter(|t| !t.is_empty()) {
        None if !cfg.listen.ip().is_loopback() => anyhow::bail!(
            "the admin listener {} is reachable from other hosts: set a token (--token or WARDEN_ADMIN_TOKEN), or listen on 127.0.0.1",
            cfg.listen
        ),
        None => {}
        Some(t) => {
            if let Err(why) = warden_core::token::check_strength(t) {
                anyhow::bail!(
                    "the admin token is too weak: {why}; use at least {} random characters, e.g. `openssl rand -hex 32`",
                    warden_core::token::MIN_TOKEN_LEN
                );
            }
        }
    }
    Ok(())
}

/// Binds the admin listener (after [`check_exposure`]).
pub async fn bind_admin(cfg: &AdminConfig) -> anyhow::Result<tokio::net::TcpListener> {
    check_exposure(cfg)?;
    tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("cannot listen on {}", cfg.listen))
}

/// Serves the admin plane for the store at `db` on `listener` until `shutdown` completes.
pub async fn serve_admin(
    listener: tokio::net::TcpListener,
    state: ApiState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .context("admin listener failed")
}
