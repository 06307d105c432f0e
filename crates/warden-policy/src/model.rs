//! The policy file as written (YAML): both the form (`when: [{path_not_in: {...}}]`)
//! and the form users of other gateways already write (`conditions: [{type: path_not_in, ...}]`,
//! `action: BLOCK | APPROVAL`), and the governance guide's one-tool form (`tool:`, `roles:`,
//! `constraints:`, `dlp:`, `audit:`, `review:`; see `crate::guide`). Every node keeps its line and column for error messages.

use serde::Deserialize;
use serde_saphyr::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFile {
    pub(crate) version: Option<Spanned<u32>>,
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) default: Option<Spanned<String>>,
    /// Remove from `tools/list` results the tools the principal may never call.
    pub(crate) hide_denied_tools: Option<Spanned<bool>>,
    #[serde(default)]
    pub(crate) policies: Vec<Spanned<RawPolicy>>,
    /// Catalog metadata (`warden_policy::catalog`): owner, tier, classification, reviews.
    pub(crate) catalog: Option<Spanned<serde_json::Value>>,
    /// The governance guide's form (`crate::guide`): one tool, named `system.action`.
    pub(crate) tool: Option<Spanned<String>>,
    /// Guide form: only principals holding one of these roles may call the tool.
    pub(crate) roles: Option<Spanned<Vec<String>>>,
    /// Guide form: the `sql` constraints every call must keep.
    pub(crate) constraints: Option<Spanned<serde_json::Value>>,
    /// Guide form: values masked in the tool's results.
    pub(crate) dlp: Option<Spanned<RawDlp>>,
    /// Guide form: what the audit log keeps and which alerts are raised.
    pub(crate) audit: Option<Spanned<RawAudit>>,
    /// Guide form: the tool's owner and next review (catalog metadata).
    pub(crate) review: Option<Spanned<RawReview>>,
}

/// The guide's `dlp:` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDlp {
    pub(crate) scan_response: Option<Spanned<bool>>,
    #[serde(default)]
    pub(crate) mask_fields: Vec<Spanned<String>>,
}

/// The guide's `audit:` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAudit {
    pub(crate) log_full_query: Option<Spanned<bool>>,
    pub(crate) log_response_hash: Option<Spanned<bool>>,
    #[serde(default)]
    pub(crate) alert_on: Vec<Spanned<String>>,
}

/// The guide's `review:` section.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawReview {
    pub(crate) next_review: Option<Spanned<String>>,
    pub(crate) owner: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub(crate) name: Spanned<String>,
    #[serde(default)]
    #[allow(dead_code)] // documentation for humans; kept so the key is accepted
    pub(crate) description: Option<String>,
    pub(crate) tool_pattern: Option<Spanned<String>>,
    pub(crate) action: Option<Spanned<String>>,
    #[serde(default)]
    pub(crate) when: Vec<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub(crate) conditions: Vec<Spanned<serde_json::Value>>,
    pub(crate) message: Option<String>,
    #[serde(default)]
    pub(crate) principals: Vec<String>,
    pub(crate) mode: Option<Spanned<String>>,
    pub(crate) rate_limit: Option<Spanned<serde_json::Value>>,
    pub(crate) budget: Option<Spanned<serde_json::Value>>,
    #[serde(default)]
    pub(crate) approvers: Vec<String>,
    /// How approval works (`approve` rules only): timeout, hold, grant, channels.
    pub(crate) approval: Option<Spanned<serde_json::Value>>,
    /// Sets `resolve_symlinks` on every path condition of the rule.
    pub(crate) resolve_symlinks: Option<bool>,
}
