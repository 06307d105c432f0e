//! Who owns what at the front door of `warden serve`, against the real binary: sessions are
//! shared out per principal (`max_sessions_per_principal`), a session belongs to the
//! authentication method and the principal together (another key holder, or a JWT whose
//! subject equals the key's principal, gets 404 on both transports), 401 answers carry fixed
//! messages, and the client's `Authorization`, `Cookie` and `X-Api-Key` never reach an
//! upstream (a recording upstream written here says what it received).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};

use crate::serve::{INIT, Served, http, post, read_until, session_id, sha256_hex};
use crate::support::*;

const ALICE: &str = "k-alice-0123456789";
const BOB: &str = "k-bob-9876543210";

fn keys_config(extra: &str) -> String {
    format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\n{extra}auth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\" }}\n    - {{ key_sha256: \"{}\", principal: \"bob@example.com\" }}\n",
        warden_bin().display(),
        sha256_hex(ALICE),
        sha256_hex(BOB)
    )
}

fn bearer(key: &str) -> String {
    format!("Authorization: Bearer {key}\r\n")
}

const CALL: &str = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_employee","arguments":{"id":"E001"}}}"#;

/// `method` on `/mcp/hr` with these header lines: the status.
fn send(addr: &str, method: &str, headers: &str) -> u16 {
    http(
        addr,
        &format!("{method} /mcp/hr HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{headers}Connection: close\r\n\r\n"),
        b"",
    )
    .0
}

/// A legacy (HTTP+SSE) session opened on `/sse/hr` with `auth`: the open stream and its
/// message endpoint.
fn legacy_session(addr: &str, auth: &str) -> (TcpStream, String) {
    legacy_session_on(addr, "/sse/hr", auth)
}

fn legacy_session_on(addr: &str, path: &str, auth: &str) -> (TcpStream, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n{auth}\r\n"
    )
    .unwrap();
    let text = read_until(&mut s, "session_id=");
    let endpoint = text
        .lines()
        .find_map(|l| l.strip_prefix("data: "))
        .unwrap_or_else(|| panic!("no endpoint in {text}"))
        .trim()
        .to_owned();
    (s, endpoint)
}

#[test]
fn one_principal_cannot_take_every_session() {
    let place = Place::new();
    let served = Served::start(
        &place,
        &keys_config("max_sessions: 10\nmax_sessions_per_principal: 2\n"),
        &[],
    );
    let a = served.addr.clone();
    let mut alices = Vec::new();
    for _ in 0..2 {
        let (status, head, body) = post(&a, "/mcp/hr", &bearer(ALICE), INIT);
        assert_eq!(status, 200, "{body}");
        alices.push(session_id(&head));
    }
    let (status, _, body) = post(&a, "/mcp/hr", &bearer(ALICE), INIT);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("max_sessions_per_principal"), "{body}");
    // The other transport counts too.
    let (status, head, _) = http(
        &a,
        &format!(
            "GET /sse/hr HTTP/1.1\r\nHost: {a}\r\nAccept: text/event-stream\r\n{}Connection: close\r\n\r\n",
            bearer(ALICE)
        ),
        b"",
    );
    assert_eq!(status, 503, "{head}");
    // Bob is not locked out by her, on either transport.
    let (status, _, body) = post(&a, "/mcp/hr", &bearer(BOB), INIT);
    assert_eq!(status, 200, "{body}");
    let (_bob_stream, _) = legacy_session(&a, &bearer(BOB));
    // One of hers ends: she has room again.
    let del = format!("{}Mcp-Session-Id: {}\r\n", bearer(ALICE), alices[0]);
    assert_eq!(send(&a, "DELETE", &del), 200);
    let (status, _, body) = post(&a, "/mcp/hr", &bearer(ALICE), INIT);
    assert_eq!(status, 200, "{body}");
    served.stop();
}

