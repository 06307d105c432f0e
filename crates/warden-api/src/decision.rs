//! What the approvals and the catalog routes share about a decision's request: its JSON body
//! (empty is allowed), the channel it names (`via`), and its reason (trimmed, bounded, and
//! required to refuse); and the stores those routes open lazily on the blocking pool.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// The longest reason kept with a decision, in bytes.
pub(crate) const MAX_REASON: usize = 2000;

/// `Some` unless empty.
pub(crate) fn nonempty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.is_empty())
}

/// A decision's body: JSON, or nothing at all (all fields absent).
pub(crate) fn body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is JSON like {{\"reason\": \"...\"}}: {e}"
        ))
    })
}

/// The channel a decision names: `api` (the default) or `dashboard`.
pub(crate) fn channel(via: Option<&str>) -> Result<&'static str, ApiError> {
    match via {
        None | Some("api") => Ok("api"),
        Some("dashboard") => Ok("dashboard"),
        Some(other) => Err(ApiError::bad_request(format!(
            "via {other:?} is not api or dashboard"
        ))),
    }
}

/// The reason, trimmed; refusing (`refusal`: "denial", "rejection") needs one.
pub(crate) fn reason(
    given: Option<String>,
    approve: bool,
    refusal: &str,
) -> Result<Option<String>, ApiError> {
    let reason = nonempty(given.map(|r| r.trim().to_owned()));
    if !approve && reason.is_none() {
        return Err(ApiError::bad_request(format!("a {refusal} needs a reason")));
    }
    if reason.as_ref().is_some_and(|r| r.len() > MAX_REASON) {
        return Err(ApiError::bad_request(format!(
            "a reason is at most {MAX_REASON} bytes"
        )));
    }
    Ok(reason)
}

/// Runs `f` on the blocking pool on the store in `slot`, opening it from the audit store at
/// `db` on first use (`what` names it in errors).
pub(crate) async fn on_store<S: ?Sized + Send + Sync + 'static, T: Send + 'static>(
    db: &Path,
    slot: Arc<Mutex<Option<Arc<S>>>>,
    open: fn(&Path) -> Result<Arc<S>, String>,
    what: &'static str,
    f: impl FnOnce(&S) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let db = db.to_owned();
    tokio::task::spawn_blocking(move || {
        let open_now = slot.lock().clone();
        let store = match open_now {
            Some(s) => s,
            None => {
                if !db.exists() {
                    return Err(warden_audit::StoreError::Missing(db).into());
                }
                let s = open(&db).map_err(|e| ApiError::internal(what, &e))?;
                slot.lock().get_or_insert(s).clone()
            }
        };
        f(&*store)
    })
    .await
    .map_err(|e| ApiError::internal(what, &e))?
}
