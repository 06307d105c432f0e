//! A process's CPU time (utime+stime from /proc/PID/stat), its memory (VmRSS/VmHWM from
//! /proc/PID/status), its children (/proc/PID/task/TID/children), and the size of warden's
//! audit store on disk.

use std::fs;
use std::path::Path;

/// Memory of a process, in KiB.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mem {
    pub rss_kb: u64,
    pub hwm_kb: u64,
    /// The anonymous (heap) and file-backed (e.g. mmap of the db) parts of VmRSS.
    pub anon_kb: u64,
    pub file_kb: u64,
}

/// CPU time of a process in clock ticks, and its state letter, from /proc/PID/stat.
#[derive(Clone, Copy, Debug)]
pub struct Cpu {
    /// utime+stime: the process's own threads.
    pub own: u64,
    /// cutime+cstime: children it has waited for (e.g. warden's stdio upstreams).
    pub children: u64,
    pub state: char,
}

/// Reads /proc/PID/stat; None once the process is gone.
pub fn cpu(pid: u32) -> Option<Cpu> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split(' ').collect();
    let state = f.first()?.chars().next()?;
    // Fields 14-17 overall (utime, stime, cutime, cstime) are indices 11-14 here.
    let n = |i: usize| -> Option<u64> { f.get(i)?.parse().ok() };
    Some(Cpu {
        own: n(11)? + n(12)?,
        children: n(13)? + n(14)?,
        state,
    })
}

/// (utime+stime in clock ticks, process state) from /proc/PID/stat.
pub fn cpu_ticks(pid: u32) -> Option<(u64, char)> {
    cpu(pid).map(|c| (c.own, c.state))
}

/// The pids of a process's live children (from each of its threads' `children` file); empty
/// once it is gone.
pub fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = tasks
        .flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| {
            s.split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect::<Vec<u32>>()
        })
        .collect();
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// USER_HZ; 100 on every Linux this runs on (sysconf would need libc).
pub fn clock_ticks() -> f64 {
    100.0
}

/// VmRSS and VmHWM from /proc/PID/status.
pub fn mem(pid: u32) -> Option<Mem> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line[name.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Mem {
        rss_kb: field("VmRSS:")?,
        hwm_kb: field("VmHWM:")?,
        anon_kb: field("RssAnon:").unwrap_or(0),
        file_kb: field("RssFile:").unwrap_or(0),
    })
}

/// Bytes of the audit store (audit.db and its -wal/-shm files) in `dir`.
pub fn store_size(dir: &Path) -> u64 {
    let Ok(entries) = fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("audit.db"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

/// The first three fields of /proc/loadavg.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
