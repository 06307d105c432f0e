//! What a message is about: method, target, argument span, progress token, cancellation,
//! protocol era and peer identity. Pure; reads only the members it needs, as raw JSON.

use std::ops::Range;

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::envelope::{Kind, Message, span_in};
use crate::ids::RequestId;

/// `_meta` key of the 2026-07-28 (stateless) era carrying the protocol version on each request.
pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
/// `_meta` key of the 2026-07-28 era carrying the client's implementation info.
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
/// `_meta` key of the 2026-07-28 era carrying the server's implementation info on results.
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";

/// A peer's `Implementation` (name and version) from `initialize` or per-request metadata.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct Implementation {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
}

/// What the gateway knows about one message after classification.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Classification {
    /// The tool name, resource URI or prompt name a request is about.
    pub target: Option<String>,
    /// Span (in the frame) of the arguments: `params.arguments` of `tools/call` and
    /// `prompts/get`, else the whole `params`.
    pub args: Option<Range<usize>>,
    /// Span of the payload worth storing: `params`, `result` or `error`.
    pub body: Option<Range<usize>>,
    /// `params._meta.progressToken` of a request, or `params.progressToken` of a progress notification.
    pub progress_token: Option<RequestId>,
    /// `params.requestId` of `notifications/cancelled`.
    pub cancelled: Option<RequestId>,
    /// The protocol version this message states (initialize, its result, or modern `_meta`).
    pub protocol_version: Option<String>,
    pub client_info: Option<Implementation>,
    pub server_info: Option<Implementation>,
    /// `error.code` of an error response.
    pub error_code: Option<i64>,
}

/// The members of a message's `params` (or `result`) that classification reads, as raw JSON
/// (`null` is `None`). Read by serde here, or captured by the one-pass reader (`crate::read`).
#[derive(Deserialize, Default, Clone, Debug)]
pub(crate) struct ParamsView<'a> {
    #[serde(default, borrow)]
    pub(crate) name: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(crate) uri: Option<&'a RawValue>,
    #[serde(default, borrow)]
    pub(crate) arguments: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "_meta")]
    pub(crate) meta: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "requestId")]
    pub(crate) request_id: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "progressToken")]
    pub(crate) progress_token: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "protocolVersion")]
    pub(crate) protocol_version: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "clientInfo")]
    pub(crate) client_info: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "serverInfo")]
    pub(crate) server_info: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct MetaView<'a> {
    #[serde(default, borrow, rename = "progressToken")]
    progress_token: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "io.modelcontextprotocol/protocolVersion")]
    protocol_version: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "io.modelcontextprotocol/clientInfo")]
    client_info: Option<&'a RawValue>,
    #[serde(default, borrow, rename = "io.modelcontextprotocol/serverInfo")]
    server_info: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ErrorView {
    code: Option<i64>,
}

pub(crate) fn view<'a, T: Deserialize<'a> + Default>(raw: Option<&'a RawValue>) -> T {
    raw.filter(|r| r.get().starts_with('{'))
        .and_then(|r| serde_json::from_str(r.get()).ok())
        .unwrap_or_default()
}

fn string(raw: Option<&RawValue>) -> Option<String> {
    raw.and_then(|r| serde_json::from_str::<String>(r.get()).ok())
}

fn implementation(raw: Option<&RawValue>) -> Option<Implementation> {
    raw.and_then(|r| serde_json::from_str(r.get()).ok())
}

/// Classifies one message of a frame. `answered` is the method of the request a response
/// answers (from the correlator), so that `initialize` results can be read for server info.
pub fn classify(frame: &[u8], msg: &Message<'_>, answered: Option<&str>) -> Classification {
    let payload = match msg.kind {
        Kind::Request | Kind::Notification => msg.params,
        Kind::Result if matches!(answered, Some("initialize" | "server/discover")) => msg.result,
        _ => None,
    };
    classify_with(frame, msg, view(payload), answered)
}