#[test]
fn another_principal_naming_a_session_gets_404_on_both_transports() {
    let place = Place::new();
    let served = Served::start(&place, &keys_config(""), &[]);
    let a = served.addr.clone();
    let (status, head, _) = post(&a, "/mcp/hr", &bearer(ALICE), INIT);
    assert_eq!(status, 200);
    let sid = session_id(&head);
    let as_bob = format!("{}Mcp-Session-Id: {sid}\r\n", bearer(BOB));
    let (status, _, body) = post(&a, "/mcp/hr", &as_bob, CALL);
    assert_eq!(status, 404, "{body}");
    assert_eq!(send(&a, "GET", &as_bob), 404);
    assert_eq!(send(&a, "DELETE", &as_bob), 404);
    // Bob's tries changed nothing for Alice.
    let as_alice = format!("{}Mcp-Session-Id: {sid}\r\n", bearer(ALICE));
    let (status, _, body) = post(&a, "/mcp/hr", &as_alice, CALL);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"id\":2"), "{body}");

    // HTTP+SSE: Bob posting to Alice's message endpoint, under either parameter name.
    let (mut stream, endpoint) = legacy_session(&a, &bearer(ALICE));
    let id = endpoint.split("session_id=").nth(1).unwrap().to_owned();
    for path in [endpoint.clone(), format!("/messages/hr?sessionId={id}")] {
        let (status, _, body) = post(&a, &path, &bearer(BOB), CALL);
        assert_eq!(status, 404, "{path}: {body}");
    }
    let (status, _, body) = post(&a, &endpoint, &bearer(ALICE), CALL);
    assert_eq!(status, 202, "{body}");
    read_until(&mut stream, "\"id\":2");
    served.stop();
    // Bob's attempts reached no pipeline: nothing of his is in the record.
    let leaves = place.leaves();
    assert!(
        leaves.iter().all(|l| l["principal"] != "bob@example.com"),
        "bob reached a session"
    );
}

#[test]
fn a_jwt_whose_subject_is_a_key_holders_principal_is_someone_else() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let dir = place.dir.path();
    let tokens = jwt_tokens(&peers, dir);
    let jwt = tokens["good"].as_str().unwrap().to_owned();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\" }}\n  jwt: {{ issuer: \"https://idp.example.com\", audience: warden, jwks_file: \"{}\" }}\n",
        warden_bin().display(),
        sha256_hex(ALICE),
        dir.join("jwks.json").display()
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    // The key holder's session; the JWT's `sub` is the same string.
    let (status, head, _) = post(&a, "/mcp/hr", &bearer(ALICE), INIT);
    assert_eq!(status, 200);
    let key_sid = session_id(&head);
    let jwt_on_key = format!("{}Mcp-Session-Id: {key_sid}\r\n", bearer(&jwt));
    let (status, _, body) = post(&a, "/mcp/hr", &jwt_on_key, CALL);
    assert_eq!(status, 404, "{body}");
    assert_eq!(send(&a, "GET", &jwt_on_key), 404);
    assert_eq!(send(&a, "DELETE", &jwt_on_key), 404);
    // And the other way round.
    let (status, head, _) = post(&a, "/mcp/hr", &bearer(&jwt), INIT);
    assert_eq!(status, 200);
    let jwt_sid = session_id(&head);
    let key_on_jwt = format!("{}Mcp-Session-Id: {jwt_sid}\r\n", bearer(ALICE));
    assert_eq!(post(&a, "/mcp/hr", &key_on_jwt, CALL).0, 404);
    // HTTP+SSE too.
    let (_stream, endpoint) = legacy_session(&a, &bearer(ALICE));
    assert_eq!(post(&a, &endpoint, &bearer(&jwt), CALL).0, 404);
    // Each owner still reaches its own.
    let own = format!("{}Mcp-Session-Id: {key_sid}\r\n", bearer(ALICE));
    assert_eq!(post(&a, "/mcp/hr", &own, CALL).0, 200);
    let own = format!("{}Mcp-Session-Id: {jwt_sid}\r\n", bearer(&jwt));
    assert_eq!(post(&a, "/mcp/hr", &own, CALL).0, 200);
    served.stop();
    // Records still name the principal alone.
    let leaves = place.leaves();
    for sid in [&key_sid, &jwt_sid] {
        let init = leaves
            .iter()
            .find(|l| l["session"] == sid.as_str() && l["method"] == "initialize")
            .unwrap();
        assert_eq!(init["principal"], "alice@example.com");
    }
}

/// The messages a 401 may carry (docs/serve.md): nothing else, whatever was sent.
const FIXED_401: &[&str] = &[
    "authentication required",
    "invalid token: unknown API key",
    "invalid token: malformed JWT",
    "invalid token: unknown signing key",
    "invalid token: token expired",
    "invalid token: token not yet valid",
    "invalid token: wrong audience",
    "invalid token: wrong issuer",
    "invalid token: bad signature",
    "invalid token: no principal claim",
    "invalid token: token rejected",
];

