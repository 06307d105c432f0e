//! `warden serve`: the Streamable HTTP front door in front of real servers (server-everything
//! over stdio and over its own Streamable HTTP), driven by the official Python SDK; and the
//! front door's own checks (auth, Origin, Host, body limit, unreachable upstreams).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::peers::{check_everything_records, check_everything_report};
use crate::support::*;

/// A running `warden serve` on a free loopback port.
pub(crate) struct Served {
    pub(crate) child: Child,
    pub(crate) addr: String,
    /// The admin listener's address, when one was asked for.
    pub(crate) admin: Option<String>,
}

impl Served {
    pub(crate) fn start(place: &Place, config: &str, extra: &[&str]) -> Served {
        Served::start_on(place, &place.db(), config, extra)
    }

    /// `start` with the store at `db`.
    pub(crate) fn start_on(place: &Place, db: &Path, config: &str, extra: &[&str]) -> Served {
        let cfg = place.dir.path().join("warden.yaml");
        std::fs::write(&cfg, config).unwrap();
        let listen: &[&str] = if extra.contains(&"--listen") {
            &[]
        } else {
            &["--listen", "127.0.0.1:0"]
        };
        let mut child = warden()
            .arg("serve")
            .arg("--config")
            .arg(&cfg)
            .args(listen)
            .arg("--db")
            .arg(db)
            .arg("--key-dir")
            .arg(place.keys())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        let want_admin = extra.contains(&"--admin-listen");
        let (mut addr, mut admin) = (None, None);
        while addr.is_none() || (want_admin && admin.is_none()) {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 {
                panic!("warden serve exited before listening: {:?}", child.wait());
            }
            let l = line.trim();
            if let Some(a) = l.strip_prefix("warden: listening on http://") {
                addr = Some(a.to_owned());
            }
            if let Some(a) = l.strip_prefix("warden: admin on http://") {
                admin = Some(a.trim_end_matches('/').to_owned());
            }
        }
        let addr = addr.unwrap_or_default();
        // Keep draining stderr so the server never blocks on it.
        std::thread::spawn(move || {
            let mut sink = String::new();
            while err.read_line(&mut sink).unwrap_or(0) > 0 {
                eprint!("{sink}");
                sink.clear();
            }
        });
        Served { child, addr, admin }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then wait: the gateway ends its sessions and closes the log.
    pub(crate) fn stop(mut self) {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        )
        .unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "warden serve exited with {status}");
    }
}

/// A test that failed before `stop` leaves no gateway running.
impl Drop for Served {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _killed = self.child.kill();
            let _waited = self.child.wait();
        }
    }
}

/// server-everything speaking its own Streamable HTTP on a free port.
pub(crate) struct EverythingHttp {
    child: Child,
    pub(crate) url: String,
}

/// server-everything in `mode` (`streamableHttp`, `sse`) on a free port, once it listens.
fn everything_on_a_port(peers: &Path, mode: &str) -> (Child, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new("node")
        .arg(everything_js(peers))
        .arg(mode)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "server-everything ({mode}) did not listen"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (child, port)
}

impl EverythingHttp {
    pub(crate) fn start(peers: &Path) -> EverythingHttp {
        let (child, port) = everything_on_a_port(peers, "streamableHttp");
        EverythingHttp {
            child,
            url: format!("http://127.0.0.1:{port}/mcp"),
        }
    }
}

impl Drop for EverythingHttp {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

fn everything_js(peers: &Path) -> String {
    peers
        .join("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js")
        .display()
        .to_string()
}

/// The everything client over HTTP at `url` (`extra`: more client flags).
fn drive_http(peers: &Path, place: &Place, url: &str, extra: &[&str]) {
    let result = place.dir.path().join("result.json");
    let mut cmd = Command::new(peers.join("venv/bin/python"));
    cmd.arg(repo_root().join("tests/peers/everything_client.py"))
        .arg("--out")
        .arg(&result)
        .arg("--root")
        .arg(place.dir.path())
        .arg("--url")
        .arg(url);
    cmd.args(extra);
    let out = cmd.output().unwrap();
    check_everything_report(&result, &out);
}

/// `warden serve` with server-everything (stdio) as the server `everything`.
fn serve_everything_stdio(peers: &Path, place: &Place) -> Served {
    let config = format!(
        "servers:\n  everything: {{ command: [\"node\", \"{}\", \"stdio\"] }}\n",
        everything_js(peers)
    );
    Served::start(place, &config, &[])
}

/// A TLS front (`tests/peers/tls_front.py ARGS`) started in `dir`, and its port.
pub(crate) fn tls_front(dir: &Path, args: &[&str]) -> (Child, u16) {
    let mut front = Command::new("python3")
        .arg(repo_root().join("tests/peers/tls_front.py"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(front.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("tls_front.py said {line:?}"))
        .parse()
        .unwrap();
    (front, port)
}

#[test]
fn http_front_door_to_a_stdio_server_with_the_python_sdk() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let served = serve_everything_stdio(&peers, &place);
    drive_http(&peers, &place, &served.url("/mcp/everything"), &[]);
    served.stop();
    let leaves = place.leaves();
    check_everything_records(&leaves, 1_000_000);
    // The client's DELETE ended the session and stopped its child.
    let start = first_event(&leaves, "session_start");
    assert_eq!(start["detail"]["transport"], "streamable_http");
    assert_eq!(start["detail"]["upstream"], "stdio");
    let end = first_event(&leaves, "session_end");
    assert_eq!(end["session"], start["session"]);
    assert_eq!(end["detail"]["reason"], "client_deleted_session");
    place.assert_verifies();
}

#[test]
fn http_front_door_to_a_streamable_http_server_with_the_python_sdk() {
    let Some(peers) = peers() else { return };
    let upstream = EverythingHttp::start(&peers);
    let place = Place::new();
    let config = format!("servers:\n  everything: {{ url: \"{}\" }}\n", upstream.url);
    let served = Served::start(&place, &config, &[]);
    // `/mcp` reaches the only server.
    drive_http(&peers, &place, &served.url("/mcp"), &[]);
    served.stop();
    let leaves = place.leaves();
    check_everything_records(&leaves, 1_000_000);
    let start = first_event(&leaves, "session_start");
    assert_eq!(start["detail"]["upstream"], "http");
    place.assert_verifies();
}

/// A raw HTTP/1.1 exchange: the status and the body.
pub(crate) fn http(addr: &str, request: &str, body: &[u8]) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).ok();
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// The `Mcp-Session-Id` a response head carries.
pub(crate) fn session_id(head: &str) -> String {
    head.lines()
        .find_map(|l| l.strip_prefix("mcp-session-id: "))
        .unwrap_or_else(|| panic!("no session id in {head}"))
        .to_owned()
}

pub(crate) fn post(addr: &str, path: &str, headers: &str, body: &str) -> (u16, String, String) {
    http(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        ),
        body.as_bytes(),
    )
}