/// [`classify`] with the members of the message's `params` (requests, notifications) or
/// `result` already read (`p`), so a large payload is not walked again.
pub(crate) fn classify_with(
    frame: &[u8],
    msg: &Message<'_>,
    p: ParamsView<'_>,
    answered: Option<&str>,
) -> Classification {
    let mut c = Classification::default();
    match msg.kind {
        Kind::Request | Kind::Notification => {
            c.body = msg.params.and_then(|p| span_in(frame, p));
            let method = msg.method.as_deref().unwrap_or_default();
            let meta: MetaView<'_> = view(p.meta);
            c.target = match method {
                "tools/call" | "prompts/get" => string(p.name),
                "resources/read" | "resources/subscribe" | "resources/unsubscribe" => string(p.uri),
                _ => None,
            };
            c.args = match method {
                "tools/call" | "prompts/get" => p.arguments.and_then(|a| span_in(frame, a)),
                _ => c.body.clone(),
            };
            c.progress_token = match method {
                "notifications/progress" => p.progress_token.and_then(RequestId::from_raw),
                _ => meta.progress_token.and_then(RequestId::from_raw),
            };
            if method == "notifications/cancelled" {
                c.cancelled = p.request_id.and_then(RequestId::from_raw);
            }
            if method == "initialize" {
                c.protocol_version = string(p.protocol_version);
                c.client_info = implementation(p.client_info);
            } else {
                c.protocol_version = string(meta.protocol_version);
                c.client_info = implementation(meta.client_info);
            }
        }
        Kind::Result => {
            c.body = msg.result.and_then(|r| span_in(frame, r));
            if matches!(answered, Some("initialize" | "server/discover")) {
                let r = p;
                let meta: MetaView<'_> = view(r.meta);
                c.protocol_version =
                    string(r.protocol_version).or_else(|| string(meta.protocol_version));
                c.server_info =
                    implementation(r.server_info).or_else(|| implementation(meta.server_info));
            }
        }
        Kind::Error => {
            c.body = msg.error.and_then(|e| span_in(frame, e));
            c.error_code = msg
                .error
                .and_then(|e| serde_json::from_str::<ErrorView>(e.get()).ok())
                .and_then(|e| e.code);
        }
        Kind::Batch | Kind::Invalid | Kind::Unparseable => {}
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::parse_frame;

    fn class(frame: &str, answered: Option<&str>) -> Classification {
        let env = parse_frame(frame.as_bytes()).unwrap();
        classify(frame.as_bytes(), env.first().unwrap(), answered)
    }

    #[test]
    fn tools_call_target_args_and_progress() {
        let f = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"read_file","arguments":{"path":"/tmp/a"},"_meta":{"progressToken":"p1"}}}"#;
        let c = class(f, None);
        assert_eq!(c.target.as_deref(), Some("read_file"));
        assert_eq!(&f[c.args.unwrap()], r#"{"path":"/tmp/a"}"#);
        assert_eq!(c.progress_token, Some(RequestId::Str("p1".into())));
    }

    #[test]
    fn initialize_both_ways() {
        let c = class(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude","version":"1.2"}}}"#,
            None,
        );
        assert_eq!(c.protocol_version.as_deref(), Some("2025-06-18"));
        assert_eq!(c.client_info.unwrap().name, "claude");
        let c = class(
            r#"{"jsonrpc":"2.0","id":0,"result":{"protocolVersion":"2025-06-18","serverInfo":{"name":"fs","version":"0.6"}}}"#,
            Some("initialize"),
        );
        assert_eq!(c.server_info.unwrap().version, "0.6");
    }

    #[test]
    fn modern_meta_and_cancel_and_error_code() {
        let c = class(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientInfo":{"name":"m","version":"2"}}}}"#,
            None,
        );
        assert_eq!(c.protocol_version.as_deref(), Some("2026-07-28"));
        assert_eq!(c.client_info.unwrap().name, "m");
        let c = class(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5}}"#,
            None,
        );
        assert_eq!(c.cancelled, Some(RequestId::Num("5".into())));
        let c = class(
            r#"{"jsonrpc":"2.0","id":5,"error":{"code":-32601,"message":"nope"}}"#,
            None,
        );
        assert_eq!(c.error_code, Some(-32601));
    }

    #[test]
    fn hostile_shapes_do_not_classify() {
        let c = class(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":{"x":1},"arguments":3}}"#,
            None,
        );
        assert_eq!(c.target, None);
        let c = class(
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":[1,2]}"#,
            None,
        );
        assert_eq!(c.target, None);
    }
}
