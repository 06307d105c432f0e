//! JSON-RPC errors that warden itself answers with. Codes are a contract, listed in
//! docs/error-codes.md; `data.gateway` marks warden, not the server, as their origin.

use serde_json::value::RawValue;

/// The audit store is failing and `on_store_error` is `fail_closed`.
pub const AUDIT_STORE_UNAVAILABLE: i64 = -32010;

/// The error answering request `id` when the store cannot record it.
pub fn store_unavailable(id: Option<&RawValue>, reason: &str) -> Vec<u8> {
    let error = serde_json::json!({
        "code": AUDIT_STORE_UNAVAILABLE,
        "message": "warden: the audit store is unavailable, so this request was not forwarded (on_store_error: fail_closed)",
        "data": { "gateway": "warden", "reason": "audit_store_unavailable", "detail": reason },
    });
    // The id goes back exactly as the client sent it.
    let id = id.map_or("null", RawValue::get);
    format!("{{\"jsonrpc\":\"2.0\",\"id\":{id},\"error\":{error}}}\n").into_bytes()
}