pub(crate) const INIT: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"auth-test","version":"1"}}}"#;

pub(crate) fn sha256_hex(s: &str) -> String {
    use std::fmt::Write as _;
    let digest = hmac_free_sha256(s.as_bytes());
    digest.iter().fold(String::new(), |mut o, b| {
        write!(o, "{b:02x}").unwrap();
        o
    })
}

/// SHA-256 by the `sha256sum` tool, so the test does not share warden's hashing code.
fn hmac_free_sha256(data: &[u8]) -> Vec<u8> {
    let mut c = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    c.stdin.take().unwrap().write_all(data).unwrap();
    let out = c.wait_with_output().unwrap();
    let hex = String::from_utf8(out.stdout).unwrap();
    (0..32)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn the_front_door_checks_keys_origin_host_and_body_size() {
    let place = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nmax_body: 2048\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\", roles: [engineer] }}\n",
        warden_bin().display(),
        sha256_hex("k-alice-123")
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    // No token: 401 with the protected-resource metadata named.
    let (status, head, _) = post(&a, "/mcp/hr", "", INIT);
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_lowercase()
            .contains("www-authenticate: bearer resource_metadata=\""),
        "{head}"
    );
    // A wrong token: 401 too.
    let (status, head, _) = post(&a, "/mcp/hr", "Authorization: Bearer nope\r\n", INIT);
    assert_eq!(status, 401, "{head}");
    assert!(head.contains("invalid_token"), "{head}");
    // The metadata document names this resource.
    let (status, _, body) = http(
        &a,
        &format!(
            "GET /.well-known/oauth-protected-resource/mcp/hr HTTP/1.1\r\nHost: {a}\r\nConnection: close\r\n\r\n"
        ),
        b"",
    );
    assert_eq!(status, 200);
    assert!(
        body.contains(&format!("\"resource\":\"http://{a}/mcp/hr\"")),
        "{body}"
    );
    // A foreign Origin: 403, before anything else.
    let (status, _, body) = post(
        &a,
        "/mcp/hr",
        "Authorization: Bearer k-alice-123\r\nOrigin: http://evil.example\r\n",
        INIT,
    );
    assert_eq!(status, 403, "{body}");
    // A Host that is not this gateway (DNS rebinding): 403.
    let (status, _, _) = http(
        &a,
        &format!(
            "POST /mcp/hr HTTP/1.1\r\nHost: evil.example:80\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nAuthorization: Bearer k-alice-123\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            INIT.len()
        ),
        INIT.as_bytes(),
    );
    assert_eq!(status, 403);
    // Too large a body: 413 with a JSON-RPC error.
    let big = format!(
        r#"{{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{{"name":"x","arguments":{{"pad":"{}"}}}}}}"#,
        "a".repeat(4096)
    );
    let (status, _, body) = post(&a, "/mcp/hr", "Authorization: Bearer k-alice-123\r\n", &big);
    assert_eq!(status, 413);
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["error"]["code"], -32600);
    // A good key: the session works and every record carries the principal.
    let (status, head, body) = post(
        &a,
        "/mcp/hr",
        "Authorization: Bearer k-alice-123\r\nOrigin: http://localhost:3000\r\nX-Warden-Agent: nightly-report-agent\r\n",
        INIT,
    );
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(body.contains("warden-demo-hr"), "{body}");
    let sid = session_id(&head);
    // The session belongs to alice: without her key it does not exist.
    let (status, _, _) = post(&a, "/mcp/hr", &format!("Mcp-Session-Id: {sid}\r\n"), INIT);
    assert_eq!(status, 401);
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_employee","arguments":{"id":"E001"}}}"#;
    let (status, _, body) = post(
        &a,
        "/mcp/hr",
        &format!("Authorization: Bearer k-alice-123\r\nMcp-Session-Id: {sid}\r\n"),
        call,
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"id\":2"), "{body}");
    // Mirror headers that disagree with the body (2026-07-28): 400 with -32020.
    let (status, _, body) = post(
        &a,
        "/mcp/hr",
        &format!(
            "Authorization: Bearer k-alice-123\r\nMcp-Session-Id: {sid}\r\nMcp-Method: tools/list\r\n"
        ),
        call,
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("-32020"), "{body}");
    let (status, _, _) = post(
        &a,
        "/mcp/hr",
        &format!(
            "Authorization: Bearer k-alice-123\r\nMcp-Session-Id: {sid}\r\nMcp-Method: tools/call\r\nMcp-Name: get_pay_info\r\n"
        ),
        call,
    );
    assert_eq!(status, 400);
    // An unknown session: 404.
    let (status, _, _) = post(
        &a,
        "/mcp/hr",
        "Authorization: Bearer k-alice-123\r\nMcp-Session-Id: 0000\r\n",
        call,
    );
    assert_eq!(status, 404);
    served.stop();
    let leaves = place.leaves();
    let session: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["session"] == sid.as_str())
        .collect();
    assert!(session.len() >= 5, "{session:?}");
    for l in &session {
        assert_eq!(l["principal"], "alice@example.com", "{l}");
        assert_eq!(l["agent"], "nightly-report-agent", "{l}");
    }
    let text = std::fs::read(place.db()).unwrap();
    assert!(
        !String::from_utf8_lossy(&text).contains("k-alice-123"),
        "the key is never stored"
    );
}

