//! `mcp-http-echo-server`: the minimal Streamable HTTP MCP server of the HTTP benchmark
//! (`httpload`), reached directly or through `warden serve`. `POST /mcp` answers
//! `initialize` (a new `Mcp-Session-Id`), `tools/list` (one tool, `echo`), `tools/call` of
//! `echo` (the `message` argument back as text content) and `ping`, each as one
//! `application/json` body; notifications and responses get 202. `DELETE /mcp` ends the
//! session; `GET /mcp` is 405 (no server-initiated stream). hyper on tokio, HTTP/1.1 with
//! keep-alive, TCP_NODELAY and a listen backlog of 4096, kept cheap so that the proxy's cost
//! stands out.
//!
//! Usage: mcp-http-echo-server [--listen ADDR] [--threads N]
//! (or `MCP_HTTP_ECHO_LISTEN=ADDR`; default 127.0.0.1:0). Prints
//! `mcp-http-echo-server: listening on http://ADDR` on stderr once it accepts connections.

use std::borrow::Cow;
use std::collections::HashSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

const SESSION_HEADER: &str = "mcp-session-id";

/// One incoming JSON-RPC message; fields borrow from the body where they can.
#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<Params<'a>>,
}

/// The params this server reads: `tools/call`'s name and arguments, `initialize`'s version.
#[derive(Deserialize)]
struct Params<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arguments: Option<EchoArgs<'a>>,
    #[serde(borrow, rename = "protocolVersion")]
    protocol_version: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EchoArgs<'a> {
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

#[derive(Serialize)]
struct Reply<'a, R: Serialize> {
    jsonrpc: &'static str,
    id: &'a RawValue,
    result: R,
}

#[derive(Serialize)]
struct EchoResult<'a> {
    content: [TextContent<'a>; 1],
}

#[derive(Serialize)]
struct TextContent<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    text: &'a str,
}

/// The open sessions, and where new ids come from.
struct Sessions {
    open: Mutex<HashSet<String>>,
    next: AtomicU64,
    /// Makes ids differ between server runs.
    salt: u64,
}

impl Sessions {
    fn create(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let id = format!("{:016x}-{n:08x}", self.salt);
        self.open.lock().expect("sessions").insert(id.clone());
        id
    }

    fn contains(&self, id: &str) -> bool {
        self.open.lock().expect("sessions").contains(id)
    }

    fn remove(&self, id: &str) -> bool {
        self.open.lock().expect("sessions").remove(id)
    }
}

fn main() {
    let (listen, threads) = parse_args();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build().expect("tokio runtime");
    rt.block_on(serve(listen));
}

