#!/usr/bin/env python3
"""cg-stages.py: where warden's instructions go, per proxied call, by pipeline and writer stage.

Reads two callgrind output files of the same command driven for LO and HI calls
(`loadgen drive`, see instructions.sh) and prints, per stage, the inclusive instruction count
per call: (cost in HI - cost in LO) / (HI - LO), so start-up, the handshake and shutdown
cancel out.

A stage's inclusive cost is the sum of the inclusive costs of the calls made *into* it from
outside it (a call edge whose callee's name matches the stage and whose caller's does not),
read from the call edges of the raw callgrind file (`calls=` lines), so nested functions of
one stage are not counted twice and a stage called from several places is counted from each.
Code of a stage inlined into a function outside it has no call edge; its lines are attributed
through callgrind's inlined-file markers (`fi=`/`fe=`) to the stage whose source files match.
Stages may nest (the table's indentation): "of which" figures are parts of the line above.

Usage: cg-stages.py [--top N | --without-sha] LO_CALLS LO_FILE HI_CALLS HI_FILE
  --without-sha: print only the instructions per call without sha2's software rounds (a number)
"""

import re
import sys
from collections import defaultdict

# (label, depth, kind, pattern, inlined-source pattern or None). Kinds: "in" = the inclusive
# cost of the calls into functions whose (demangled) name matches, from outside them, plus
# their source lines inlined elsewhere; "self" = the self cost of functions whose name
# matches; "file" = the self cost of code whose source file matches.
STAGES = [
    ("pipeline: Pipeline::on_frame (all stages)", 0, "in",
     r"warden_proxy::pipeline::Pipeline::on_frame", None),
    ("parse (strict read, envelope)", 1, "in",
     r"warden_proxy::pipeline::parse::|warden_core::read::|warden_core::strict::|warden_core::envelope::",
     r"warden-proxy/src/pipeline/parse\.rs|warden-core/src/(read|strict|envelope)\.rs"),
    ("classify", 1, "in",
     r"warden_proxy::pipeline::classify::|warden_core::classify::",
     r"warden-proxy/src/pipeline/classify\.rs|warden-core/src/classify\.rs"),
    ("audit copy / redaction", 1, "in",
     r"warden_proxy::pipeline::copy::|warden_proxy::pipeline::scrub::|warden_policy::redact::",
     r"warden-proxy/src/pipeline/(copy|scrub)\.rs|warden-policy/src/redact/"),
    ("decide (policy, health, secrets, budgets, limits)", 1, "in",
     r"warden_proxy::pipeline::decide::|warden_proxy::pipeline::counters::|warden_policy::eval::",
     r"warden-proxy/src/pipeline/(decide|counters)\.rs|warden-policy/src/eval\.rs"),
    ("correlate", 1, "in",
     r"warden_proxy::pipeline::correlate::|warden_proxy::correlate::",
     r"warden-proxy/src/(pipeline/)?correlate\.rs"),
    ("rewrite", 1, "in", r"warden_proxy::pipeline::rewrite::", r"warden-proxy/src/pipeline/rewrite\.rs"),
    ("record (build AuditEvents, queue them)", 1, "in",
     r"warden_proxy::pipeline::record::|warden_audit::writer::AuditHandle::",
     r"warden-proxy/src/pipeline/record\.rs"),
    ("route", 1, "in", r"warden_proxy::pipeline::route::", r"warden-proxy/src/pipeline/route\.rs"),
    ("pumps: stdio::pump (read, pipeline, write; all inclusive)", 0, "in",
     r"warden_proxy::stdio::pump", None),
    ("audit writer thread: writer::State::run (all inclusive)", 0, "in",
     r"warden_audit::writer::State::run", None),
    ("sealing: State::seal", 1, "in", r"warden_audit::writer::State::seal", None),
    ("leaf: Sealer::seal (leaf JSON, keyed tags)", 2, "in",
     r"warden_audit::record::Sealer::seal", None),
    ("keyed tags of the payloads (KeyedHasher::tag, HMAC-SHA-256)", 3, "in",
     r"warden_audit::keyed::KeyedHasher::tag", None),
    ("leaf hashing (tlog record_hash, SHA-256)", 2, "in", r"tlog_tiles::tlog::record_hash", None),
    ("Merkle frontier (tree::Frontier, node hashes)", 2, "in",
     r"warden_audit::tree::", r"warden-audit/src/tree\.rs"),
    ("commit: State::commit", 1, "in", r"warden_audit::writer::State::commit$", None),
    ("SQLite (store::Store::append and below)", 2, "in", r"warden_audit::store::Store::append", None),
    ("COMMIT's WAL write (sqlite3PagerCommitPhaseOne)", 3, "in",
     r"sqlite3PagerCommitPhaseOne", None),
    ("signed checkpoints (State::cut_checkpoint)", 1, "in",
     r"warden_audit::writer::State::cut_checkpoint", None),
    ("WAL checkpoint thread (store::Checkpointer)", 0, "in",
     r"warden_audit::store::Checkpointer::start::\{\{closure\}\}", None),
    ("across stages: SHA-256 compression (sha2, self)", 0, "self", r"^sha2::", None),
    ("across stages: sqlite3 code (self, any thread)", 0, "file", r"sqlite3\.c$", None),
    ("across stages: malloc/free (self)", 0, "self",
     r"^(malloc|free|realloc|calloc|_int_malloc|_int_free|_int_realloc|je_|_rjem_)", None),
]

