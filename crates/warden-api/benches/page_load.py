"""Page-load timings in headless Chromium for BENCHMARKS.md: the dashboard over the bench
store (first records row, statistics, integrity) and the 100k-event report opened from a
file (first timeline page, then paging to the last page and expanding an entry).

Usage: page_load.py DASHBOARD_URL REPORT_FILE CHROMIUM OUT_DIR
(run after `cargo bench -p warden-api --bench admin`, with `warden dashboard --db
target/bench-admin/store-1000000-48h.db` serving DASHBOARD_URL).
"""
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

url, report, chromium, out = sys.argv[1:5]
with sync_playwright() as pw:
    b = pw.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
    ctx = b.new_context(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
    page = ctx.new_page()
    t = time.time()
    page.goto(url)
    page.wait_for_selector("#records tbody tr.rec")
    rows = time.time() - t
    page.wait_for_function("document.getElementById('c-calls').textContent !== '–'")
    stats = time.time() - t
    page.wait_for_function("document.getElementById('integrity').textContent.includes('verified')", timeout=120000)
    verified = time.time() - t
    t = time.time()
    page.fill("#filters input[name=tool]", "get_pay_info")
    page.click("#filters button[type=submit]")
    page.wait_for_function("[...document.querySelectorAll('#records tbody td.target')].every(x => x.textContent === 'get_pay_info')")
    filtered = time.time() - t
    page.screenshot(path=f"{out}/dashboard-1M.png")
    print(f"dashboard: first rows {rows*1000:.0f} ms, stats {stats*1000:.0f} ms, integrity {verified*1000:.0f} ms, tool filter {filtered*1000:.0f} ms")

    page = ctx.new_page()
    t = time.time()
    page.goto(Path(report).resolve().as_uri())
    page.wait_for_selector("#timeline-table tbody tr.entry")
    first = time.time() - t
    t = time.time()
    last = page.evaluate("() => { const n = document.getElementById('tl-next'); let i = 0; while (!n.disabled && i < 1000) { n.click(); i++; } return i; }")
    paged = time.time() - t
    t = time.time()
    page.click("#timeline-table tbody tr.entry")
    page.wait_for_selector("#timeline-table tr.detail pre")
    expanded = time.time() - t
    heap = page.evaluate("() => performance.memory ? performance.memory.usedJSHeapSize : 0")
    print(f"report: first timeline page {first*1000:.0f} ms, {last} page turns {paged*1000:.0f} ms, expand {expanded*1000:.0f} ms, JS heap {heap/1e6:.0f} MB")
    b.close()
