"""Drives warden's dashboard in real headless Chromium (Debian's, through Playwright):
load, filter by tool, expand a record, watch the live tail while a proxied session runs,
open a session. Screenshots go to the artifacts directory. Exit status 0 means every
check passed; a failure says which and why.

Usage: dashboard.py URL ARTIFACTS_DIR WARDEN_BIN DB KEY_DIR CHROMIUM
"""
import json
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

url, artifacts, warden, db, keys, chromium = sys.argv[1:7]
out = Path(artifacts)
out.mkdir(parents=True, exist_ok=True)
problems = []


def shot(page, name):
    page.screenshot(path=str(out / f"dashboard-{name}.png"), full_page=True)


def live_session():
    """A proxied session through `warden run` while the page watches."""
    p = subprocess.Popen(
        [warden, "run", "--db", db, "--key-dir", keys, "--server-name", "hr",
         "--principal", "live-dave", "--", warden, "demo-server"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    def send(msg):
        p.stdin.write(json.dumps(msg) + "\n")
        p.stdin.flush()
        return p.stdout.readline()
    send({"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "browser-test", "version": "1"}}})
    reply = send({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                  "params": {"name": "get_employee", "arguments": {"id": "E004"}}})
    assert '"id":1' in reply, reply
    return p


with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    # The dashboard's CSP forbids eval; Playwright's wait_for_function needs it in the page.
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.goto(url)
    try:

        # Load: records, statistics, integrity and the live tail come up.
        page.wait_for_selector("#records tbody tr.rec", timeout=15000)
        page.wait_for_function("document.getElementById('integrity').textContent.includes('verified')", timeout=15000)
        page.wait_for_function("document.getElementById('live-status').textContent === 'live tail: on'", timeout=15000)
        # The statistics and security panels load in their own requests: wait until each has
        # drawn (the cards start as '–', the lists empty), then check what they drew.
        page.wait_for_function(
            """() => document.getElementById('c-calls').textContent !== '–'
                   && document.querySelectorAll('#top-tools li').length > 0
                   && document.querySelectorAll('#security tr').length > 0""", timeout=15000)
        calls = page.text_content("#c-calls")
        if not calls or not calls.isdigit() or int(calls) == 0:
            problems.append(f"calls card shows {calls!r}")
        if page.locator("#top-tools li").count() == 0:
            problems.append("no top tools")
        if page.locator("#security tr").count() == 0 or "denied" not in page.text_content("#security"):
            problems.append("security events do not show the denied call: " + page.text_content("#security"))
        total = page.locator("#records tbody tr.rec").count()
        shot(page, "01-loaded")

        # Filter by tool: every row shown is that tool's.
        page.fill("#filters input[name=tool]", "get_pay_info")
        page.click("#filters button[type=submit]")
        page.wait_for_function(
            """() => { const t = [...document.querySelectorAll('#records tbody tr.rec td.target')].map(x => x.textContent);
                       return t.length > 0 && t.every(x => x === 'get_pay_info'); }""", timeout=15000)
        filtered = page.locator("#records tbody tr.rec").count()
        if not 0 < filtered < total:
            problems.append(f"filter kept {filtered} of {total} rows")
        if page.locator("#records tbody tr.c-sensitive").count() == 0:
            problems.append("the sensitive call is not marked")
        shot(page, "02-filtered")

        # Expand a record to its redacted JSON.
        page.click("#records tbody tr.c-sensitive")
        page.wait_for_function(
            "(document.querySelector('pre.record-json') || {}).textContent?.includes('\"tool_class\": \"sensitive\"')",
            timeout=15000)
        shown = json.loads(page.text_content("pre.record-json"))
        leaf = shown.get("leaf", {})
        if leaf.get("target") != "get_pay_info" or leaf.get("kind") != "request":
            problems.append(f"expanded the wrong record: {shown}")
        # The arguments are shown from the content store (leaf v2), beside the leaf.
        content = shown.get("content", {})
        if content.get("state") != "present" or "arguments" not in (content.get("value") or {}):
            problems.append(f"the record's content is not shown: {shown}")
        shot(page, "03-expanded")

        # The live tail: clear the filter, then a proxied session runs and its rows appear.
        page.click("#filters button[type=reset]")
        page.wait_for_function(f"document.querySelectorAll('#records tbody tr.rec').length >= {total}", timeout=15000)
        page.wait_for_function("document.getElementById('live-status').textContent === 'live tail: on'", timeout=15000)
        session = live_session()
        try:
            page.wait_for_function(
                """() => [...document.querySelectorAll('#records tbody tr.rec.new')]
                         .some(r => r.textContent.includes('live-dave') && r.textContent.includes('get_employee'))""",
                timeout=20000)
        except Exception as e:  # noqa: BLE001 - reported below with a screenshot
            problems.append(f"live tail did not show the new session's call: {e}")
        shot(page, "04-live-tail")
        session.stdin.close()
        session.wait(timeout=20)

        # Sessions view: the new session is listed first; opening it lists its exchanges.
        page.click("#tab-sessions")
        page.wait_for_selector("#sessions tbody tr.rec", timeout=15000)
        first = page.text_content("#sessions tbody tr.rec")
        if "live-dave" not in first:
            problems.append(f"newest session first, got {first!r}")
        page.click("#sessions tbody tr.rec")
        page.wait_for_selector("#session-records tbody tr.rec", timeout=15000)
        if "session_start" not in page.text_content("#session-records tbody"):
            problems.append("the session's records do not start with session_start")
        shot(page, "05-sessions")
    except Exception as e:  # noqa: BLE001 - reported with the page's state
        shot(page, "failure")
        problems.append(f"{type(e).__name__}: {e}".splitlines()[0])
        problems.append("integrity pill: " + (page.text_content("#integrity") or ""))
        problems.append("live pill: " + (page.text_content("#live-status") or ""))
    browser.close()

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("dashboard: all checks passed")
