// The report's timeline: drawn a page at a time from the JSON embedded above; text goes
// into the page through textContent only.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("timeline-data").textContent);
  var rows = data.rows, sessions = data.sessions, t0 = data.t0_ms;
  // Row: [ms after t0, session, dir, what, tool, class, outcome, ms, policy, redactions,
  //       arguments, result, first record id, records in the entry]
  function when(r) { return new Date(t0 + r[0]).toISOString(); }
  var PAGE = 100, page = 0, shown = rows, open = {};
  var body = document.querySelector("#timeline-table tbody");
  var label = document.getElementById("tl-page");
  var prev = document.getElementById("tl-prev"), next = document.getElementById("tl-next");
  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) {
      var s = document.createElement("span");
      s.className = cls;
      s.textContent = text == null ? "" : String(text);
      td.appendChild(s);
    } else {
      td.textContent = text == null ? "" : String(text);
    }
    tr.appendChild(td);
  }
  function pretty(v) {
    if (v == null) return "(not stored)";
    if (typeof v === "string") return v;
    return JSON.stringify(v, null, 2);
  }
  function outcomeClass(o) {
    if (!o) return "";
    if (o === "ok") return "badge o-ok";
    if (["denied", "rate_limited", "budget_exceeded", "approval_required"].indexOf(o) >= 0) return "badge o-blocked";
    return "badge o-err";
  }
  function detail(r) {
    var tr = document.createElement("tr");
    tr.className = "detail";
    var td = document.createElement("td");
    td.colSpan = 8;
    var parts = [["session", sessions[r[1]]], ["record", r[12] + (r[13] > 1 ? " (and its answer)" : "")]];
    parts.forEach(function (p) {
      var d = document.createElement("div");
      d.className = "muted";
      d.textContent = p[0] + ": " + p[1];
      td.appendChild(d);
    });
    [["arguments", r[10]], ["result", r[11]]].forEach(function (p) {
      var h = document.createElement("div");
      h.textContent = p[0];
      var pre = document.createElement("pre");
      pre.className = "payload payload-" + p[0];
      pre.textContent = pretty(p[1]);
      td.appendChild(h);
      td.appendChild(pre);
    });
    tr.appendChild(td);
    return tr;
  }
  function draw() {
    body.textContent = "";
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    if (page >= pages) page = pages - 1;
    shown.slice(page * PAGE, page * PAGE + PAGE).forEach(function (r) {
      var tr = document.createElement("tr");
      tr.className = "entry" + (r[5] ? " c-" + r[5] : "");
      cell(tr, when(r));
      cell(tr, r[3]);
      cell(tr, r[4]);
      cell(tr, r[5], r[5] ? "badge c-" + r[5] : "");
      cell(tr, r[6], outcomeClass(r[6]));
      cell(tr, r[7]);
      cell(tr, r[8]);
      cell(tr, r[9] ? r[9] : "");
      var key = r[12] + ":" + r[0];
      var d = null;
      tr.addEventListener("click", function () {
        if (d) { d.remove(); d = null; delete open[key]; return; }
        d = detail(r);
        tr.after(d);
        open[key] = true;
      });
      body.appendChild(tr);
      if (open[key]) { d = detail(r); body.appendChild(d); }
    });
    label.textContent = "page " + (page + 1) + " of " + pages + " (" + shown.length + " entries)";
    prev.disabled = page === 0;
    next.disabled = page >= pages - 1;
  }
  document.getElementById("tl-filter").addEventListener("input", function (e) {
    var q = e.target.value.trim().toLowerCase();
    shown = !q ? rows : rows.filter(function (r) {
      return [r[3], r[4], r[5], r[6], r[8], sessions[r[1]]].some(function (v) {
        return v != null && String(v).toLowerCase().indexOf(q) >= 0;
      });
    });
    page = 0;
    draw();
  });
  prev.addEventListener("click", function () { page--; draw(); });
  next.addEventListener("click", function () { page++; draw(); });
  draw();
})();
