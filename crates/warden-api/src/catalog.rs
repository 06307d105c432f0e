//! The tool catalog routes: the catalog (tools not approved first), one tool with the classified
//! diff of its definition against the approved one, and the two decisions. A decision goes
//! through `CatalogStore::decide` as the principal its gateway credential names (found as
//! approvals find theirs: `approvers::Decisions`), who must hold one of the catalog roles
//! (`ApiOptions::catalog_roles`), and is then recorded in the audit log as
//! `catalog_tool_decided` (the detail `warden catalog approve|reject` records, `via` naming
//! the channel). `approve-cosmetic` approves every change that is only cosmetic at once, one
//! record each.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use warden_audit::catalog::{CatalogStore, SqliteCatalog, State as ToolState, Tool};
use warden_audit::{AuditEvent, SessionContext, now_us};
use warden_core::tooldef::{Class, Diff};

use warden_policy::{CatalogMeta, PolicySet};
use warden_proxy::catalog_meta::{Profile, today};

use crate::views::time;
use crate::{ApiError, ApiState};

/// Who decides catalog entries when nothing else is configured.
pub const DEFAULT_ROLES: &[&str] = &["security", "catalog-admin"];

impl ApiState {
    /// Runs `f` on the catalog on the blocking pool (the given store, or the audit store's
    /// table opened on first use).
    pub(crate) async fn catalog<T: Send + 'static>(
        &self,
        f: impl FnOnce(&dyn CatalogStore) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        fn open(db: &std::path::Path) -> Result<Arc<dyn CatalogStore>, String> {
            Ok(Arc::new(SqliteCatalog::open(db)?))
        }
        crate::decision::on_store(
            &self.inner.db,
            self.inner.catalog.clone(),
            open,
            "the catalog",
            move |s| f(s),
        )
        .await
    }

    /// The policy in force (for its catalog metadata), if this admin plane knows it.
    pub(crate) fn policy(&self) -> Option<Arc<PolicySet>> {
        self.inner.policy.as_ref().and_then(|p| p())
    }

    /// The roles whose holders may decide catalog entries.
    pub(crate) fn catalog_roles(&self) -> &[String] {
        &self.inner.catalog_roles
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListParams {
    /// `approved`, `new`, `changed` or `rejected`.
    state: Option<String>,
    /// A server's label (the name it is configured under) or identity.
    server: Option<String>,
}

/// A tool as the catalog list shows it: no definitions, the class of its pending change.
#[derive(Serialize)]
pub struct ToolSummary {
    server: String,
    label: Option<String>,
    name: String,
    state: ToolState,
    pin: String,
    approved_pin: Option<String>,
    renamed_from: Option<String>,
    /// The most serious change from the approved definition (none: no change, or nothing
    /// approved to compare with).
    class: Option<Class>,
    first_seen: String,
    last_seen: String,
    decided: Option<String>,
    decided_by: Option<String>,
    reason: Option<String>,
    /// Owner, tier, class, classification and review, from the catalog metadata.
    #[serde(flatten)]
    profile: Profile,
}

impl ToolSummary {
    fn new(t: &Tool, meta: Option<&CatalogMeta>) -> ToolSummary {
        ToolSummary {
            profile: Profile::of(t, meta, today()),
            server: t.server.clone(),
            label: t.label.clone(),
            name: t.name.clone(),
            state: t.state,
            pin: t.pin.clone(),
            approved_pin: t.approved_pin.clone(),
            renamed_from: t.renamed_from.clone(),
            class: t.diff().and_then(|d| d.class()),
            first_seen: time(t.first_seen_us),
            last_seen: time(t.last_seen_us),
            decided: t.decided_us.map(time),
            decided_by: t.decided_by.clone(),
            reason: t.reason.clone(),
        }
    }
}

#[derive(Serialize)]
pub(crate) struct CatalogPage {
    tools: Vec<ToolSummary>,
    /// Whether this admin plane decides catalog entries (`warden serve` with principals).
    can_decide: bool,
    /// The roles whose holders may decide.
    decide_roles: Vec<String>,
}

pub(crate) async fn list(
    State(state): State<ApiState>,
    q: Result<Query<ListParams>, QueryRejection>,
) -> Result<Json<CatalogPage>, ApiError> {
    let Query(p) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let want = match crate::decision::nonempty(p.state) {
        None => None,
        Some(s) => Some(ToolState::parse(&s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "state {s:?} is not approved, new, changed or rejected"
            ))
        })?),
    };
    let server = crate::decision::nonempty(p.server);
    let policy = state.policy();
    let all = state
        .catalog(|c| {
            c.list(None)
                .map_err(|e| ApiError::internal("listing the catalog", &e))
        })
        .await?;
    // The store lists tools not approved first, then by server and name.
    let tools = all
        .iter()
        .filter(|t| want.is_none_or(|w| t.state == w))
        .filter(|t| server.as_deref().is_none_or(|s| names(t, s)))
        .map(|t| ToolSummary::new(t, policy.as_deref().map(PolicySet::catalog)))
        .collect();
    Ok(Json(CatalogPage {
        tools,
        can_decide: state.decisions().is_some_and(|d| d.principals.enabled()),
        decide_roles: state.catalog_roles().to_vec(),
    }))
}

