//! The policy file as written (YAML): both the form (`when: [{path_not_in: {...}}]`)
//! and the form users of other gateways already write (`conditions: [{type: path_not_in, ...}]`,
//! `action: BLOCK | APPROVAL`). Every node keeps its line and column for error messages.

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
