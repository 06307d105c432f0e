"""Drives the dashboard's approvals queue in real headless Chromium (Debian's, through
Playwright), against `warden serve`'s admin listener while a client's call is held: the
pending approval appears with what is asked (tool, arguments as stored, redacted; action hash,
who asks, rule, time left); approving without a key is refused with the server's reason; with
the approver's key and a reason, approve is clicked and the approval moves to the decided
list, by that principal. The caller then checks the client's answer, the store and the log.
Exit status 0 means every check passed; a failure says which and why.

Usage: approvals.py URL ARTIFACTS_DIR CHROMIUM APPROVER_KEY APPROVER
"""
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

url, artifacts, chromium, key, approver = sys.argv[1:6]
out = Path(artifacts)
out.mkdir(parents=True, exist_ok=True)
problems = []


def shot(page, name):
    page.screenshot(path=str(out / f"approvals-{name}.png"), full_page=True)


with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    # The dashboard's CSP forbids eval; Playwright's wait_for_function needs it in the page.
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(url)
    try:
        # The tab shows how many calls wait, before it is opened.
        page.wait_for_function(
            "document.getElementById('pending-count').textContent === '1'", timeout=15000)
        if not page.is_visible("#pending-count"):
            problems.append("the pending count is not shown")
        page.click("#tab-approvals")
        page.wait_for_selector("#approvals-pending tr[data-approval]", timeout=15000)
        approval = page.get_attribute("#approvals-pending tr[data-approval]", "data-approval")
        row = f'#approvals-pending tr[data-approval="{approval}"]'
        text = page.text_content(row)
        for want in ["hr:submit_time_off", "alice@example.com", "approve-time-off", "E004",
                     "2026-12-24", "[REDACTED"]:
            if want not in text:
                problems.append(f"pending row lacks {want!r}: {text!r}")
        if "hunter2" in page.content():
            problems.append("a secret argument reached the page unredacted")
        full_hash = page.get_attribute(f"{row} td.hash", "title")
        shown = page.text_content(f"{row} td.hash").rstrip("…")
        if not full_hash or not full_hash.startswith("hmac-sha256:") or len(shown) < 20 \
                or not full_hash.startswith(shown):
            problems.append(f"action hash not shown: {shown!r} of {full_hash!r}")
        # Time left counts down from about 10 minutes.
        page.wait_for_function(
            f"""() => /min/.test(document.querySelector('{row} td.left').textContent)""", timeout=5000)
        shot(page, "01-pending")

        # No key yet: the server refuses, the page says why, nothing is decided.
        page.click(f"{row} button.approve")
        page.wait_for_function(
            "document.getElementById('approvals-msg').textContent.includes('X-API-Key')", timeout=10000)
        if "bad" not in (page.get_attribute("#approvals-msg", "class") or ""):
            problems.append("the refusal is not shown as an error")
        if page.locator(row).count() != 1:
            problems.append("the approval left the queue without a decision")

        # With the approver's key and a reason: approved, by that principal.
        page.fill("#approver-key", key)
        page.click("#approver-form button[type=submit]")
        page.fill(f"{row} input.reason", "checked with HR")
        page.click(f"{row} button.approve")
        decided = f'#approvals-decided tr[data-approval="{approval}"]'
        page.wait_for_selector(decided, timeout=15000)
        text = page.text_content(decided)
        for want in ["approved", approver, "dashboard", "checked with HR", "alice@example.com"]:
            if want not in text:
                problems.append(f"decided row lacks {want!r}: {text!r}")
        if page.locator(row).count() != 0:
            problems.append("the approval is still pending on the page")
        msg = page.text_content("#approvals-msg")
        if f"approved by {approver}" not in msg:
            problems.append(f"no confirmation: {msg!r}")
        page.wait_for_selector("#pending-count", state="hidden", timeout=10000)
        shot(page, "02-approved")
    except Exception as e:  # a timeout names what never appeared
        problems.append(f"{type(e).__name__}: {e}")
        shot(page, "failure")
    browser.close()

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("all checks passed")