#[test]
fn an_unreachable_upstream_gives_502_and_a_record() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let place = Place::new();
    let config = format!(
        "servers:\n  gone: {{ url: \"http://127.0.0.1:{port}/mcp\", connect_timeout_ms: 2000 }}\n"
    );
    let served = Served::start(&place, &config, &[]);
    let (status, _, body) = post(&served.addr, "/mcp/gone", "", INIT);
    assert_eq!(status, 502, "{body}");
    let err: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(err["id"], 1);
    assert_eq!(err["error"]["code"], -32603);
    served.stop();
    let leaves = place.leaves();
    let answer = leaves
        .iter()
        .find(|l| l["kind"] == "error" && l["dir"] == "s2c")
        .unwrap();
    assert_eq!(answer["outcome"], "gateway_error");
    assert_eq!(answer["detail"]["reason"], "upstream unreachable");
    let req = leaves.iter().find(|l| l["kind"] == "request").unwrap();
    assert_eq!(req["exchange"], answer["exchange"]);
}

#[test]
fn a_remote_listen_address_without_auth_is_refused() {
    let place = Place::new();
    let cfg = place.dir.path().join("warden.yaml");
    std::fs::write(
        &cfg,
        "servers:\n  hr: { command: [\"true\"] }\nlisten: 0.0.0.0:4599\n",
    )
    .unwrap();
    let out = warden()
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--db")
        .arg(place.db())
        .arg("--key-dir")
        .arg(place.keys())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a loopback address and no auth is configured"),
        "{err}"
    );
}

#[test]
fn stdio_front_door_to_a_streamable_http_server_with_the_python_sdk() {
    let Some(peers) = peers() else { return };
    let upstream = EverythingHttp::start(&peers);
    let place = Place::new();
    let result = place.dir.path().join("result.json");
    let mut args = place.run_args(&["--server-name", "everything", "--upstream", &upstream.url]);
    // `run_args` ends with `--` for a command; with --upstream there is none.
    assert_eq!(args.pop().as_deref(), Some("--"));
    let out = Command::new(peers.join("venv/bin/python"))
        .arg(repo_root().join("tests/peers/everything_client.py"))
        .arg("--out")
        .arg(&result)
        .arg("--root")
        .arg(place.dir.path())
        .arg("--")
        .arg(warden_bin())
        .args(&args)
        .output()
        .unwrap();
    check_everything_report(&result, &out);
    let leaves = place.leaves();
    check_everything_records(&leaves, 1_000_000);
    let start = first_event(&leaves, "session_start");
    assert_eq!(start["detail"]["transport"], "stdio");
    assert_eq!(start["detail"]["upstream"], "http");
    place.assert_verifies();
}

