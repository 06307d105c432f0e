//! The listeners' own defences, against the real binary: every route of `warden dashboard`,
//! of `warden serve`'s admin listener and of `--metrics-listen` (run and serve) refuses a
//! foreign `Host` or `Origin` (DNS rebinding); configured tokens have a minimum strength and
//! `Bearer` is matched in any case; the front door closes connections that never finish their
//! headers and caps how many are open at once.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::admin::Dashboard;
use crate::serve::{INIT, Served, http, post, session_id};
use crate::support::*;

/// A token strong enough for the admin and metrics listeners.
const TOKEN: &str = "5e884898da28047151d0e56f8dc62927";

/// The status of `GET path` with this `Host` (none when `None`) and extra header lines.
fn get(addr: &str, path: &str, host: Option<&str>, extra: &str) -> u16 {
    let host = host.map_or(String::new(), |h| format!("Host: {h}\r\n"));
    http(
        addr,
        &format!("GET {path} HTTP/1.1\r\n{host}{extra}Connection: close\r\n\r\n"),
        b"",
    )
    .0
}

/// Every route answers 403 to a foreign `Host`, a missing one, two of them, and a foreign
/// `Origin`; the listener's own address and loopback names pass, and so do `allowed`.
fn assert_rebinding_refused(addr: &str, routes: &[&str], plain: &[&str], allowed: &str) {
    let port = addr.rsplit(':').next().unwrap();
    for path in routes {
        for host in [
            "evil.example".to_owned(),
            format!("evil.example:{port}"),
            format!("localhost.evil.example:{port}"),
            format!("127.0.0.1.evil.example:{port}"),
            format!("evil@127.0.0.1:{port}"),
            "other.internal".to_owned(),
        ] {
            assert_eq!(get(addr, path, Some(&host), ""), 403, "{path} Host {host}");
        }
        assert_eq!(
            get(addr, path, Some(addr), "Host: evil.example\r\n"),
            403,
            "{path} with two Hosts"
        );
        assert_ne!(get(addr, path, None, ""), 200, "{path} without Host");
        for origin in [
            "http://evil.example",
            "null",
            "http://127.0.0.1.evil.example",
        ] {
            assert_eq!(
                get(addr, path, Some(addr), &format!("Origin: {origin}\r\n")),
                403,
                "{path} Origin {origin}"
            );
        }
    }
    for path in plain {
        for host in [
            addr.to_owned(),
            format!("localhost:{port}"),
            format!("{allowed}:{port}"),
        ] {
            assert_eq!(get(addr, path, Some(&host), ""), 200, "{path} Host {host}");
        }
        let own = format!("Origin: http://{addr}\r\n");
        assert_eq!(get(addr, path, Some(addr), &own), 200, "{path} own Origin");
    }
}

#[test]
fn the_dashboard_refuses_dns_rebinding_on_every_route() {
    let place = Place::new();
    let mut p = Proxied::start(&place, &[]);
    p.calls(1);
    drop(p.input.take());
    p.child.wait().unwrap();
    let d = Dashboard::start(&place.db(), &["--allowed-host", "dash.internal"]);
    assert_rebinding_refused(
        &d.addr,
        &[
            "/",
            "/assets/app.js",
            "/api/v1/records",
            "/api/v1/stats",
            "/api/v1/stream",
            "/api/v1/openapi.json",
            "/api/v1/nope",
            "/nope",
        ],
        &["/", "/assets/app.js", "/api/v1/records", "/api/v1/stats"],
        "dash.internal",
    );
}

#[test]
fn the_admin_and_metrics_listeners_of_serve_refuse_dns_rebinding() {
    let place = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nadmin:\n  listen: 127.0.0.1:0\n  allowed_hosts: [ops.internal]\n",
        warden_bin().display()
    );
    let metrics = free_port();
    let listen = format!("127.0.0.1:{metrics}");
    let served = Served::start(
        &place,
        &config,
        &[
            "--admin-listen",
            "127.0.0.1:0",
            "--metrics-listen",
            &listen,
            "--metrics-allowed-host",
            "prom.internal",
        ],
    );
    let admin = served.admin.clone().unwrap();
    assert_rebinding_refused(
        &admin,
        &[
            "/",
            "/api/v1/records",
            "/api/v1/stream",
            "/metrics",
            "/healthz",
            "/readyz",
        ],
        &["/", "/api/v1/records", "/metrics", "/healthz", "/readyz"],
        "ops.internal",
    );
    assert_rebinding_refused(
        &listen,
        &["/metrics", "/healthz", "/readyz", "/nope"],
        &["/metrics", "/healthz", "/readyz"],
        "prom.internal",
    );
    served.stop();
}