# Functions whose number of calls per proxied call is printed (name pattern, label).
COUNTS = [
    (r"warden_proxy::pipeline::Pipeline::on_frame_with", "frames through the pipeline"),
    (r"warden_audit::record::Sealer::seal", "records sealed"),
    (r"warden_audit::writer::State::commit$", "writer commits (batches)"),
    (r"^sqlite3PagerSync$|^fdatasync$|^fsync$", "fsync/fdatasync calls"),
]


def parse(path):
    """Self cost per function, inclusive cost per call edge (caller, callee), self cost per
    inlined source file per function, and the total, from a callgrind out file."""
    names = {"fn": {}, "fl": {}}  # compressed id -> name, per namespace (fi/fe share fl's)
    self_cost = defaultdict(int)
    edges = defaultdict(int)
    edge_calls = defaultdict(int)
    file_self = defaultdict(int)  # (function, file) -> self cost
    total = 0
    fn = None
    fl = None
    cur_file = None
    pending_call = None  # callee name, after a calls= line: the next cost line is inclusive
    cfn = None

    def name(ns, raw):
        raw = raw.strip()
        m = re.match(r"\((\d+)\)(?:\s+(.*))?$", raw)
        if not m:
            return raw
        i, n = m.group(1), m.group(2)
        if n is not None:
            names[ns][i] = n
            return n
        return names[ns].get(i, raw)

    with open(path, errors="replace") as f:
        for line in f:
            if not line or line[0] == "#":
                continue
            c = line[0]
            if c.isdigit() or c in "+-*":
                parts = line.split()
                if len(parts) < 2:
                    continue
                try:
                    cost = int(parts[1])
                except ValueError:
                    continue
                if pending_call is not None:
                    edges[(fn, pending_call)] += cost
                    pending_call = None
                else:
                    self_cost[fn] += cost
                    file_self[(fn, cur_file)] += cost
                continue
            if line.startswith(("summary:", "totals:")):
                total = max(total, int(line.split()[1]))
                continue
            key, _, val = line.rstrip("\n").partition("=")
            if key == "fn":
                fn = name("fn", val)
                cur_file = fl
            elif key == "fl":
                fl = name("fl", val)
                cur_file = fl
            elif key in ("fi", "fe"):
                cur_file = name("fl", val)
            elif key == "cfn":
                cfn = name("fn", val)
            elif key in ("cfl", "cfi"):
                name("fl", val)
            elif key == "calls":
                pending_call = cfn
                edge_calls[(fn, cfn)] += int(val.split()[0])
    return self_cost, edges, file_self, total, edge_calls