#[test]
fn jwt_bearer_tokens_are_checked_and_name_the_principal() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let dir = place.dir.path();
    let tokens: Value = jwt_tokens(&peers, dir);
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  jwt: {{ issuer: \"https://idp.example.com\", audience: warden, jwks_file: \"{}\" }}\n",
        warden_bin().display(),
        dir.join("jwks.json").display()
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    for (name, why) in [
        ("expired", "token expired"),
        ("wrong_audience", "wrong audience"),
        ("wrong_issuer", "wrong issuer"),
        ("foreign_key", "bad signature"),
    ] {
        let t = tokens[name].as_str().unwrap();
        let (status, head, _) = post(
            &a,
            "/mcp/hr",
            &format!("Authorization: Bearer {t}\r\n"),
            INIT,
        );
        assert_eq!(status, 401, "{name}: {head}");
        assert!(head.contains(why), "{name}: {head}");
    }
    let good = tokens["good"].as_str().unwrap();
    let (status, head, body) = post(
        &a,
        "/mcp/hr",
        &format!("Authorization: Bearer {good}\r\n"),
        INIT,
    );
    assert_eq!(status, 200, "{head}{body}");
    served.stop();
    let leaves = place.leaves();
    let init = leaves
        .iter()
        .find(|l| l["method"] == "initialize" && l["kind"] == "request")
        .unwrap();
    assert_eq!(init["principal"], "alice@example.com");
    let start = first_event(&leaves, "session_start");
    assert_eq!(start["detail"]["auth"], "jwt");
    let db = std::fs::read(place.db()).unwrap();
    assert!(
        !String::from_utf8_lossy(&db).contains(good),
        "the token is never stored"
    );
    // The same keys fetched from a JWKS URL (a real HTTP server).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut web = Command::new("python3")
        .args([
            "-m",
            "http.server",
            "--bind",
            "127.0.0.1",
            &port.to_string(),
        ])
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the JWKS server did not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    let place2 = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  jwt: {{ issuer: \"https://idp.example.com\", audience: warden, jwks_url: \"http://127.0.0.1:{port}/jwks.json\" }}\n",
        warden_bin().display()
    );
    let served = Served::start(&place2, &config, &[]);
    let (status, _, _) = post(
        &served.addr,
        "/mcp/hr",
        &format!("Authorization: Bearer {good}\r\n"),
        INIT,
    );
    assert_eq!(status, 200);
    let bad = tokens["foreign_key"].as_str().unwrap();
    let (status, _, _) = post(
        &served.addr,
        "/mcp/hr",
        &format!("Authorization: Bearer {bad}\r\n"),
        INIT,
    );
    assert_eq!(status, 401);
    served.stop();
    web.kill().ok();
    web.wait().ok();
}

#[test]
fn a_client_that_disconnects_mid_call_cancels_it_upstream() {
    let place = Place::new();
    let cancels = place.dir.path().join("cancels.log");
    let script = format!(
        r#"while IFS= read -r line; do case "$line" in *'"initialize"'*) printf '%s\n' '{{"jsonrpc":"2.0","id":1,"result":{{"protocolVersion":"2025-06-18","capabilities":{{"tools":{{}}}},"serverInfo":{{"name":"slow","version":"1"}}}}}}';; *cancelled*) printf '%s\n' "$line" >> '{}';; esac; done"#,
        cancels.display()
    );
    // The client does not come back to resume its stream: cancelled after 100 ms.
    let config = format!(
        "stream_resume_ms: 100\nservers:\n  slow: {{ command: [\"sh\", \"-c\", {}] }}\n",
        serde_json::Value::from(script)
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let (status, head, _) = post(&a, "/mcp/slow", "", INIT);
    assert_eq!(status, 200, "{head}");
    let sid = session_id(&head);
    // A call the server never answers; the client reads the response head, then hangs up.
    let call = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"slow_tool","arguments":{}}}"#;
    {
        let mut s = TcpStream::connect(&a).unwrap();
        write!(
            s,
            "POST /mcp/slow HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {sid}\r\nContent-Length: {}\r\n\r\n{call}",
            call.len()
        )
        .unwrap();
        let mut head = [0u8; 512];
        let n = s.read(&mut head).unwrap();
        assert!(String::from_utf8_lossy(&head[..n]).contains("200 OK"));
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while !std::fs::read_to_string(&cancels).is_ok_and(|t| t.contains("\"requestId\":7")) {
        assert!(
            Instant::now() < deadline,
            "the server was never told the call was cancelled"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    served.stop();
    let leaves = place.leaves();
    let req = leaves
        .iter()
        .find(|l| l["method"] == "tools/call" && l["kind"] == "request")
        .unwrap();
    let cancel = leaves
        .iter()
        .find(|l| l["method"] == "notifications/cancelled")
        .unwrap();
    assert_eq!(cancel["dir"], "c2s");
    assert_eq!(cancel["exchange"], req["exchange"]);
    assert_eq!(cancel["outcome"], "cancelled");
    // Still unanswered when the gateway stopped: its cancellation closed it, so it is not
    // also recorded as abandoned.
    assert!(
        !leaves
            .iter()
            .any(|l| l["event"] == "exchange_abandoned" && l["exchange"] == req["exchange"])
    );
}

/// server-everything speaking the deprecated HTTP+SSE transport on a free port.
fn everything_sse(peers: &Path) -> (Child, String) {
    let (child, port) = everything_on_a_port(peers, "sse");
    (child, format!("http://127.0.0.1:{port}/sse"))
}

#[test]
fn the_deprecated_http_sse_front_door_to_stdio_sse_and_streamable_servers() {
    let Some(peers) = peers() else { return };
    let (mut upstream, sse_url) = everything_sse(&peers);
    let streamable = EverythingHttp::start(&peers);
    let place = Place::new();
    let config = format!(
        "servers:\n  everything: {{ command: [\"node\", \"{}\", \"stdio\"] }}\n  everything-sse: {{ url: \"{sse_url}\", transport: sse }}\n  everything-http: {{ url: \"{}\" }}\n",
        everything_js(&peers),
        streamable.url
    );
    let served = Served::start(&place, &config, &[]);
    // The SDK's HTTP+SSE client caps one event at 1 MiB: a 500 kB echo fits.
    let sse = ["--transport", "sse", "--echo-bytes", "500000"];
    drive_http(&peers, &place, &served.url("/sse/everything"), &sse);
    drive_http(&peers, &place, &served.url("/sse/everything-sse"), &sse);
    // A Streamable HTTP server behind the deprecated transport (bridged).
    drive_http(&peers, &place, &served.url("/sse/everything-http"), &sse);
    served.stop();
    upstream.kill().ok();
    upstream.wait().ok();
    let leaves = place.leaves();
    let starts: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "session_start")
        .collect();
    assert_eq!(starts.len(), 3);
    for start in starts {
        assert_eq!(start["detail"]["transport"], "http+sse");
        let session: Vec<Value> = leaves
            .iter()
            .filter(|l| l["session"] == start["session"])
            .cloned()
            .collect();
        check_everything_records(&session, 500_000);
    }
    place.assert_verifies();
}

/// A test CA, a server certificate for `mcp.test.internal` and 127.0.0.1, and a client
/// certificate, by openssl.
pub(crate) fn make_certs(dir: &Path) {
    let run = |args: &[&str]| openssl(dir, args);
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=warden test CA",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("srv.ext"),
        "subjectAltName=DNS:mcp.test.internal,IP:127.0.0.1\n",
    )
    .unwrap();
    std::fs::write(dir.join("cli.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for (name, cn) in [
        ("srv", "/CN=mcp.test.internal"),
        ("cli", "/CN=warden-client"),
    ] {
        let (key, csr, pem, ext) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
            format!("{name}.ext"),
        );
        run(&[
            &["req"][..],
            &ec,
            &["-keyout", &key, "-out", &csr, "-subj", cn],
        ]
        .concat());
        run(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &pem,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
}

#[test]
fn https_upstreams_with_a_private_ca_an_sni_override_and_a_client_certificate() {
    let Some(peers) = peers() else { return };
    let upstream = EverythingHttp::start(&peers);
    let place = Place::new();
    let dir = place.dir.path();
    make_certs(dir);
    let origin = upstream.url.trim_end_matches("/mcp").to_owned();
    let (mut front, port) = tls_front(
        dir,
        &[
            "--cert",
            "srv.pem",
            "--key",
            "srv.key",
            "--client-ca",
            "ca.pem",
            "--upstream",
            &origin,
        ],
    );
    let d = dir.display();
    // The URL names the certificate's host; connect_to says where it really is.
    let url = format!("https://mcp.test.internal:{port}/mcp");
    let config = format!(
        "servers:\n  everything: {{ url: \"{url}\", tls: {{ ca_file: {d}/ca.pem, client_cert: {d}/cli.pem, client_key: {d}/cli.key, connect_to: \"127.0.0.1:{port}\" }} }}\n  no-client-cert: {{ url: \"{url}\", tls: {{ ca_file: {d}/ca.pem, connect_to: \"127.0.0.1:{port}\" }} }}\n  untrusted: {{ url: \"{url}\", tls: {{ connect_to: \"127.0.0.1:{port}\" }} }}\n"
    );
    let served = Served::start(&place, &config, &[]);
    for name in ["no-client-cert", "untrusted"] {
        let (status, _, body) = post(&served.addr, &format!("/mcp/{name}"), "", INIT);
        assert_eq!(status, 502, "{name}: {body}");
    }
    drive_http(&peers, &place, &served.url("/mcp/everything"), &[]);
    served.stop();
    front.kill().ok();
    front.wait().ok();
    let leaves = place.leaves();
    let session: Vec<Value> = leaves
        .iter()
        .filter(|l| l["server"]["name"] == "everything" || l["kind"] == "event")
        .cloned()
        .collect();
    check_everything_records(&session, 1_000_000);
}

#[test]
fn policy_decides_by_the_authenticated_principal_and_role() {
    let place = Place::new();
    let policy = place.dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\ndefault: allow\npolicies:\n  - name: pay-is-for-hr\n    tool_pattern: \"hr:get_pay_info\"\n    action: deny\n    principals: [\"role:engineer\"]\n    message: pay data is for HR\n",
    )
    .unwrap();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"hana@example.com\", roles: [hr] }}\n    - {{ key_sha256: \"{}\", principal: \"bob@example.com\", roles: [engineer] }}\n",
        warden_bin().display(),
        sha256_hex("k-hana"),
        sha256_hex("k-bob")
    );
    let served = Served::start(&place, &config, &["--policy", policy.to_str().unwrap()]);
    let a = served.addr.clone();
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_pay_info","arguments":{"id":"E001"}}}"#;
    let mut answers = Vec::new();
    let mut sessions = Vec::new();
    for key in ["k-hana", "k-bob"] {
        let auth = format!("Authorization: Bearer {key}\r\n");
        let (status, head, _) = post(&a, "/mcp/hr", &auth, INIT);
        assert_eq!(status, 200);
        let sid = session_id(&head);
        let with_session = format!("{auth}Mcp-Session-Id: {sid}\r\n");
        let (_, _, body) = post(&a, "/mcp/hr", &with_session, call);
        answers.push(body);
        sessions.push(with_session);
    }
    // The policy changes under live sessions: reloaded on SIGHUP, in force for both at once.
    std::fs::write(
        &policy,
        "version: 1\ndefault: allow\npolicies:\n  - name: pay-frozen\n    tool_pattern: \"hr:get_pay_info\"\n    action: deny\n    principals: [\"role:hr\"]\n",
    )
    .unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(served.child.id() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, _, body) = post(&a, "/mcp/hr", &sessions[0], call);
        if body.contains("pay-frozen") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reloaded policy never applied: {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (_, _, bob_after) = post(&a, "/mcp/hr", &sessions[1], call);
    assert!(bob_after.contains("\"result\""), "{bob_after}");
    served.stop();
    assert!(!answers[0].contains("-32011"), "hana may: {}", answers[0]);
    assert!(answers[0].contains("\"result\""), "{}", answers[0]);
    assert!(answers[1].contains("-32011"), "bob may not: {}", answers[1]);
    assert!(answers[1].contains("pay data is for HR"), "{}", answers[1]);
    let leaves = place.leaves();
    let denied = leaves
        .iter()
        .find(|l| l["kind"] == "request" && l["outcome"] == "denied")
        .unwrap();
    assert_eq!(denied["principal"], "bob@example.com");
    assert_eq!(denied["policy"]["rule"], "pay-is-for-hr");
    let reload = first_event(&leaves, "policy_reloaded");
    assert_ne!(reload["detail"]["policy"], reload["detail"]["previous"]);
    // The start and the reload each name the file they read, by its hash.
    let loaded = first_event(&leaves, "policy_loaded");
    assert_eq!(loaded["detail"]["policy"], reload["detail"]["previous"]);
    let (before, after) = (
        &loaded["detail"]["files"][0]["sha256"],
        &reload["detail"]["files"][0]["sha256"],
    );
    assert!(before.as_str().unwrap().starts_with("sha256:"), "{loaded}");
    assert_ne!(before, after);
}

#[test]
fn shutdown_ends_sessions_with_open_streams_and_closes_the_log() {
    let place = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\n",
        warden_bin().display()
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let (_, head, _) = post(&a, "/mcp/hr", "", INIT);
    let sid = session_id(&head);
    // A client holding the GET stream open.
    let mut get = TcpStream::connect(&a).unwrap();
    write!(
        get,
        "GET /mcp/hr HTTP/1.1\r\nHost: {a}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n\r\n"
    )
    .unwrap();
    let mut buf = [0u8; 256];
    let n = get.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).contains("200 OK"));
    let started = Instant::now();
    served.stop();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "shutdown hung on an open stream"
    );
    let leaves = place.leaves();
    let end = leaves
        .iter()
        .find(|l| l["event"] == "session_end" && l["session"] == sid.as_str())
        .unwrap();
    assert_eq!(end["detail"]["reason"], "gateway_shutdown");
    assert_eq!(leaves.last().unwrap()["event"], "log_closed");
    place.assert_verifies();
}