/// Whether `server` (a label or an identity) names `t`'s server.
fn names(t: &Tool, server: &str) -> bool {
    t.server == server || t.label.as_deref() == Some(server)
}

/// One tool with its definitions and the diff a reviewer reads.
#[derive(Serialize)]
pub struct ToolDetail {
    #[serde(flatten)]
    tool: Tool,
    class: Option<Class>,
    /// Only annotations changed.
    annotation_only: bool,
    /// The changes from the approved definition to the one last seen (none: nothing approved).
    diff: Option<Diff>,
    first_seen: String,
    last_seen: String,
    decided: Option<String>,
    #[serde(flatten)]
    profile: Profile,
}

impl ToolDetail {
    pub fn new(tool: Tool, meta: Option<&CatalogMeta>) -> ToolDetail {
        let diff = tool.diff();
        ToolDetail {
            profile: Profile::of(&tool, meta, today()),
            class: diff.as_ref().and_then(Diff::class),
            annotation_only: diff.as_ref().is_some_and(Diff::annotation_only),
            diff,
            first_seen: time(tool.first_seen_us),
            last_seen: time(tool.last_seen_us),
            decided: tool.decided_us.map(time),
            tool,
        }
    }
}

fn path(p: Result<Path<(String, String)>, PathRejection>) -> Result<(String, String), ApiError> {
    let Path((server, tool)) = p.map_err(|_| {
        ApiError::bad_request("the server and tool in the path are not valid UTF-8 text")
    })?;
    if server.is_empty() || tool.is_empty() || server.len() > 4096 || tool.len() > 512 {
        return Err(ApiError::not_found(format!(
            "no tool {tool} of a server {server} in the catalog"
        )));
    }
    Ok((server, tool))
}