async fn serve(listen: SocketAddr) {
    let listener = warden_bench::net::listen(listen)
        .unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    let addr = listener.local_addr().expect("local addr");
    eprintln!("mcp-http-echo-server: listening on http://{addr}");
    let salt = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let sessions = Arc::new(Sessions {
        open: Mutex::new(HashSet::new()),
        next: AtomicU64::new(1),
        salt,
    });
    loop {
        let (stream, _) = match listener.accept().await {
            Ok(s) => s,
            Err(e) => {
                // E.g. out of file descriptors: back off a little and go on.
                eprintln!("mcp-http-echo-server: accept: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let sessions = sessions.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(sessions.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    sessions: Arc<Sessions>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/mcp" {
        return Ok(plain(StatusCode::NOT_FOUND, "not found"));
    }
    let session = req
        .headers()
        .get(SESSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    Ok(match *req.method() {
        Method::POST => {
            let body = match req.into_body().collect().await {
                Ok(b) => b.to_bytes(),
                Err(_) => return Ok(plain(StatusCode::BAD_REQUEST, "unreadable body")),
            };
            post(&sessions, session.as_deref(), &body)
        }
        Method::DELETE => match session {
            Some(id) if sessions.remove(&id) => empty(StatusCode::NO_CONTENT),
            Some(_) => plain(StatusCode::NOT_FOUND, "unknown session"),
            None => plain(StatusCode::BAD_REQUEST, "missing Mcp-Session-Id"),
        },
        _ => {
            let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "use POST or DELETE");
            r.headers_mut()
                .insert(header::ALLOW, HeaderValue::from_static("POST, DELETE"));
            r
        }
    })
}

/// One POSTed JSON-RPC message.
fn post(sessions: &Sessions, session: Option<&str>, body: &[u8]) -> Response<Full<Bytes>> {
    let msg: Message = match serde_json::from_slice(body) {
        Ok(m) => m,
        Err(_) => {
            let err =
                json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}});
            return json_response(StatusCode::BAD_REQUEST, err.to_string().into_bytes());
        }
    };
    let method = msg.method.as_deref().unwrap_or("");
    if method == "initialize" {
        let Some(id) = msg.id else {
            return plain(StatusCode::BAD_REQUEST, "initialize needs an id");
        };
        let version = msg
            .params
            .as_ref()
            .and_then(|p| p.protocol_version.as_deref())
            .unwrap_or("2025-11-25");
        let result = json!({
            "protocolVersion": version,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "mcp-http-echo-server", "version": env!("CARGO_PKG_VERSION")}
        });
        let mut r = reply(id, &result);
        let sid = HeaderValue::from_str(&sessions.create()).expect("session id is ASCII");
        r.headers_mut().insert(SESSION_HEADER, sid);
        return r;
    }
    match session {
        None => return plain(StatusCode::BAD_REQUEST, "missing Mcp-Session-Id"),
        Some(s) if !sessions.contains(s) => return plain(StatusCode::NOT_FOUND, "unknown session"),
        Some(_) => {}
    }
    // No id (a notification) or no method (a response to us): accepted, nothing to say.
    let (Some(id), false) = (msg.id, method.is_empty()) else {
        return empty(StatusCode::ACCEPTED);
    };
    match method {
        "tools/call" => {
            let params = msg.params.as_ref();
            let name = params.and_then(|p| p.name.as_deref());
            let message = params
                .and_then(|p| p.arguments.as_ref())
                .and_then(|a| a.message.as_deref());
            match (name, message) {
                (Some("echo"), Some(text)) => reply(
                    id,
                    &EchoResult {
                        content: [TextContent { kind: "text", text }],
                    },
                ),
                _ => error(id, -32602, "unknown tool or missing `message`"),
            }
        }
        "tools/list" => reply(
            id,
            &json!({"tools": [{
                "name": "echo",
                "description": "Returns its `message` argument as text.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"]
                }
            }]}),
        ),
        "ping" => reply(id, &json!({})),
        _ => error(id, -32601, "method not found"),
    }
}

fn reply(id: &RawValue, result: &impl Serialize) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&Reply {
        jsonrpc: "2.0",
        id,
        result,
    })
    .expect("serialize");
    json_response(StatusCode::OK, body)
}

fn error(id: &RawValue, code: i64, message: &str) -> Response<Full<Bytes>> {
    let body = json!({"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}});
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

fn json_response(status: StatusCode, body: Vec<u8>) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

fn empty(status: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = status;
    r
}

fn parse_args() -> (SocketAddr, Option<usize>) {
    let mut listen = std::env::var("MCP_HTTP_ECHO_LISTEN").unwrap_or("127.0.0.1:0".into());
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--listen" => listen = val(),
            "--threads" => {
                let v = val();
                threads = Some(
                    v.parse()
                        .unwrap_or_else(|_| usage(&format!("not a number: {v}"))),
                );
            }
            "-h" | "--help" => usage(""),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    let addr = listen
        .parse()
        .unwrap_or_else(|_| usage(&format!("not an address: {listen}")));
    (addr, threads)
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("mcp-http-echo-server: {err}");
    }
    eprintln!(
        "usage: mcp-http-echo-server [--listen ADDR] [--threads N]\n\
         ADDR defaults to $MCP_HTTP_ECHO_LISTEN or 127.0.0.1:0; N to the number of cores."
    );
    std::process::exit(2)
}