#[test]
fn config_check_names_problems_and_the_printed_default_passes_it() {
    let place = Place::new();
    let default = warden().args(["config", "print-default"]).output().unwrap();
    assert!(default.status.success());
    let check = |path: &std::path::Path| {
        warden()
            .args(["config", "check", "--config"])
            .arg(path)
            .output()
            .unwrap()
    };
    let good = place.dir.path().join("default.yaml");
    std::fs::write(&good, &default.stdout).unwrap();
    let ok = check(&good);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // The admin section is there too (commented, as it opens a listener), and valid as written.
    let text = String::from_utf8(default.stdout.clone()).unwrap();
    assert!(text.contains("# admin:"), "{text}");
    let with_admin: String = text
        .lines()
        .map(|l| {
            if l.starts_with("# admin:") || l.starts_with("#   ") {
                l.replacen("# ", "", 1)
            } else {
                l.to_owned()
            }
        })
        .filter(|l| !l.contains("token_file"))
        .collect::<Vec<_>>()
        .join("\n");
    let admin = place.dir.path().join("admin.yaml");
    std::fs::write(&admin, with_admin).unwrap();
    let ok = check(&admin);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = place.dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "servers:\n  a: { comand: [x] }\n  b: { url: ftp://x }\n",
    )
    .unwrap();
    let out = check(&bad);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("line 2 column 8") && err.contains("comand"),
        "{err}"
    );
}