#[test]
fn the_metrics_listener_of_run_refuses_dns_rebinding() {
    let place = Place::new();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut p = Proxied::start(
        &place,
        &[
            "--metrics-listen",
            &listen,
            "--metrics-allowed-host",
            "prom.internal",
        ],
    );
    p.calls(1);
    assert_rebinding_refused(
        &listen,
        &["/metrics", "/healthz", "/readyz"],
        &["/metrics", "/healthz", "/readyz"],
        "prom.internal",
    );
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Runs `warden ARGS` to its end: the exit code and stderr.
fn refused_start(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String) {
    let mut c = warden();
    c.args(args)
        .env_remove("WARDEN_ADMIN_TOKEN")
        .env_remove("WARDEN_METRICS_TOKEN")
        .stdin(std::process::Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    let mut child = c
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // A start that is not refused would run forever: bounded.
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _killed = child.kill();
            let _waited = child.wait();
            panic!("warden {args:?} started instead of refusing");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), err)
}

#[test]
fn weak_tokens_are_refused_at_start_and_bearer_is_matched_in_any_case() {
    let place = Place::new();
    let mut p = Proxied::start(&place, &[]);
    p.calls(1);
    drop(p.input.take());
    p.child.wait().unwrap();
    let db = place.db().display().to_string();
    let weak = [
        "s3cret".to_owned(),
        "a".repeat(64),
        "password".repeat(4),
        TOKEN[..31].to_owned(),
        format!("{TOKEN} x"),
    ];
    for w in &weak {
        let (code, err) = refused_start(&["dashboard", "--db", &db, "--token", w], &[]);
        assert_eq!(code, Some(2), "dashboard --token {w:?}: {err}");
        assert!(err.contains("admin token is too weak"), "{err}");
        let (code, err) = refused_start(
            &["dashboard", "--db", &db, "--listen", "0.0.0.0:0"],
            &[("WARDEN_ADMIN_TOKEN", w)],
        );
        assert_eq!(code, Some(2), "{err}");
        assert!(err.contains("admin token is too weak"), "{err}");
    }
    // serve's admin token (environment) and the metrics token of run.
    let cfg = place.dir.path().join("w.yaml");
    std::fs::write(
        &cfg,
        format!(
            "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\n",
            warden_bin().display()
        ),
    )
    .unwrap();
    let cfg = cfg.display().to_string();
    let keys = place.keys().display().to_string();
    let (code, err) = refused_start(
        &[
            "serve",
            "--config",
            &cfg,
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "--db",
            &db,
            "--key-dir",
            &keys,
        ],
        &[("WARDEN_ADMIN_TOKEN", "hunter2hunter2hunter2hunter2hunter2")],
    );
    assert_ne!(code, Some(0), "{err}");
    assert!(err.contains("admin token is too weak"), "{err}");
    let mut run = place.run_args(&[
        "--metrics-listen",
        "127.0.0.1:0",
        "--metrics-token",
        "tok-1",
    ]);
    run.push("true".into());
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    let (code, err) = refused_start(&run, &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("metrics token is too weak"), "{err}");

    // A strong token: the scheme in any case passes, anything else is 401.
    let d = Dashboard::start(&place.db(), &["--token", TOKEN]);
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let auth = format!("Authorization: {scheme} {TOKEN}\r\n");
        assert_eq!(
            get(&d.addr, "/api/v1/stats", Some(&d.addr), &auth),
            200,
            "{scheme}"
        );
    }
    for auth in [
        format!("Authorization: Basic {TOKEN}\r\n"),
        format!("Authorization: Bearer{TOKEN}\r\n"),
        format!("Authorization: Bearer {TOKEN}\r\nAuthorization: Bearer wrong\r\n"),
        format!("Authorization: Bearer wrong\r\nAuthorization: Bearer {TOKEN}\r\n"),
    ] {
        assert_eq!(
            get(&d.addr, "/api/v1/stats", Some(&d.addr), &auth),
            401,
            "{auth}"
        );
    }
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let mut p = Proxied::start(
        &place,
        &["--metrics-listen", &listen, "--metrics-token", TOKEN],
    );
    p.calls(1);
    for (auth, want) in [
        (format!("Authorization: bearer {TOKEN}\r\n"), 200),
        (format!("Authorization: BEARER {TOKEN}\r\n"), 200),
        (format!("Authorization: Token {TOKEN}\r\n"), 401),
        (String::new(), 401),
    ] {
        assert_eq!(
            get(&listen, "/metrics", Some(&listen), &auth),
            want,
            "{auth}"
        );
    }
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
}

/// Reads until the peer closes the connection; `Err` with what was read if it is still open
/// after `limit`.
fn wait_for_close(s: &mut TcpStream, limit: Duration) -> Result<Duration, String> {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(start.elapsed()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
                ) =>
            {
                return Ok(start.elapsed());
            }
            Err(_) => {}
        }
        if start.elapsed() > limit {
            return Err(String::from_utf8_lossy(&got).into_owned());
        }
    }
}

