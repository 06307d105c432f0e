"""Opens a warden HTML report from a file in real headless Chromium with every network
request blocked and recorded: the report must need none. Checks its sections, that
sensitive calls are marked, and that the timeline expands to arguments and results.

Usage: report.py REPORT_FILE ARTIFACTS_DIR CHROMIUM
"""
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

report, artifacts, chromium = sys.argv[1:4]
out = Path(artifacts)
out.mkdir(parents=True, exist_ok=True)
problems = []
requested = []

with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    context = browser.new_context(viewport={"width": 1300, "height": 1000}, offline=True)

    def route(r):
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            requested.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("console", lambda m: m.type == "error" and problems.append(f"console error: {m.text}"))
    page.on("request", lambda r: r.url.startswith("file://") or requested.append(r.url))
    page.goto(Path(report).resolve().as_uri())
    page.wait_for_selector("#timeline-table tbody tr.entry", timeout=15000)

    for section in ["summary", "sessions", "tools", "data-access", "policy", "failures", "integrity", "timeline"]:
        if page.locator(f"section#{section}").count() != 1:
            problems.append(f"section {section} missing")
    if "verified" not in page.text_content("#verdict"):
        problems.append("integrity verdict: " + page.text_content("#verdict"))
    if "+" not in page.text_content("#integrity-table"):
        problems.append("no key fingerprint in the integrity table")
    sensitive = page.locator("#tools-table tr.c-sensitive")
    if sensitive.count() == 0 or "get_pay_info" not in sensitive.first.text_content():
        problems.append("get_pay_info is not marked sensitive in the tools table")
    if page.locator("#tools-table tr.c-write").count() == 0:
        problems.append("no write tool marked")
    if page.locator(".access.c-sensitive").count() == 0:
        problems.append("data-access map does not mark the sensitive tool")
    if "payroll backend unavailable" not in page.text_content("#failures"):
        problems.append("the failure is not listed")
    page.screenshot(path=str(out / "report-01-top.png"), full_page=False)

    # The timeline: the sensitive call is marked; clicking it shows arguments and result.
    row = page.locator("#timeline-table tbody tr.entry.c-sensitive").first
    if row.count() == 0:
        problems.append("no sensitive entry in the timeline")
    else:
        row.click()
        page.wait_for_selector("#timeline-table tr.detail pre.payload-arguments", timeout=5000)
        args = page.text_content("#timeline-table tr.detail pre.payload-arguments")
        result = page.text_content("#timeline-table tr.detail pre.payload-result")
        if "E002" not in args or "get_pay_info" not in args:
            problems.append(f"arguments not shown: {args!r}")
        if "salary_usd" not in result:
            problems.append(f"result not shown: {result!r}")
        row.click()
        if page.locator("#timeline-table tr.detail").count() != 0:
            problems.append("a second click does not fold the entry")
        row.click()
    page.fill("#tl-filter", "rpc_error")
    page.wait_for_function("document.querySelectorAll('#timeline-table tbody tr.entry').length === 1", timeout=5000)
    page.fill("#tl-filter", "")
    page.locator("#timeline").scroll_into_view_if_needed()
    page.screenshot(path=str(out / "report-02-timeline.png"), full_page=True)

    external = page.evaluate(
        """() => [...document.querySelectorAll('[src],[href]')]
                 .map(e => e.getAttribute('src') || e.getAttribute('href'))
                 .filter(u => u && !u.startsWith('#'))""")
    if external:
        problems.append(f"references outside the file: {external}")
    browser.close()

if requested:
    problems.append(f"the report made network requests: {requested}")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print("report: all checks passed")