#[test]
fn a_stdio_server_that_dies_mid_call_gets_the_client_an_error_not_silence() {
    let place = Place::new();
    let script = r#"read line; printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"dies","version":"1"}}}'; read line; read line; exit 3"#;
    let config = format!(
        "servers:\n  dies: {{ command: [\"sh\", \"-c\", {}] }}\n",
        serde_json::Value::from(script)
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let (_, head, _) = post(&a, "/mcp/dies", "", INIT);
    let sid = session_id(&head);
    let session = format!("Mcp-Session-Id: {sid}\r\n");
    let (status, _, _) = post(
        &a,
        "/mcp/dies",
        &session,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(status, 202);
    let call =
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"x","arguments":{}}}"#;
    let (status, _, body) = post(&a, "/mcp/dies", &session, call);
    assert_eq!(status, 200);
    assert!(
        body.contains("\"id\":5") && body.contains("-32603"),
        "{body}"
    );
    // The session died with its server.
    let (status, _, _) = post(&a, "/mcp/dies", &session, call);
    assert_eq!(status, 404);
    served.stop();
    let leaves = place.leaves();
    let answer = leaves
        .iter()
        .find(|l| l["kind"] == "error" && l["outcome"] == "gateway_error")
        .unwrap();
    assert_eq!(answer["method"], "tools/call");
    let end = first_event(&leaves, "session_end");
    assert_eq!(end["detail"]["reason"], "server_exited");
    assert_eq!(end["detail"]["exit_code"], 3);
}

/// Reads from a streaming response until `want` appears (or 10 s pass).
pub(crate) fn read_until(s: &mut TcpStream, want: &str) -> String {
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !String::from_utf8_lossy(&got).contains(want) {
        assert!(
            Instant::now() < deadline,
            "never got {want:?}: {}",
            String::from_utf8_lossy(&got)
        );
        if let Ok(n) = s.read(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// `post` for other test modules.
pub(crate) fn post_to(addr: &str, path: &str, headers: &str, body: &str) -> (u16, String, String) {
    post(addr, path, headers, body)
}

/// `initialized_session` for other test modules.
pub(crate) fn session_of(addr: &str, path: &str) -> String {
    initialized_session(addr, path)
}

/// A session opened with `initialize` and `notifications/initialized`; its id.
fn initialized_session(addr: &str, path: &str) -> String {
    let (status, head, _) = post(addr, path, "", INIT);
    assert_eq!(status, 200, "{head}");
    let sid = session_id(&head);
    let (status, _, _) = post(
        addr,
        path,
        &format!("Mcp-Session-Id: {sid}\r\n"),
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!(status, 202);
    sid
}

#[test]
fn a_get_stream_resumes_after_the_last_event_id() {
    let place = Place::new();
    let script = r#"read l; printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"logging":{}},"serverInfo":{"name":"talker","version":"1"}}}'; read l; for i in 1 2 3; do printf '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"n%s"}}\n' $i; done; while read l; do :; done"#;
    let config = format!(
        "servers:\n  talker: {{ command: [\"sh\", \"-c\", {}] }}\n",
        serde_json::Value::from(script)
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let sid = initialized_session(&a, "/mcp/talker");
    let open = |last: Option<&str>| {
        let mut s = TcpStream::connect(&a).unwrap();
        let resume = last.map_or(String::new(), |l| format!("Last-Event-ID: {l}\r\n"));
        write!(
            s,
            "GET /mcp/talker HTTP/1.1\r\nHost: {a}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n{resume}\r\n"
        )
        .unwrap();
        s
    };
    // The notifications came before any GET stream: held, then sent with ids.
    let mut first = open(None);
    let got = read_until(&mut first, "n3");
    assert!(got.contains("id: 1\n") && got.contains("id: 3\n"), "{got}");
    drop(first);
    // A client that saw only event 1 gets 2 and 3 again.
    let mut again = open(Some("1"));
    let got = read_until(&mut again, "n3");
    assert!(got.contains("n2") && !got.contains("\"n1\""), "{got}");
    drop(again);
    served.stop();
}

#[test]
fn a_client_that_loses_a_post_stream_resumes_it_with_the_last_event_id() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let served = serve_everything_stdio(&peers, &place);
    let a = served.addr.clone();
    let sid = initialized_session(&a, "/mcp/everything");
    // Four progress notifications half a second apart, then the result.
    let call = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"trigger-long-running-operation","arguments":{"duration":2,"steps":4},"_meta":{"progressToken":"p7"}}}"#;
    let mut s = TcpStream::connect(&a).unwrap();
    write!(
        s,
        "POST /mcp/everything HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nMcp-Session-Id: {sid}\r\nContent-Length: {}\r\n\r\n{call}",
        call.len()
    )
    .unwrap();
    let got = read_until(&mut s, "\"progress\":1");
    // The id of that event names the stream and its place in it (`STREAM-SEQ`).
    let id = got
        .split("\n\n")
        .find(|ev| ev.contains("\"progress\":1,"))
        .and_then(|ev| ev.lines().find_map(|l| l.strip_prefix("id: ")))
        .unwrap_or_else(|| panic!("no event id: {got}"))
        .trim()
        .to_owned();
    assert!(id.split_once('-').is_some(), "{id}");
    // The client loses the stream; the server goes on working meanwhile.
    drop(s);
    std::thread::sleep(Duration::from_millis(800));
    let mut again = TcpStream::connect(&a).unwrap();
    write!(
        again,
        "GET /mcp/everything HTTP/1.1\r\nHost: {a}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\nLast-Event-ID: {id}\r\n\r\n"
    )
    .unwrap();
    let got = read_until(&mut again, "Long running operation completed");
    // Every later event, the ones sent while nobody read the stream included, once each.
    assert!(!got.contains("\"progress\":1,"), "{got}");
    for n in 2..=4 {
        assert_eq!(
            got.matches(&format!("\"progress\":{n},")).count(),
            1,
            "progress {n}: {got}"
        );
    }
    assert!(got.contains("\"id\":7"), "{got}");
    drop(again);
    served.stop();
    let leaves = place.leaves();
    // The call was never cancelled: it ran to its end and its result is on the record.
    assert!(
        !leaves
            .iter()
            .any(|l| l["method"] == "notifications/cancelled"),
        "the call was cancelled"
    );
    let result = leaves
        .iter()
        .find(|l| l["kind"] == "result" && l["method"] == "tools/call")
        .unwrap();
    assert_eq!(result["outcome"], "ok");
}

#[test]
fn a_modern_stdio_server_gets_the_sdk_clients_stateless_requests() {
    let Some(peers) = peers() else { return };
    let place = Place::new();
    let python = peers.join("venv/bin/python");
    let config = format!(
        "servers:\n  modern: {{ command: [\"{}\", \"{}\"] }}\n",
        python.display(),
        repo_root().join("tests/peers/modern_server.py").display()
    );
    let served = Served::start(&place, &config, &[]);
    // The SDK's Client probes server/discover, then speaks 2026-07-28 without initialize.
    let message = "héllo wörld ✓ 2026";
    let out = Command::new(&python)
        .arg(repo_root().join("tests/peers/modern_client.py"))
        .arg(served.url("/mcp/modern"))
        .arg(message)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["protocol_version"], "2026-07-28", "{got}");
    assert_eq!(got["tools"], json!(["echo"]));
    assert_eq!(got["echo"], message);
    assert_eq!(got["is_error"], false);
    served.stop();
    let leaves = place.leaves();
    // warden asked once, learned the server is modern, and passed every request on.
    let probes: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "era_probe_done")
        .collect();
    assert_eq!(probes.len(), 1);
    assert_eq!(probes[0]["detail"]["era"], "modern");
    assert!(!leaves.iter().any(|l| l["method"] == "initialize"));
    let call = leaves
        .iter()
        .find(|l| l["kind"] == "result" && l["method"] == "tools/call")
        .unwrap();
    assert_eq!(call["outcome"], "ok");
    place.assert_verifies();
}

