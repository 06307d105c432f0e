//! `mcp-echo-server`: the minimal MCP stdio server every benchmark path talks to (directly,
//! through `relay`, through `warden run`). It owns nothing but answering newline-delimited
//! JSON-RPC: `initialize`, `tools/list` (one tool, `echo`), `tools/call` of `echo` (returns the
//! `message` argument as text content) and `ping`. One response line per request, flushed at
//! once; notifications get no answer. It is kept cheap so that the proxy's cost stands out.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::os::fd::AsFd;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// One incoming message; fields borrow from the line where they can (no copy of the payload
/// unless it contains escapes).
#[derive(Deserialize)]
struct Request<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    method: Option<Cow<'a, str>>,
    #[serde(borrow)]
    params: Option<CallParams<'a>>,
}

/// The params of `tools/call` (other methods' params are ignored, so unknown fields are too).
#[derive(Deserialize)]
struct CallParams<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
    #[serde(borrow)]
    arguments: Option<EchoArgs<'a>>,
}

#[derive(Deserialize)]
struct EchoArgs<'a> {
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

/// A successful answer; `result` is either a borrowed echo result or a prebuilt Value.
#[derive(Serialize)]
struct Response<'a, R: Serialize> {
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

fn main() {
    // stdin/stdout as plain files (duplicated fds) behind our own buffers: a 64 KiB read
    // buffer (a pipe's worth) instead of std's 8 KiB, and no line buffering under ours.
    let raw =
        |fd: std::os::fd::BorrowedFd<'_>| File::from(fd.try_clone_to_owned().expect("dup stdio"));
    let mut input = BufReader::with_capacity(64 * 1024, raw(std::io::stdin().as_fd()));
    let mut out = BufWriter::with_capacity(64 * 1024, raw(std::io::stdout().as_fd()));
    let mut line = Vec::with_capacity(64 * 1024);
    loop {
        line.clear();
        match input.read_until(b'\n', &mut line) {
            Ok(0) => break, // EOF: the client is done.
            Ok(_) => {}
            Err(e) => {
                eprintln!("mcp-echo-server: read error: {e}");
                break;
            }
        }
        let text = trim_newline(&line);
        if text.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if let Err(e) = answer(text, &mut out) {
            eprintln!("mcp-echo-server: write error: {e}");
            break;
        }
    }
    let _ = out.flush();
}

fn trim_newline(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Writes the answer to one line (if it needs one) and flushes.
fn answer(text: &[u8], out: &mut impl Write) -> std::io::Result<()> {
    let req: Request = match serde_json::from_slice(text) {
        Ok(r) => r,
        Err(_) => {
            let err =
                json!({"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"parse error"}});
            return write_line(out, &err);
        }
    };
    // No id: a notification (e.g. notifications/initialized); nothing to answer.
    let Some(id) = req.id else { return Ok(()) };
    let method = req.method.as_deref().unwrap_or("");
    match method {
        "tools/call" => {
            let params = req.params.as_ref();
            let name = params.and_then(|p| p.name.as_deref());
            let message = params
                .and_then(|p| p.arguments.as_ref())
                .and_then(|a| a.message.as_deref());
            match (name, message) {
                (Some("echo"), Some(message)) => {
                    let result = EchoResult {
                        content: [TextContent {
                            kind: "text",
                            text: message,
                        }],
                    };
                    write_line(
                        out,
                        &Response {
                            jsonrpc: "2.0",
                            id,
                            result,
                        },
                    )
                }
                _ => write_error(out, id, -32602, "unknown tool or missing `message`"),
            }
        }
        "initialize" => {
            let result = json!({
                "protocolVersion": "2025-06-18",
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "mcp-echo-server", "version": env!("CARGO_PKG_VERSION")}
            });
            write_line(
                out,
                &Response {
                    jsonrpc: "2.0",
                    id,
                    result,
                },
            )
        }
        "tools/list" => {
            let result = json!({"tools": [{
                "name": "echo",
                "description": "Returns its `message` argument as text.",
                "inputSchema": {
                    "type": "object",
                    "properties": {"message": {"type": "string"}},
                    "required": ["message"]
                }
            }]});
            write_line(
                out,
                &Response {
                    jsonrpc: "2.0",
                    id,
                    result,
                },
            )
        }
        "ping" => write_line(
            out,
            &Response {
                jsonrpc: "2.0",
                id,
                result: json!({}),
            },
        ),
        _ => write_error(out, id, -32601, "method not found"),
    }
}

fn write_error(
    out: &mut impl Write,
    id: &RawValue,
    code: i64,
    message: &str,
) -> std::io::Result<()> {
    let err: Value = json!({"jsonrpc":"2.0","id":id,"error":{"code":code,"message":message}});
    write_line(out, &err)
}

/// One JSON value, one newline, one flush.
fn write_line(out: &mut impl Write, value: &impl Serialize) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, value)?;
    out.write_all(b"\n")?;
    out.flush()
}
