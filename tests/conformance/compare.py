#!/usr/bin/env python3
"""Compare two runs of the MCP conformance suite (server mode), check by check.

usage: compare.py DIRECT_DIR VIA_DIR [--min-passed N]

Each DIR is an `--output-dir` of `conformance server`: one `server-<scenario>-<time>/checks.json`
per scenario. Every check that passed against the server directly must pass through the proxy
(transparency). Checks that pass only through the proxy are listed as improvements (the proxy
adds its own protections, e.g. DNS-rebinding checks). With `--min-passed N`, each run must
pass at least N checks, so that a run in which the suite checked little or nothing (an empty
output, a suite that could not reach the server) fails instead of comparing equal. Exit 0 iff
there is no regression, both runs covered the same scenarios and both passed at least N checks.
"""

from __future__ import annotations

import json
import pathlib
import re
import sys


def load(d: pathlib.Path) -> dict[tuple[str, str], str]:
    out: dict[tuple[str, str], str] = {}
    for f in sorted(d.glob("server-*/checks.json")):
        scenario = re.sub(r"-\d{4}-\d{2}-\d{2}T.*$", "", f.parent.name.removeprefix("server-"))
        seen: dict[str, int] = {}
        for c in json.loads(f.read_text()):
            # Check ids repeat inside a scenario: the n-th check with an id is compared with
            # the n-th check with that id (a check the other run did not make does not shift
            # the rest).
            cid = str(c.get("id"))
            n = seen.get(cid, 0)
            seen[cid] = n + 1
            out[(scenario, f"{cid}#{n}")] = c.get("status", "?")
    return out


def main() -> int:
    args = sys.argv[1:]
    min_passed = 0
    if len(args) == 4 and args[2] == "--min-passed" and args[3].isdigit():
        min_passed = int(args[3])
        args = args[:2]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    direct = load(pathlib.Path(args[0]))
    via = load(pathlib.Path(args[1]))
    if not direct:
        print(f"no checks found in {args[0]}", file=sys.stderr)
        return 1
    scen_direct = {s for s, _ in direct}
    scen_via = {s for s, _ in via}
    problems = []
    if scen_direct != scen_via:
        problems.append(f"scenarios differ: only direct {sorted(scen_direct - scen_via)}, only via {sorted(scen_via - scen_direct)}")
    improved = []
    for key, status in sorted(direct.items()):
        got = via.get(key, "MISSING")
        if status == "SUCCESS" and got != "SUCCESS":
            problems.append(f"{key[0]} {key[1]}: {status} directly, {got} through the proxy")
        elif status != "SUCCESS" and got == "SUCCESS":
            improved.append(f"{key[0]} {key[1]}")
    passed = sum(1 for s in direct.values() if s == "SUCCESS")
    passed_via = sum(1 for s in via.values() if s == "SUCCESS")
    print(f"direct: {passed}/{len(direct)} checks passed; through the proxy: "
          f"{passed_via}/{len(via)}")
    for name, n in (("directly", passed), ("through the proxy", passed_via)):
        if n < min_passed:
            problems.append(f"only {n} checks passed {name}, fewer than the floor of {min_passed}")
    for i in improved:
        print(f"improved: {i}")
    for p in problems:
        print(f"REGRESSION: {p}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