#[test]
fn a_stdio_server_that_never_answers_the_era_probe_is_asked_once() {
    let place = Place::new();
    // It answers tools/call and ignores server/discover.
    let script = r#"while IFS= read -r line; do case "$line" in *'"server/discover"'*) ;; *'"tools/call"'*) id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9][0-9]*\).*/\1/p'); printf '{"jsonrpc":"2.0","id":%s,"result":{"content":[{"type":"text","text":"ok"}]}}\n' "$id";; esac; done"#;
    let config = format!(
        "era_probe_ms: 300\nservers:\n  quiet: {{ command: [\"sh\", \"-c\", {}] }}\n",
        serde_json::Value::from(script)
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    for id in [1, 2] {
        let call = format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"t","arguments":{{}},"_meta":{{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{{}}}}}}}}"#
        );
        let (status, head, body) = post(&a, "/mcp/quiet", "", &call);
        assert_eq!(status, 200, "{head}{body}");
        assert!(body.contains(r#""text":"ok""#), "{body}");
    }
    served.stop();
    let leaves = place.leaves();
    let probes: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["event"] == "era_probe_done")
        .collect();
    assert_eq!(probes.len(), 1, "asked once, not once per request");
    assert_eq!(probes[0]["detail"]["era"], "unknown");
    let ok = leaves
        .iter()
        .filter(|l| l["kind"] == "result" && l["method"] == "tools/call" && l["outcome"] == "ok")
        .count();
    assert_eq!(ok, 2);
}