#[test]
fn connections_that_never_finish_their_headers_are_closed_and_others_are_served() {
    let place = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nheader_read_timeout_ms: 1000\nbody_read_timeout_ms: 1000\nmax_connections: 64\n",
        warden_bin().display()
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    // A session with a GET stream open: a long response must outlive the header deadline.
    let (status, head, _) = post(&a, "/mcp/hr", "", INIT);
    assert_eq!(status, 200, "{head}");
    let sid = session_id(&head);
    let mut stream = TcpStream::connect(&a).unwrap();
    write!(
        stream,
        "GET /mcp/hr HTTP/1.1\r\nHost: {a}\r\nAccept: text/event-stream\r\nMcp-Session-Id: {sid}\r\n\r\n"
    )
    .unwrap();
    crate::serve::read_until(&mut stream, "200 OK");
    let partial: [&[u8]; 5] = [
        b"GET /mcp/hr HT",
        b"",
        b"PRI * HTTP/2.0\r\n",
        b"POST /mcp/hr HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n",
        b"G",
    ];
    let opened = Instant::now();
    let mut slow: Vec<(usize, TcpStream)> = Vec::new();
    for _ in 0..4 {
        for (i, bytes) in partial.iter().enumerate() {
            let mut s = TcpStream::connect(&a).unwrap();
            s.write_all(bytes).unwrap();
            slow.push((i, s));
        }
    }
    // A kept-alive connection whose second request never finishes its head.
    let mut kept = TcpStream::connect(&a).unwrap();
    write!(
        kept,
        "GET /.well-known/oauth-protected-resource HTTP/1.1\r\nHost: {a}\r\n\r\n"
    )
    .unwrap();
    crate::serve::read_until(&mut kept, "bearer_methods_supported");
    kept.write_all(b"GET /mcp/hr HT").unwrap();
    // A body that trickles: its headers are complete, its bytes never all come.
    let mut trickle = TcpStream::connect(&a).unwrap();
    write!(
        trickle,
        "POST /mcp/hr HTTP/1.1\r\nHost: {a}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: 100\r\n\r\n{{\"jsonrpc\""
    )
    .unwrap();
    // A client that comes while they hang is served at once.
    let (status, _, body) = post(&a, "/mcp/hr", "", INIT);
    assert_eq!(status, 200, "{body}");
    for (i, s) in &mut slow {
        let r = wait_for_close(s, Duration::from_secs(6));
        assert!(
            r.is_ok(),
            "a connection that sent {:?} was still open: {r:?}",
            String::from_utf8_lossy(partial[*i])
        );
    }
    assert!(
        wait_for_close(&mut kept, Duration::from_secs(6)).is_ok(),
        "the kept-alive connection stayed open"
    );
    trickle
        .set_read_timeout(Some(Duration::from_secs(6)))
        .unwrap();
    let mut answer = Vec::new();
    let _read = trickle.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let all_closed = opened.elapsed();
    assert!(
        all_closed >= Duration::from_millis(900),
        "closed after {all_closed:?}: before the deadline, so not by it"
    );
    // The stream that started before them is still open and still works.
    stream
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut buf = [0u8; 256];
    match stream.read(&mut buf) {
        Ok(0) => panic!("the GET stream was closed with the slow connections"),
        Ok(_) => {}
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
            "{e}"
        ),
    }
    let (status, _, body) = post(&a, "/mcp/hr", "", INIT);
    assert_eq!(status, 200, "{body}");
    served.stop();
}

#[test]
fn connections_beyond_max_connections_are_closed_on_accept() {
    let place = Place::new();
    let config = format!(
        "servers:\n  hr: {{ command: [\"{}\", \"demo-server\"] }}\nheader_read_timeout_ms: 60000\nmax_connections: 3\n",
        warden_bin().display()
    );
    let served = Served::start(&place, &config, &[]);
    let a = served.addr.clone();
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(&a).unwrap();
            s.write_all(b"GET /mcp/hr HT").unwrap();
            s
        })
        .collect();
    // The fourth is closed at once, long before any deadline; so is a real request.
    let mut fourth = TcpStream::connect(&a).unwrap();
    let took = wait_for_close(&mut fourth, Duration::from_secs(5)).unwrap();
    assert!(took < Duration::from_secs(5), "{took:?}");
    let mut fifth = TcpStream::connect(&a).unwrap();
    // The write may already meet the closed socket; either way no answer comes.
    let _sent = fifth.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {a}\r\n\r\n").as_bytes());
    let mut answer = Vec::new();
    fifth
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let _read = fifth.read_to_end(&mut answer);
    assert!(
        answer.is_empty(),
        "over the cap, yet: {}",
        String::from_utf8_lossy(&answer)
    );
    // The held ones leave; their slots come back.
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, _, _) = post(&a, "/mcp/hr", "", INIT);
        if status == 200 {
            break;
        }
        assert!(Instant::now() < deadline, "slots never came back");
        std::thread::sleep(Duration::from_millis(50));
    }
    served.stop();
}