/// base64url without padding (RFC 4648 §5), as JWTs use.
fn b64(s: &str) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in s.as_bytes().chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

#[test]
fn a_401_says_one_fixed_thing_and_nothing_a_library_said() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let dir = place.dir.path();
    let tokens = jwt_tokens(&peers, dir);
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\" }}\n  jwt: {{ issuer: \"https://idp.example.com\", audience: warden, jwks_file: \"{}\" }}\n",
        warden_bin().display(),
        sha256_hex(ALICE),
        dir.join("jwks.json").display()
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let good = tokens["good"].as_str().unwrap();
    let (head_b64, rest) = good.split_once('.').unwrap();
    let (_, sig) = rest.split_once('.').unwrap();
    let now = 1_900_000_000u64;
    let claims = |c: Value| b64(&c.to_string());
    let cases: Vec<(String, &str)> = vec![
        ("nope".into(), "invalid token: unknown API key"),
        ("a.b.c".into(), "invalid token: malformed JWT"),
        ("!!.??.**".into(), "invalid token: malformed JWT"),
        (
            format!(
                "{}.{}.{sig}",
                b64(r#"{"alg":"HS256","kid":"k1"}"#),
                claims(json!({"sub":"x"}))
            ),
            "invalid token: token rejected",
        ),
        (
            format!(
                "{}.{}.{sig}",
                b64(r#"{"alg":"RS256","kid":"nope"}"#),
                claims(json!({"sub":"x"}))
            ),
            "invalid token: unknown signing key",
        ),
        (
            format!(
                "{head_b64}.{}.{sig}",
                claims(json!({"sub":"x","exp":now,"iss":"https://idp.example.com","aud":"warden"}))
            ),
            "invalid token: bad signature",
        ),
        (
            // The signature is checked before the claims are read.
            format!("{head_b64}.{}.{sig}", b64("not json")),
            "invalid token: bad signature",
        ),
        (
            tokens["expired"].as_str().unwrap().into(),
            "invalid token: token expired",
        ),
        (
            tokens["wrong_audience"].as_str().unwrap().into(),
            "invalid token: wrong audience",
        ),
    ];
    for (token, want) in &cases {
        let (status, head, body) = post(&a, "/mcp/hr", &bearer(token), INIT);
        assert_eq!(status, 401, "{token}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        let message = v["error"]["message"].as_str().unwrap();
        assert_eq!(message, *want, "{token}");
        assert!(FIXED_401.contains(&message));
        let described = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
            .unwrap_or_else(|| panic!("no WWW-Authenticate: {head}"));
        let reason = want.strip_prefix("invalid token: ").unwrap();
        assert!(
            described.contains(&format!("error_description=\"{reason}\"")),
            "{described}"
        );
    }
    let (status, _, body) = post(&a, "/mcp/hr", "", INIT);
    assert_eq!(status, 401);
    assert!(body.contains("\"authentication required\""), "{body}");
    // The scheme in any case.
    for scheme in ["bearer", "BEARER"] {
        let auth = format!("Authorization: {scheme} {ALICE}\r\n");
        assert_eq!(post(&a, "/mcp/hr", &auth, INIT).0, 200, "{scheme}");
    }
    served.stop();
}

/// One request as a recording upstream received it.
#[derive(Clone, Debug)]
struct Seen {
    line: String,
    headers: Vec<(String, String)>,
}

impl Seen {
    fn has(&self, name: &str) -> bool {
        self.headers.iter().any(|(k, _)| k == name)
    }
}

/// A Streamable HTTP MCP server that records every request's headers (HTTP/1.1, keep-alive).
struct Recorder {
    url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start() -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/mcp", l.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for conn in l.incoming().flatten() {
                let log = log.clone();
                std::thread::spawn(move || {
                    let _ended = serve_recorded(conn, &log);
                });
            }
        });
        Recorder { url, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn serve_recorded(conn: TcpStream, log: &Mutex<Vec<Seen>>) -> std::io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut out = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    loop {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            r.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        let len: usize = headers
            .iter()
            .find(|(k, _)| k == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        r.read_exact(&mut body)?;
        let method = line.split_whitespace().next().unwrap_or("").to_owned();
        log.lock().unwrap().push(Seen {
            line: line.trim_end().to_owned(),
            headers,
        });
        let (status, extra, reply) = match method.as_str() {
            "POST" => {
                let msg: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                match (msg.get("id"), msg["method"].as_str()) {
                    (Some(id), Some("initialize")) => (
                        "200 OK",
                        "Mcp-Session-Id: rec-1\r\nContent-Type: application/json\r\n",
                        json!({"jsonrpc":"2.0","id":id,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"recorder","version":"1"}}}).to_string(),
                    ),
                    (Some(id), Some(_)) => (
                        "200 OK",
                        "Content-Type: application/json\r\n",
                        json!({"jsonrpc":"2.0","id":id,"result":{"tools":[]}}).to_string(),
                    ),
                    _ => ("202 Accepted", "", String::new()),
                }
            }
            "DELETE" => ("200 OK", "", String::new()),
            _ => (
                "405 Method Not Allowed",
                "Allow: POST, DELETE\r\n",
                String::new(),
            ),
        };
        write!(
            out,
            "HTTP/1.1 {status}\r\n{extra}Content-Length: {}\r\n\r\n{reply}",
            reply.len()
        )?;
        out.flush()?;
    }
}

