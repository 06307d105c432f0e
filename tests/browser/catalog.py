"""Drives the dashboard's Catalog tab in real headless Chromium (Debian's, through Playwright),
against `warden serve`'s admin listener after a server pulled the rug on `fetch_page`: the tool
waits for review as `changed`, with its risk-raising change and the description's word diff
(the added words marked); approving without a key is refused with the server's reason; with
the reviewer's key and a reason, Approve is clicked and the tool is listed as approved, by that
principal. The caller then checks that the tool can be called again, the store and the log.
Exit status 0 means every check passed; a failure says which and why.

Usage: catalog.py URL ARTIFACTS_DIR CHROMIUM REVIEWER_KEY REVIEWER
"""
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

url, artifacts, chromium, key, reviewer = sys.argv[1:6]
out = Path(artifacts)
out.mkdir(parents=True, exist_ok=True)
problems = []


def shot(page, name):
    page.screenshot(path=str(out / f"catalog-{name}.png"), full_page=True)


with sync_playwright() as pw:
    browser = pw.chromium.launch(executable_path=chromium, headless=True, args=["--no-sandbox"])
    # The dashboard's CSP forbids eval; Playwright's wait_for_function needs it in the page.
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = context.new_page()
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.goto(url)
    try:
        # The tab shows how many tools wait for review, before it is opened.
        page.wait_for_function(
            "document.getElementById('catalog-count').textContent === '1'", timeout=15000)
        page.click("#tab-catalog")
        box = '#catalog-pending .catalog-review[data-tool="web/fetch_page"]'
        page.wait_for_selector(f"{box} ul.changes li", timeout=15000)
        text = page.text_content(box)
        for want in ["changed", "fetch_page", "risk-raising", "description"]:
            if want not in text:
                problems.append(f"the review lacks {want!r}: {text!r}")
        added = " ".join(page.locator(f"{box} .words ins").all_text_contents())
        if "<IMPORTANT>" not in added or "id_rsa" not in added:
            problems.append(f"the added words are not marked: {added!r}")
        if "[-" in text or "{+" in text:
            problems.append(f"the word diff is shown raw: {text!r}")
        row = '#catalog-tools tr[data-tool="web/fetch_page"]'
        if "changed" not in page.text_content(row):
            problems.append(f"the table does not show fetch_page as changed: {page.text_content(row)!r}")
        # The catalog metadata of the policy in force: owner, tier, classification, review due.
        cells = {c: page.text_content(f"{row} td.{c}") for c in ["tier", "owner", "data", "review"]}
        expect = {"tier": "2", "owner": "research-team", "data": "public", "review": "2099-01-01"}
        if cells != expect:
            problems.append(f"the row's metadata is {cells!r}, not {expect!r}")
        if "research-team" not in page.text_content(f"{box} .profile"):
            problems.append("the review does not name the tool's owner")
        # Tools not approved come first.
        first = page.get_attribute("#catalog-tools tbody tr", "data-tool")
        if first != "web/fetch_page":
            problems.append(f"the first row is {first!r}, not the changed tool")
        shot(page, "01-changed")

        # No key yet: the server refuses, the page says why, nothing is decided.
        page.click(f"{box} button.approve")
        page.wait_for_function(
            "document.getElementById('catalog-msg').textContent.includes('X-API-Key')", timeout=10000)
        if "bad" not in (page.get_attribute("#catalog-msg", "class") or ""):
            problems.append("the refusal is not shown as an error")
        if page.locator(box).count() != 1:
            problems.append("the tool left the review list without a decision")

        # With the reviewer's key and a reason: approved, by that principal.
        page.fill("#catalog-key", key)
        page.click("#catalog-key-form button[type=submit]")
        page.fill(f"{box} input.reason", "reviewed the new description")
        page.click(f"{box} button.approve")
        page.wait_for_function(
            f"document.getElementById('catalog-msg').textContent.includes('approved by {reviewer}')",
            timeout=15000)
        page.wait_for_function(
            f"""() => {{ const r = document.querySelector('{row}');
                       return r && r.textContent.includes('approved') && r.textContent.includes('{reviewer}'); }}""",
            timeout=15000)
        if page.locator(box).count() != 0:
            problems.append("the tool is still waiting for review on the page")
        if "reviewed the new description" not in page.text_content(row):
            problems.append(f"the reason is not shown: {page.text_content(row)!r}")
        page.wait_for_selector("#catalog-count", state="hidden", timeout=10000)
        shot(page, "02-approved")
    except Exception as e:  # a timeout names what never appeared
        problems.append(f"{type(e).__name__}: {e}")
        shot(page, "failure")
    browser.close()

if problems:
    print("\n".join(problems))
    sys.exit(1)
print("all checks passed")
