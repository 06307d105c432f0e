//! One MCP client session over its own HTTP/1.1 connection (hyper's low-level client, with
//! TCP_NODELAY): the Streamable HTTP requests the workloads make (initialize + initialized,
//! `tools/call` of `echo`, DELETE) and the checks on their answers. Answers may come as
//! `application/json` or as an SSE stream (warden's stdio upstreams); both are accepted.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// The protocol version this client speaks (and sends after initialize).
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// Where a path's MCP endpoint is.
#[derive(Clone, Debug)]
pub struct Endpoint {
    pub addr: SocketAddr,
    /// E.g. `/mcp` or `/mcp/echo`.
    pub path: String,
    /// The echo tool's name there: `echo`, or `echo/echo` behind mcp-proxy (which prefixes
    /// each backend's tools with its name). Needs no JSON escaping.
    pub tool: String,
}

/// A failed request, described for the report.
pub type Error = String;

/// One session on one connection.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    host: HeaderValue,
    path: String,
    tool: String,
    session: Option<HeaderValue>,
}

impl Conn {
    pub async fn connect(ep: &Endpoint) -> Result<Conn, Error> {
        let stream = tokio::net::TcpStream::connect(ep.addr)
            .await
            .map_err(|e| format!("connect {}: {e}", ep.addr))?;
        let _ = stream.set_nodelay(true);
        let (sender, conn) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| format!("handshake: {e}"))?;
        tokio::spawn(async move {
            let _ = conn.await;
        });
        Ok(Conn {
            sender,
            host: HeaderValue::from_str(&ep.addr.to_string()).expect("address is ASCII"),
            path: ep.path.clone(),
            tool: ep.tool.clone(),
            session: None,
        })
    }

    /// Another connection on `other`'s session (requests of one session in flight at once).
    pub async fn join(ep: &Endpoint, other: &Conn) -> Result<Conn, Error> {
        let mut c = Conn::connect(ep).await?;
        c.session = other.session.clone();
        Ok(c)
    }

    /// Connects and opens the session: initialize, then notifications/initialized.
    pub async fn open(ep: &Endpoint) -> Result<Conn, Error> {
        let mut c = Conn::connect(ep).await?;
        c.initialize().await?;
        Ok(c)
    }

    /// One request; returns the status, headers and whole body.
    async fn send(
        &mut self,
        method: Method,
        body: Bytes,
    ) -> Result<(StatusCode, HeaderMap, Bytes), Error> {
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = method;
        *req.uri_mut() = self.path.parse().expect("path");
        let h = req.headers_mut();
        h.insert(header::HOST, self.host.clone());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        h.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        if let Some(s) = &self.session {
            h.insert("mcp-session-id", s.clone());
            h.insert(
                "mcp-protocol-version",
                HeaderValue::from_static(PROTOCOL_VERSION),
            );
        }
        self.sender
            .ready()
            .await
            .map_err(|e| format!("connection: {e}"))?;
        let resp = self
            .sender
            .send_request(req)
            .await
            .map_err(|e| format!("request: {e}"))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("response body: {e}"))?
            .to_bytes();
        Ok((parts.status, parts.headers, body))
    }

    /// POSTs one JSON-RPC request and returns its answer (the JSON message, taken out of the
    /// SSE stream if the answer is one).
    async fn request(&mut self, body: Bytes) -> Result<Bytes, Error> {
        let (status, headers, body) = self.send(Method::POST, body).await?;
        if status != StatusCode::OK {
            return Err(format!("status {status}: {}", snippet(&body)));
        }
        let sse = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if sse {
            last_sse_data(&body)
                .ok_or_else(|| format!("SSE answer without data: {}", snippet(&body)))
        } else {
            Ok(body)
        }
    }

    async fn initialize(&mut self) -> Result<(), Error> {
        let init = format!(
            r#"{{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{"protocolVersion":"{PROTOCOL_VERSION}","capabilities":{{}},"clientInfo":{{"name":"httpload","version":"0"}}}}}}"#
        );
        let (status, headers, body) = self.send(Method::POST, Bytes::from(init)).await?;
        if status != StatusCode::OK {
            return Err(format!("initialize: status {status}: {}", snippet(&body)));
        }
        let sid = headers
            .get("mcp-session-id")
            .cloned()
            .ok_or("initialize: no Mcp-Session-Id")?;
        self.session = Some(sid);
        let (status, _, body) = self
            .send(
                Method::POST,
                Bytes::from_static(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#),
            )
            .await?;
        if status != StatusCode::ACCEPTED {
            return Err(format!("initialized: status {status}: {}", snippet(&body)));
        }
        Ok(())
    }

    /// tools/list and ping, each answer checked: the handshake's sanity check.
    pub async fn check_server(&mut self) -> Result<(), Error> {
        let list = self
            .request(Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":"list","method":"tools/list"}"#,
            ))
            .await?;
        let v: Value = serde_json::from_slice(&list).map_err(|e| format!("tools/list: {e}"))?;
        // The echo server has one tool; mcp-proxy lists its own `proxy/` tools beside it.
        let listed = v["result"]["tools"]
            .as_array()
            .is_some_and(|t| t.iter().any(|t| t["name"] == self.tool.as_str()));
        if !listed {
            return Err(format!("bad tools/list answer: {v}"));
        }
        let ping = self
            .request(Bytes::from_static(
                br#"{"jsonrpc":"2.0","id":"ping","method":"ping"}"#,
            ))
            .await?;
        let v: Value = serde_json::from_slice(&ping).map_err(|e| format!("ping: {e}"))?;
        if !v["result"].is_object() {
            return Err(format!("bad ping answer: {v}"));
        }
        Ok(())
    }

    /// One echo call, checked cheaply (see [`check_answer`]).
    pub async fn call(&mut self, id: u64, message: &str) -> Result<(), Error> {
        let answer = self.request(call_body(&self.tool, id, message)).await?;
        check_answer(&answer, id, message)
    }

    /// One echo call, checked in full (parsed, text compared).
    pub async fn checked_call(&mut self, id: u64, message: &str) -> Result<(), Error> {
        let answer = self.request(call_body(&self.tool, id, message)).await?;
        let v: Value = serde_json::from_slice(&answer).map_err(|e| format!("echo answer: {e}"))?;
        if v["id"] != id || v["result"]["content"][0]["text"].as_str() != Some(message) {
            return Err(format!("echo mismatch for id {id}: {}", snippet(&answer)));
        }
        Ok(())
    }

    /// Ends the session (DELETE); any 2xx is fine.
    pub async fn delete(&mut self) -> Result<(), Error> {
        let (status, _, body) = self.send(Method::DELETE, Bytes::new()).await?;
        if !status.is_success() {
            return Err(format!("DELETE: status {status}: {}", snippet(&body)));
        }
        Ok(())
    }
}