def stage_costs(parsed):
    self_cost, edges, file_self, total, _ = parsed
    out = []
    for label, depth, kind, pat, inl in STAGES:
        rx = re.compile(pat)
        cost = 0
        if kind == "in":
            for (caller, callee), c in edges.items():
                if callee and rx.search(callee) and not (caller and rx.search(caller)):
                    cost += c
            if inl:
                frx = re.compile(inl)
                for (func, fil), c in file_self.items():
                    if fil and frx.search(fil) and not (func and rx.search(func)):
                        cost += c
        elif kind == "self":
            cost = sum(c for func, c in self_cost.items() if func and rx.search(func))
        else:
            cost = sum(c for (_, fil), c in file_self.items() if fil and rx.search(fil))
        out.append((label, depth, cost))
    return out, total


def call_counts(parsed):
    edge_calls = parsed[4]
    out = []
    for pat, label in COUNTS:
        rx = re.compile(pat)
        n = sum(c for (caller, callee), c in edge_calls.items()
                if callee and rx.search(callee) and not (caller and rx.search(caller)))
        out.append((label, n))
    return out


def top_functions(parsed_lo, parsed_hi, calls, n):
    """Functions by self cost per call (HI - LO)."""
    lo, hi = parsed_lo[0], parsed_hi[0]
    rows = [(name, (c - lo.get(name, 0)) / calls) for name, c in hi.items()]
    rows.sort(key=lambda r: -r[1])
    return rows[:n]


def main(argv):
    top = 25
    without_sha = False
    if len(argv) > 1 and argv[1] == "--top":
        top = int(argv[2])
        argv = argv[:1] + argv[3:]
    elif len(argv) > 1 and argv[1] == "--without-sha":
        without_sha = True
        argv = argv[:1] + argv[2:]
    if len(argv) != 5:
        sys.exit(__doc__)
    lo_n, lo_file, hi_n, hi_file = int(argv[1]), argv[2], int(argv[3]), argv[4]
    calls = hi_n - lo_n
    if calls <= 0:
        sys.exit("HI_CALLS must exceed LO_CALLS")
    plo, phi = parse(lo_file), parse(hi_file)
    slo, tlo = stage_costs(plo)
    shi, thi = stage_costs(phi)
    per_call_total = (thi - tlo) / calls
    sha = [(hi - lo) / calls for (l, _, lo), (_, _, hi) in zip(slo, shi) if l.startswith("across stages: SHA")][0]
    if without_sha:
        print(f"{per_call_total - sha:.0f}")
        return
    print(f"Instructions per call, whole process (all threads): **{per_call_total:,.0f}**; "
          f"without the software SHA-256 compression: {per_call_total - sha:,.0f} "
          "(valgrind cannot run SHA-NI, so sha2 falls back to its software rounds under callgrind; "
          "natively they take a small fraction of these instructions).")
    print()
    print("Per proxied call: " + "; ".join(
        f"{label} {(b - a) / calls:.2f}"
        for (label, a), (_, b) in zip(call_counts(plo), call_counts(phi))) + ".")
    print()
    print("| stage (inclusive) | instructions per call | share of the process |")
    print("|---|---:|---:|")
    for (label, depth, c_lo), (_, _, c_hi) in zip(slo, shi):
        per = (c_hi - c_lo) / calls
        share = per / per_call_total * 100 if per_call_total else float("nan")
        indent = "· " * depth + ("of which " if depth else "")
        print(f"| {indent}{label} | {per:,.0f} | {share:.1f} % |")
    print()
    print(f"Top {top} functions by self instructions per call:")
    print()
    print("| function | self instructions per call | share |")
    print("|---|---:|---:|")
    for name, per in top_functions(plo, phi, calls, top):
        share = per / per_call_total * 100 if per_call_total else float("nan")
        short = name if len(name) <= 110 else name[:107] + "..."
        print(f"| `{short}` | {per:,.0f} | {share:.1f} % |")


if __name__ == "__main__":
    main(sys.argv)
