//! `warden policy history`: every policy load recorded in the audit store (`policy_loaded` at
//! start, `policy_reloaded` after), oldest first, with each file's hash and git facts, and which
//! files were added, changed or removed since the previous load of the same policy path.
#![allow(clippy::print_stdout)]

use std::collections::HashMap;
use std::process::ExitCode;

use serde_json::{Value, json};

use crate::cli::{Format, StoreArgs};

/// The events that put a policy in force.
const LOADS: [&str; 2] = ["policy_loaded", "policy_reloaded"];

pub(crate) fn history(store: StoreArgs, format: Format) -> anyhow::Result<ExitCode> {
    let db = store.db.unwrap_or_else(crate::paths::default_db);
    let s = warden_audit::Store::open_read(&db)?;
    let q = warden_audit::query::Query {
        kind: Some("event".into()),
        ..Default::default()
    };
    let mut records = Vec::new();
    s.for_each(&q, |r| {
        if let Ok(leaf) = serde_json::from_slice::<Value>(&r.leaf)
            && LOADS.iter().any(|e| leaf["event"] == *e)
        {
            records.push((r.ts_us, leaf));
        }
        true
    })?;
    let loads = loads(&records);
    match format {
        Format::Json => println!("{}", serde_json::to_string_pretty(&loads)?),
        Format::Jsonl => {
            for l in &loads {
                println!("{l}");
            }
        }
        Format::Table => println!("{}", table(&loads)),
    }
    Ok(ExitCode::SUCCESS)
}

/// The loads as history entries: each file marked `added`, `changed` or `same` against the
/// previous load of the same source path, and the files that load had and this one has not.
fn loads(records: &[(i64, Value)]) -> Vec<Value> {
    let mut last: HashMap<String, HashMap<String, String>> = HashMap::new();
    let mut out = Vec::new();
    for (ts_us, leaf) in records {
        let d = &leaf["detail"];
        let source = d["source"].as_str().unwrap_or_default().to_owned();
        let before = last.remove(&source);
        let mut now = HashMap::new();
        let mut files = Vec::new();
        for f in d["files"].as_array().into_iter().flatten() {
            let path = f["path"].as_str().unwrap_or_default().to_owned();
            let sha = f["sha256"].as_str().unwrap_or_default().to_owned();
            let change = match before.as_ref().and_then(|b| b.get(&path)) {
                None => "added",
                Some(old) if *old != sha => "changed",
                Some(_) => "same",
            };
            let git = &f["git"];
            let commit = &git["commit"];
            files.push(json!({
                "path": path,
                "sha256": sha,
                "change": change,
                "commit": commit["id"],
                "author": commit["author_name"],
                "author_email": commit["author_email"],
                "date": commit["date"],
                "subject": commit["subject"],
                "uncommitted": git["uncommitted"],
            }));
            now.insert(path, sha);
        }
        let mut removed: Vec<&String> = before
            .iter()
            .flat_map(|b| b.keys())
            .filter(|p| !now.contains_key(*p))
            .collect();
        removed.sort();
        let at = jiff::Timestamp::from_microsecond(*ts_us)
            .map(|t| t.to_string())
            .unwrap_or_default();
        out.push(json!({
            "at": at,
            "event": leaf["event"],
            "session": leaf["session"],
            "policy": d["policy"],
            "previous": d["previous"],
            "rules": d["rules"],
            "source": source,
            "files": files,
            "removed": removed,
        }));
        last.insert(source, now);
    }
    out
}

/// One row per file of each load (and per file removed), the changed ones marked.
fn table(loads: &[Value]) -> comfy_table::Table {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::UTF8_FULL_CONDENSED);
    t.set_header([
        "at (UTC)", "policy", "file", "change", "sha256", "commit", "author", "subject",
    ]);
    let short = |v: &Value, n: usize| {
        let s = v.as_str().unwrap_or("");
        s.get(..n).unwrap_or(s).to_owned()
    };
    for l in loads {
        let at = short(&l["at"], 19).replace('T', " ");
        let policy = short(&l["policy"], 19);
        for f in l["files"].as_array().into_iter().flatten() {
            let mut change = f["change"].as_str().unwrap_or_default().to_owned();
            if f["uncommitted"] == true {
                change.push_str(" (uncommitted)");
            }
            t.add_row([
                at.clone(),
                policy.clone(),
                f["path"].as_str().unwrap_or_default().to_owned(),
                change,
                short(&f["sha256"], 19),
                short(&f["commit"], 10),
                f["author"].as_str().unwrap_or_default().to_owned(),
                f["subject"].as_str().unwrap_or_default().to_owned(),
            ]);
        }
        for r in l["removed"].as_array().into_iter().flatten() {
            t.add_row([
                at.clone(),
                policy.clone(),
                r.as_str().unwrap_or_default().to_owned(),
                "removed".into(),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
            ]);
        }
    }
    t
}