/// A `tools/call` of the echo `tool`. `tool` and `message` must need no JSON escaping.
fn call_body(tool: &str, id: u64, message: &str) -> Bytes {
    let mut b = Vec::with_capacity(message.len() + 128);
    b.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
    b.extend_from_slice(id.to_string().as_bytes());
    b.extend_from_slice(br#","method":"tools/call","params":{"name":""#);
    b.extend_from_slice(tool.as_bytes());
    b.extend_from_slice(br#"","arguments":{"message":""#);
    b.extend_from_slice(message.as_bytes());
    b.extend_from_slice(br#""}}}"#);
    Bytes::from(b)
}

/// A cheap check of an echo answer: it starts `{"jsonrpc":"2.0","id":N,"result":` (as the
/// echo servers write it, and as proxies forward it) and is at least as long as the message.
/// An answer laid out differently is parsed and checked instead.
fn check_answer(answer: &[u8], id: u64, message: &str) -> Result<(), Error> {
    let prefix = format!(r#"{{"jsonrpc":"2.0","id":{id},"result":"#);
    if answer.starts_with(prefix.as_bytes()) && answer.len() >= message.len() {
        return Ok(());
    }
    let v: Value = serde_json::from_slice(answer)
        .map_err(|e| format!("echo answer is not JSON ({e}): {}", snippet(answer)))?;
    let text = v["result"]["content"][0]["text"].as_str();
    if v["id"] != id || text.map(str::len) != Some(message.len()) {
        return Err(format!(
            "unexpected answer for id {id}: {}",
            snippet(answer)
        ));
    }
    Ok(())
}

/// The data of the last event with data in an SSE body (multi-line data joined by `\n`).
fn last_sse_data(body: &[u8]) -> Option<Bytes> {
    let text = std::str::from_utf8(body).ok()?;
    let mut last = None;
    let mut data: Vec<&str> = Vec::new();
    for line in text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)) {
        if line.is_empty() {
            if !data.is_empty() {
                last = Some(data.join("\n"));
            }
            data.clear();
        } else if let Some(d) = line.strip_prefix("data:") {
            let d = d.strip_prefix(' ').unwrap_or(d);
            if !d.is_empty() {
                data.push(d);
            }
        }
    }
    if !data.is_empty() {
        last = Some(data.join("\n"));
    }
    last.map(Bytes::from)
}

/// The start of a body, for error messages.
fn snippet(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(200)]).into_owned()
}