#[test]
fn the_clients_credentials_never_reach_an_upstream() {
    let up = Recorder::start();
    let place = Place::new();
    let config = format!(
        "servers:\n  up: {{ url: \"{}\", headers: {{ x-upstream-credential: svc-cred }} }}\n  fwd: {{ url: \"{}\", forward_authorization: true }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\" }}\n",
        up.url,
        up.url,
        sha256_hex(ALICE)
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let creds = format!(
        "Authorization: Bearer {ALICE}\r\nCookie: sid=planted-cookie\r\nX-Api-Key: {ALICE}\r\nProxy-Authorization: Basic cGxhbnRlZA==\r\n"
    );
    let (status, head, body) = post(&a, "/mcp/up", &creds, INIT);
    assert_eq!(status, 200, "{head}{body}");
    let sid = session_id(&head);
    let in_session =
        format!("{creds}Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: 2025-06-18\r\n");
    let (status, _, _) = post(
        &a,
        "/mcp/up",
        &in_session,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(status, 202);
    let (status, _, body) = post(
        &a,
        "/mcp/up",
        &in_session,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
    );
    assert_eq!(status, 200, "{body}");
    http(
        &a,
        &format!(
            "GET /mcp/up HTTP/1.1\r\nHost: {a}\r\nAccept: text/event-stream\r\n{in_session}Connection: close\r\n\r\n"
        ),
        b"",
    );
    http(
        &a,
        &format!("DELETE /mcp/up HTTP/1.1\r\nHost: {a}\r\n{in_session}Connection: close\r\n\r\n"),
        b"",
    );
    // The deprecated HTTP+SSE front door, bridged to the same upstream.
    let (mut stream, endpoint) = legacy_session_on(&a, "/sse/up", &creds);
    let (status, _, body) = post(&a, &endpoint, &creds, INIT);
    assert_eq!(status, 202, "{body}");
    read_until(&mut stream, "recorder");
    let seen = up.seen();
    for want in ["POST", "GET", "DELETE"] {
        assert!(
            seen.iter().any(|s| s.line.starts_with(want)),
            "no {want} reached the upstream: {seen:?}"
        );
    }
    assert!(seen.len() >= 6, "{seen:?}");
    for s in &seen {
        // The recorder sees headers: the configured one is there on every request.
        assert!(s.has("x-upstream-credential"), "{s:?}");
        for never in [
            "authorization",
            "cookie",
            "x-api-key",
            "proxy-authorization",
        ] {
            assert!(!s.has(never), "{never} reached the upstream: {s:?}");
        }
        let all = format!("{:?}", s.headers);
        assert!(
            !all.contains(ALICE) && !all.contains("planted"),
            "a client credential reached the upstream: {all}"
        );
    }
    // With forward_authorization, the same recorder does see the client's Authorization (and
    // still no cookie or X-Api-Key): the check above could fail.
    let before = up.seen().len();
    let (status, _, body) = post(&a, "/mcp/fwd", &creds, INIT);
    assert_eq!(status, 200, "{body}");
    let seen = up.seen();
    // The INIT's POST (a GET stream of an earlier session may arrive in between).
    let fwd = seen[before..]
        .iter()
        .find(|s| s.line.starts_with("POST"))
        .unwrap_or_else(|| panic!("the INIT never reached the upstream: {:?}", &seen[before..]));
    assert!(fwd.has("authorization"), "{fwd:?}");
    assert!(!fwd.has("cookie") && !fwd.has("x-api-key"), "{fwd:?}");
    served.stop();
}
