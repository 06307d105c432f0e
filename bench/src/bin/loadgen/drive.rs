//! `loadgen drive`: only sends calls to a given command, for counting instructions (see
//! `bench/instructions.sh`): spawns `CMD ARGS...` (e.g. `valgrind --tool=callgrind warden run
//! ... -- mcp-echo-server`), does the MCP handshake, makes N sequential echo calls (each
//! answer checked), closes the command's stdin and waits for it to exit. No timing targets;
//! it prints one JSON line (calls, message bytes, elapsed seconds, exit status) on stdout.

use std::time::Instant;

use serde_json::json;

use crate::target::Target;
use crate::workloads;
use crate::{SMALL_MESSAGE, message_of};

pub fn main(args: Vec<String>) {
    let mut calls: u64 = 1_000;
    let mut message_bytes: Option<usize> = None;
    let mut it = args.into_iter();
    let mut cmd: Vec<String> = Vec::new();
    while let Some(a) = it.next() {
        let mut int = |what: &str| -> u64 {
            it.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{what} needs a number")))
        };
        match a.as_str() {
            "--calls" => calls = int("--calls"),
            "--message-bytes" => message_bytes = Some(int("--message-bytes") as usize),
            "--" => {
                cmd = it.by_ref().collect();
                break;
            }
            "-h" | "--help" => usage(""),
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if cmd.is_empty() {
        usage("no command after --");
    }
    let message = message_bytes.map_or_else(|| SMALL_MESSAGE.to_string(), message_of);
    let start = Instant::now();
    let mut t = Target::start_command(&cmd);
    let handshake_s = start.elapsed().as_secs_f64();
    let calls_start = Instant::now();
    if calls > 0 {
        t.checked_call(1, &message);
        workloads::large(&mut t, calls - 1, &message, 2);
    }
    let calls_s = calls_start.elapsed().as_secs_f64();
    let status = t.finish_status();
    println!(
        "{}",
        json!({
            "calls": calls, "message_bytes": message.len(), "handshake_s": handshake_s,
            "calls_s": calls_s, "total_s": start.elapsed().as_secs_f64(), "exit_ok": status,
        })
    );
    if !status {
        std::process::exit(1);
    }
}

fn usage(err: &str) -> ! {
    if !err.is_empty() {
        eprintln!("loadgen drive: {err}");
    }
    eprintln!("usage: loadgen drive --calls N [--message-bytes B] -- CMD ARGS...");
    std::process::exit(2)
}