#[test]
fn the_admin_listener_of_serve_answers_queries_about_its_sessions() {
    let place = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nauth:\n  api_keys:\n    - {{ key_sha256: \"{}\", principal: \"alice@example.com\" }}\n",
        warden_bin().display(),
        sha256_hex("k-alice")
    );
    let served = Served::start(&place, &config, &["--admin-listen", "127.0.0.1:0"]);
    // The admin address is the line after the front door's.
    let admin = served.admin.clone().expect("the admin listener's address");
    let auth = "Authorization: Bearer k-alice\r\n";
    let (_, head, _) = post(&served.addr, "/mcp/hr", auth, INIT);
    let sid = session_id(&head);
    let call = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_employee","arguments":{"id":"E001"}}}"#;
    post(
        &served.addr,
        "/mcp/hr",
        &format!("{auth}Mcp-Session-Id: {sid}\r\n"),
        call,
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (status, _, body) = http(
            &admin,
            &format!(
                "GET /api/v1/records?principal=alice%40example.com&tool=get_employee HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"
            ),
            b"",
        );
        assert_eq!(status, 200, "{body}");
        if body.contains(&sid) {
            break body;
        }
        assert!(
            Instant::now() < deadline,
            "the call never showed up: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.contains("get_employee"), "{body}");
    // Metrics and health on the same listener, labelled by server and tool.
    let (status, _, metrics) = http(
        &admin,
        &format!("GET /metrics HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(status, 200);
    let line = metrics
        .lines()
        .find(|l| l.starts_with("mcp_tool_calls_total{") && l.contains("server_id=\"hr\""))
        .unwrap_or_else(|| panic!("no tool call counted: {metrics}"));
    assert!(line.contains("user_id=\"alice@example.com\""), "{line}");
    let (status, _, ready) = http(
        &admin,
        &format!("GET /readyz HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(status, 200, "{ready}");
    served.stop();
}

#[test]
fn a_client_leaving_a_stream_to_an_http_upstream_cancels_the_call_there() {
    let Some(peers) = peers() else { return };
    let upstream = EverythingHttp::start(&peers);
    let place = Place::new();
    let config = format!("servers:\n  everything: {{ url: \"{}\" }}\n", upstream.url);
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let init = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"leaver","version":"1"}}}"#;
    let (status, head, _) = post(&a, "/mcp/everything", "", init);
    assert_eq!(status, 200, "{head}");
    let sid = session_id(&head);
    let session = format!("Mcp-Session-Id: {sid}\r\nMCP-Protocol-Version: 2025-06-18\r\n");
    post(
        &a,
        "/mcp/everything",
        &session,
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    // A ten-second operation with progress; the client reads the first event, then leaves.
    let call = r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"trigger-long-running-operation","arguments":{"duration":10,"steps":10},"_meta":{"progressToken":"p9"}}}"#;
    {
        let mut s = TcpStream::connect(&a).unwrap();
        write!(
            s,
            "POST /mcp/everything HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\n{session}Content-Length: {}\r\n\r\n{call}",
            call.len()
        )
        .unwrap();
        read_until(&mut s, "notifications/progress");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let cancel = loop {
        let leaves = place.leaves();
        if let Some(c) = leaves
            .iter()
            .find(|l| l["method"] == "notifications/cancelled")
        {
            break c.clone();
        }
        assert!(Instant::now() < deadline, "no cancellation recorded");
        std::thread::sleep(Duration::from_millis(100));
    };
    served.stop();
    let leaves = place.leaves();
    let req = leaves
        .iter()
        .find(|l| l["kind"] == "request" && l["target"] == "trigger-long-running-operation")
        .unwrap();
    assert_eq!(cancel["dir"], "c2s");
    assert_eq!(cancel["exchange"], req["exchange"]);
    assert_eq!(cancel["outcome"], "cancelled");
}

#[test]
fn sessions_beyond_max_sessions_are_refused_with_503() {
    let place = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nmax_sessions: 1\n",
        warden_bin().display()
    );
    let served = Served::start(&place, &config, &[]);
    let (status, head, _) = post(&served.addr, "/mcp/hr", "", INIT);
    assert_eq!(status, 200);
    let sid = session_id(&head);
    let (status, _, body) = post(&served.addr, "/mcp/hr", "", INIT);
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("max_sessions"), "{body}");
    // Ending the first makes room.
    let (status, _, _) = http(
        &served.addr,
        &format!(
            "DELETE /mcp/hr HTTP/1.1\r\nHost: {}\r\nMcp-Session-Id: {sid}\r\nConnection: close\r\n\r\n",
            served.addr
        ),
        b"",
    );
    assert_eq!(status, 200);
    let (status, _, _) = post(&served.addr, "/mcp/hr", "", INIT);
    assert_eq!(status, 200);
    served.stop();
}

#[test]
fn a_batch_answered_by_a_batch_reaches_the_client_whole() {
    let place = Place::new();
    let script = r#"read l; printf '%s\n' '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-03-26","capabilities":{"tools":{}},"serverInfo":{"name":"batcher","version":"1"}}}'; read l; printf '%s\n' '[{"jsonrpc":"2.0","id":2,"result":{}},{"jsonrpc":"2.0","id":3,"result":{}}]'; while read l; do :; done"#;
    let config = format!(
        "servers:\n  b: {{ command: [\"sh\", \"-c\", {}] }}\n",
        serde_json::Value::from(script)
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let (_, head, _) = post(&a, "/mcp/b", "", INIT);
    let sid = session_id(&head);
    let batch =
        r#"[{"jsonrpc":"2.0","id":2,"method":"ping"},{"jsonrpc":"2.0","id":3,"method":"ping"}]"#;
    let (status, _, body) = http(
        &a,
        &format!(
            "POST /mcp/b HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/json\r\nAccept: application/json\r\nMcp-Session-Id: {sid}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            batch.len()
        ),
        batch.as_bytes(),
    );
    assert_eq!(status, 200);
    let answers: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(answers.as_array().map(Vec::len), Some(2), "{body}");
    served.stop();
    let leaves = place.leaves();
    let results: Vec<&Value> = leaves
        .iter()
        .filter(|l| l["kind"] == "result" && l["method"] == "ping")
        .collect();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r["outcome"] == "ok"));
}

#[test]
fn readyz_names_the_upstreams_that_cannot_be_reached() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let place = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\n  gone: {{ url: \"http://127.0.0.1:{port}/mcp\" }}\n  missing: {{ command: [\"no-such-mcp-server-binary\"] }}\n",
        warden_bin().display()
    );
    let served = Served::start(&place, &config, &["--admin-listen", "127.0.0.1:0"]);
    let admin = served.admin.clone().unwrap();
    let (status, _, body) = http(
        &admin,
        &format!("GET /readyz HTTP/1.1\r\nHost: {admin}\r\nConnection: close\r\n\r\n"),
        b"",
    );
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("gone: http://127.0.0.1:"), "{body}");
    assert!(
        body.contains("missing: no-such-mcp-server-binary not found"),
        "{body}"
    );
    assert!(!body.contains("hr:"), "{body}");
    served.stop();
}
