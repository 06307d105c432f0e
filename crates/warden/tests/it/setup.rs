//! What a new user meets first: `config check` of an mTLS upstream's client identity, the
//! demo's keys across runs on one store, and the principal of `warden run` without `$USER`.

use std::path::Path;
use std::process::{Command, Output};

use crate::support::*;

/// A CA, then two client certificates signed by it: `v1.pem` with no extensions (X.509
/// version 1) and `v3.pem` with `extendedKeyUsage=clientAuth`; keys `v1.key`, `v3.key`.
fn make_client_certs(dir: &Path) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        dir,
        &[
            &["req", "-x509"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=warden test CA"],
        ]
        .concat(),
    );
    std::fs::write(dir.join("v3.ext"), "extendedKeyUsage=clientAuth\n").unwrap();
    for name in ["v1", "v3"] {
        let (key, csr, pem) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.pem"),
        );
        openssl(
            dir,
            &[
                &["req"][..],
                &ec,
                &["-keyout", &key, "-out", &csr, "-subj", "/CN=warden-client"],
            ]
            .concat(),
        );
        let mut sign = vec![
            "x509", "-req", "-in", &csr, "-CA", "ca.pem", "-CAkey", "ca.key",
        ];
        sign.extend(["-CAcreateserial", "-out", &pem, "-days", "2"]);
        if name == "v3" {
            sign.extend(["-extfile", "v3.ext"]);
        }
        openssl(dir, &sign);
    }
    let text = Command::new("openssl")
        .args(["x509", "-noout", "-text", "-in", "v1.pem"])
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("Version: 1 (0x0)"),
        "the test needs a version 1 certificate"
    );
}

/// `warden config check` on a config whose one server is an mTLS upstream.
fn check(dir: &Path, cert: &str, key: &str) -> Output {
    let config = dir.join(format!("{cert}-{key}.yaml"));
    std::fs::write(
        &config,
        format!(
            "servers:\n  up:\n    url: https://mcp.test.internal/mcp\n    tls:\n      \
             ca_file: {ca}\n      client_cert: {c}\n      client_key: {k}\n",
            ca = dir.join("ca.pem").display(),
            c = dir.join(cert).display(),
            k = dir.join(key).display(),
        ),
    )
    .unwrap();
    warden()
        .args(["config", "check", "--config"])
        .arg(&config)
        .output()
        .unwrap()
}

#[test]
fn config_check_refuses_a_v1_client_certificate_and_says_how_to_fix_it() {
    let place = Place::new();
    let dir = place.dir.path();
    make_client_certs(dir);

    let good = check(dir, "v3.pem", "v3.key");
    assert!(
        good.status.success(),
        "a v3 client certificate must pass: {}",
        String::from_utf8_lossy(&good.stderr)
    );

    let v1 = check(dir, "v1.pem", "v1.key");
    let err = String::from_utf8_lossy(&v1.stderr);
    assert_eq!(v1.status.code(), Some(1), "{err}");
    assert!(
        err.contains("servers.up: tls.client_cert")
            && err.contains("X.509 version 1")
            && err.contains("version 3")
            && err.contains("extendedKeyUsage"),
        "what is wrong and how to fix it: {err}"
    );
    assert!(!err.contains("http client: builder error"), "{err}");

    // A key that is not the certificate's is refused at check time too (not at serve start).
    let mismatched = check(dir, "v3.pem", "v1.key");
    let err = String::from_utf8_lossy(&mismatched.stderr);
    assert_eq!(mismatched.status.code(), Some(1), "{err}");
    assert!(err.contains("servers.up: tls.client_cert"), "{err}");

    // A client certificate file that is not PEM at all.
    std::fs::write(dir.join("junk.pem"), b"\x00\xffnot a certificate").unwrap();
    let junk = check(dir, "junk.pem", "v3.key");
    let err = String::from_utf8_lossy(&junk.stderr);
    assert_eq!(junk.status.code(), Some(1), "{err}");
    assert!(err.contains("servers.up: tls.client_cert"), "{err}");
}

#[test]
fn serve_names_the_v1_client_certificate_too_when_started_without_a_check() {
    let place = Place::new();
    let dir = place.dir.path();
    make_client_certs(dir);
    let config = dir.join("serve.yaml");
    std::fs::write(
        &config,
        format!(
            "listen: 127.0.0.1:0\nservers:\n  up:\n    url: https://mcp.test.internal/mcp\n    \
             tls: {{ client_cert: {}, client_key: {} }}\n",
            dir.join("v1.pem").display(),
            dir.join("v1.key").display(),
        ),
    )
    .unwrap();
    let out = warden()
        .args(["serve", "--db"])
        .arg(place.db())
        .arg("--key-dir")
        .arg(place.keys())
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("X.509 version 1"), "{err}");
}

fn demo(db: &Path) -> String {
    let out = warden().arg("demo").arg("--db").arg(db).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

#[test]
fn the_demo_keeps_its_keys_beside_the_store_so_a_second_run_verifies() {
    let place = Place::new();
    let db = place.db();
    let first = demo(&db);
    assert!(first.contains("verify: OK"), "{first}");
    let vkey = place.keys().join("checkpoint.vkey");
    let key = std::fs::read_to_string(&vkey).unwrap();
    let second = demo(&db);
    assert!(second.contains("verify: OK"), "{second}");
    assert_eq!(
        std::fs::read_to_string(&vkey).unwrap(),
        key,
        "same store, same signing key"
    );
    // Both runs are in the store, and all of it verifies against the one key.
    let logs: i64 = place
        .conn()
        .query_row("SELECT COUNT(DISTINCT log_id) FROM records", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(logs, 2);
    place.assert_verifies();
}

#[test]
fn without_user_or_logname_the_principal_is_the_os_account() {
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .expect("the test runs as a user with a passwd entry")
        .name;
    let place = Place::new();
    let mut child = warden()
        .args(place.run_args(&[]))
        .arg(warden_bin())
        .arg("demo-server")
        .env_remove("USER")
        .env_remove("LOGNAME")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let input = child.stdin.take();
    let output = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut p = Proxied {
        child,
        input,
        output,
    };
    p.calls(1);
    drop(p.input.take());
    assert!(p.child.wait().unwrap().success());
    let leaves = place.leaves();
    let requests: Vec<_> = leaves.iter().filter(|l| l["kind"] == "request").collect();
    assert!(!requests.is_empty());
    for l in requests {
        assert_eq!(l["principal"], me.as_str(), "{l}");
    }
}