/// The tool `tool` of the server `server` names (its label or identity).
fn find(c: &dyn CatalogStore, server: &str, tool: &str) -> Result<Tool, ApiError> {
    let mut hits: Vec<Tool> = c
        .list(None)
        .map_err(|e| ApiError::internal("reading the catalog", &e))?
        .into_iter()
        .filter(|t| t.name == tool && names(t, server))
        .collect();
    match hits.len() {
        1 => Ok(hits.remove(0)),
        0 => Err(ApiError::not_found(format!(
            "no tool {tool} of a server {server} in the catalog"
        ))),
        _ => Err(ApiError {
            status: StatusCode::CONFLICT,
            code: "ambiguous",
            message: format!(
                "{server:?} labels several servers with a tool {tool}: name the server by its \
                 identity ({})",
                hits.iter()
                    .map(|t| t.server.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }),
    }
}

pub(crate) async fn show(
    State(state): State<ApiState>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<ToolDetail>, ApiError> {
    let (server, tool) = path(p)?;
    let t = state.catalog(move |c| find(c, &server, &tool)).await?;
    let policy = state.policy();
    Ok(Json(ToolDetail::new(
        t,
        policy.as_deref().map(PolicySet::catalog),
    )))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideBody {
    /// Why; required to reject.
    reason: Option<String>,
    /// `api` (default) or `dashboard`: the channel the record names.
    via: Option<String>,
    /// The pin the reviewer saw: the decision is refused (409) when the tool's definition
    /// changed since.
    pin: Option<String>,
}

pub(crate) async fn approve(
    state: State<ApiState>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ToolDetail>, ApiError> {
    decide(state, p, headers, body, Act::Approve).await
}

pub(crate) async fn reject(
    state: State<ApiState>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ToolDetail>, ApiError> {
    decide(state, p, headers, body, Act::Reject).await
}

/// Records a periodic review of a tool (its state stays): `catalog_tool_reviewed`.
pub(crate) async fn review(
    state: State<ApiState>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ToolDetail>, ApiError> {
    decide(state, p, headers, body, Act::Review).await
}

/// What a catalog reviewer does to a tool.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    Approve,
    Reject,
    Review,
}

async fn decide(
    State(state): State<ApiState>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Bytes,
    act: Act,
) -> Result<Json<ToolDetail>, ApiError> {
    let approve = act != Act::Reject;
    let decisions = deciding(&state)?;
    let (server, tool) = path(p)?;
    let body: DecideBody = crate::decision::body(&body)?;
    let via = crate::decision::channel(body.via.as_deref())?;
    let reason = crate::decision::reason(body.reason, approve, "rejection")?;
    let why = reason.clone();
    let by = reviewer(&state, &decisions, &headers).await?;
    let (before, decided) = state
        .catalog(move |c| {
            let t = find(c, &server, &tool)?;
            if let Some(seen) = body.pin.as_deref().filter(|p| !p.is_empty())
                && seen != t.pin
            {
                return Err(ApiError {
                    status: StatusCode::CONFLICT,
                    code: "pin_changed",
                    message: format!(
                        "the definition of {tool} changed since it was shown (pin {seen}, now \
                         {}): review it again",
                        t.pin
                    ),
                });
            }
            let decided = if act == Act::Review {
                c.review(&t.server, &t.name, &by, now_us())
            } else {
                c.decide(
                    &t.server,
                    &t.name,
                    approve,
                    &by,
                    reason.as_deref(),
                    now_us(),
                )
            }
            .map_err(|e| ApiError::internal("deciding a catalog entry", &e))?;
            Ok((t.state, decided))
        })
        .await?;
    let policy = state.policy();
    let meta = policy.as_deref().map(PolicySet::catalog);
    // The decision stands once stored (the gateway reads it at the tool's next call); a record
    // that cannot be written is the writer's failure, which it reports and `/readyz` shows.
    let ev = if act == Act::Review {
        reviewed_record(&decided, meta, why.as_deref(), via)
    } else {
        decided_record(&decided, before, via)
    };
    let record = decisions.record.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || record(ev)).await {
        tracing::error!(tool = %decided.name, "cannot record the catalog decision: {e}");
    }
    Ok(Json(ToolDetail::new(decided, meta)))
}

/// Who decides, from the request's credential: the principal, who must hold a catalog role.
async fn reviewer(
    state: &ApiState,
    decisions: &crate::approvers::Decisions,
    headers: &HeaderMap,
) -> Result<String, ApiError> {
    let who = decisions
        .approver(headers, state.token().is_some())
        .await
        .map_err(|mut e| {
            if e.code == "no_principals" {
                e.message = "this gateway authenticates no principals (no auth.api_keys or \
                             auth.jwt in its config), so no reviewer can be identified here: \
                             decide with `warden catalog approve|reject SERVER TOOL`"
                    .into();
            }
            e
        })?;
    let roles = state.catalog_roles().to_vec();
    if !who.roles.iter().any(|r| roles.contains(r)) {
        return Err(ApiError {
            status: StatusCode::FORBIDDEN,
            code: "not_a_catalog_reviewer",
            message: format!(
                "{} holds none of the roles that decide catalog entries ({}): ask a holder, or \
                 start warden serve with --catalog-role",
                who.principal,
                roles.join(", ")
            ),
        });
    }
    Ok(who.principal)
}

/// The decisions path of this admin plane: none on `warden dashboard` (read only).
fn deciding(state: &ApiState) -> Result<crate::approvers::Decisions, ApiError> {
    state.decisions().cloned().ok_or_else(read_only)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CosmeticBody {
    /// Only this server's tools (a label or an identity); all when left out.
    server: Option<String>,
    reason: Option<String>,
    /// `api` (default) or `dashboard`.
    via: Option<String>,
}

/// What a bulk approval did.
#[derive(Serialize)]
pub(crate) struct CosmeticPage {
    /// The tools approved, as they now stand.
    approved: Vec<ToolSummary>,
    /// The changed tools left for review (their change is not only cosmetic, or changed again).
    left: Vec<ToolSummary>,
}

/// `POST /api/v1/catalog/approve-cosmetic`: approves every changed tool whose change is only
/// cosmetic, each recorded as its own `catalog_tool_decided`.
pub(crate) async fn approve_cosmetic(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<CosmeticPage>, ApiError> {
    let decisions = deciding(&state)?;
    let body: CosmeticBody = crate::decision::body(&body)?;
    let via = crate::decision::channel(body.via.as_deref())?;
    let reason = crate::decision::reason(body.reason, true, "rejection")?;
    let server = crate::decision::nonempty(body.server);
    let by = reviewer(&state, &decisions, &headers).await?;
    let done = state
        .catalog(move |c| {
            let pick = |t: &Tool| server.as_deref().is_none_or(|s| names(t, s));
            warden_audit::catalog::approve_cosmetic(c, &pick, &by, reason.as_deref(), now_us())
                .map_err(|e| ApiError::internal("approving cosmetic changes", &e))
        })
        .await?;
    let events: Vec<AuditEvent> = done
        .approved
        .iter()
        .map(|t| cosmetic_record(t, via))
        .collect();
    let record = decisions.record.clone();
    let recorded = tokio::task::spawn_blocking(move || {
        for ev in events {
            record(ev);
        }
    })
    .await;
    if let Err(e) = recorded {
        tracing::error!("cannot record the catalog decisions: {e}");
    }
    let policy = state.policy();
    let meta = policy.as_deref().map(PolicySet::catalog);
    Ok(Json(CosmeticPage {
        approved: done
            .approved
            .iter()
            .map(|t| ToolSummary::new(t, meta))
            .collect(),
        left: done
            .left
            .iter()
            .map(|(t, _)| ToolSummary::new(t, meta))
            .collect(),
    }))
}

/// The `catalog_tool_decided` record of a decision: `t` as decided, `was` its state before,
/// `via` the channel (`api`, `dashboard`, `cli`).
pub fn decided_record(t: &Tool, was: ToolState, via: &str) -> AuditEvent {
    let by = t.decided_by.clone().unwrap_or_default();
    let mut ev = AuditEvent::gateway(
        "".into(),
        Arc::new(SessionContext {
            principal: Some(by.clone()),
            ..SessionContext::default()
        }),
        "catalog_tool_decided",
    );
    ev.target = Some(t.name.clone());
    ev.detail = Some(serde_json::json!({
        "server": t.server, "tool": t.name, "state": t.state, "was": was,
        "pin": t.pin, "by": by, "reason": t.reason,
        "class": t.diff().and_then(|d| d.class()), "via": via,
    }));
    ev
}

/// The `catalog_tool_reviewed` record of a periodic review: `t` as reviewed (by whom, when),
/// the review now due under `meta`, why, and the channel.
pub fn reviewed_record(
    t: &Tool,
    meta: Option<&CatalogMeta>,
    reason: Option<&str>,
    via: &str,
) -> AuditEvent {
    let by = t.reviewed_by.clone().unwrap_or_default();
    let mut ev = AuditEvent::gateway(
        "".into(),
        Arc::new(SessionContext {
            principal: Some(by.clone()),
            ..SessionContext::default()
        }),
        "catalog_tool_reviewed",
    );
    ev.target = Some(t.name.clone());
    let p = Profile::of(t, meta, today());
    ev.detail = Some(serde_json::json!({
        "server": t.server, "tool": t.name, "state": t.state, "pin": t.pin, "by": by,
        "reason": reason, "next_review": p.review_due, "owner": p.owner, "via": via,
    }));
    ev
}

/// The `catalog_tool_decided` record of one approval of a bulk approval of cosmetic changes:
/// `bulk: cosmetic`, and the class of the change approved (`cosmetic`).
pub fn cosmetic_record(t: &Tool, via: &str) -> AuditEvent {
    let mut ev = decided_record(t, ToolState::Changed, via);
    if let Some(d) = ev.detail.as_mut() {
        d["bulk"] = "cosmetic".into();
        d["class"] = Class::Cosmetic.as_str().into();
    }
    ev
}

/// The answer when this admin plane cannot decide.
fn read_only() -> ApiError {
    ApiError {
        status: StatusCode::METHOD_NOT_ALLOWED,
        code: "read_only",
        message: "this admin plane (warden dashboard) only shows the catalog: decide on warden \
                  serve's admin listener, or with `warden catalog approve|reject SERVER TOOL`"
            .into(),
    }
}
