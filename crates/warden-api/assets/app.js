// warden dashboard: talks only to the public API (/api/v1). Pages come from the server
// (cursor paging), the live tail is the SSE stream read with fetch (so the bearer token
// travels in a header, never in a URL), and record text reaches the page through
// textContent only.
(function () {
  "use strict";
  var API = "/api/v1";
  var token = sessionStorage.getItem("warden-token") || "";
  var filters = {};
  var nextCursor = null;
  var liveAbort = null;
  var lastRow = null;
  var shown = 0;
  var sessionsCursor = null;
  var sessionRecordsCursor = null;
  var currentSession = null;

  function $(id) { return document.getElementById(id); }
  function headers() { return token ? { Authorization: "Bearer " + token } : {}; }
  function qs(o) {
    var p = new URLSearchParams();
    Object.keys(o).forEach(function (k) { if (o[k] !== "" && o[k] != null) p.set(k, o[k]); });
    return p.toString();
  }
  function get(path, params) {
    var url = API + path + (params ? "?" + qs(params) : "");
    return fetch(url, { headers: headers() }).then(function (r) {
      if (r.status === 401) { askToken(); throw new Error("unauthorized"); }
      return r.json().then(function (body) {
        if (!r.ok) throw new Error(body && body.error ? body.error.message : r.statusText);
        return body;
      });
    });
  }
  function askToken() { $("token-form").hidden = false; }
  $("token-form").addEventListener("submit", function (e) {
    e.preventDefault();
    token = $("token").value;
    sessionStorage.setItem("warden-token", token);
    $("token-form").hidden = true;
    start();
  });

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function td(tr, text, cls) { var c = el("td", text, cls); tr.appendChild(c); return c; }
  function badge(tr, text, cls) {
    var c = el("td");
    if (text) c.appendChild(el("span", text, "badge " + cls));
    tr.appendChild(c);
  }
  function shortTime(t) { return t ? t.replace("T", " ").replace("Z", "") : ""; }
  function short(s) { return s ? s.slice(-8) : ""; }
  function pct(x) { return x == null ? "–" : x.toFixed(1) + "%"; }
  function ms(x) { return x == null ? "–" : x.toFixed(x < 10 ? 2 : 0) + " ms"; }

  // One record as a table row, with a detail row on click (the record's leaf as stored).
  function recordRow(r, isNew) {
    var tr = el("tr", null, "rec" + (r.tool_class ? " c-" + r.tool_class : "") + (isNew ? " new" : ""));
    tr.dataset.id = r.id;
    tr.dataset.row = r.row;
    td(tr, shortTime(r.time), "mono");
    td(tr, r.dir || "");
    td(tr, r.method || r.event || r.kind);
    td(tr, r.target || "", "mono target");
    badge(tr, r.tool_class, "c-" + r.tool_class);
    badge(tr, r.status || (r.outcome ? r.outcome : ""), "s-" + (r.status || "none"));
    td(tr, r.duration_us == null ? "" : (r.duration_us / 1000).toFixed(2));
    td(tr, r.principal || "");
    td(tr, short(r.session), "mono");
    var detail = null;
    tr.addEventListener("click", function () {
      if (detail) { detail.remove(); detail = null; return; }
      detail = el("tr", null, "detail");
      var cell = el("td");
      cell.colSpan = 9;
      var pre = el("pre", "loading…", "record-json");
      cell.appendChild(pre);
      detail.appendChild(cell);
      tr.after(detail);
      get("/records/" + encodeURIComponent(r.id)).then(function (d) {
        var shown = { leaf: d.leaf };
        if (d.content) shown.content = d.content;
        pre.textContent = JSON.stringify(shown, null, 2);
      }, function (e) { pre.textContent = "could not load: " + e.message; });
    });
    return tr;
  }

  function loadRecords(reset) {
    var body = document.querySelector("#records tbody");
    var params = Object.assign({ limit: 50 }, filters);
    if (!reset && nextCursor) params.cursor = nextCursor;
    return get("/records", params).then(function (page) {
      if (reset) { body.textContent = ""; shown = 0; }
      page.records.forEach(function (r) {
        body.appendChild(recordRow(r, false));
        shown++;
        if (lastRow == null || r.row > lastRow) lastRow = r.row;
      });
      nextCursor = page.next_cursor;
      $("more").hidden = !nextCursor;
      $("count").textContent = shown + " records shown";
    });
  }

  // The live tail: SSE read through fetch, resumed from the last row on reconnect.
  function follow() {
    if (liveAbort) liveAbort.abort();
    if (!$("follow").checked) { status("live tail: off", ""); return; }
    var ctrl = new AbortController();
    liveAbort = ctrl;
    var params = Object.assign({}, filters);
    delete params.since;
    if (lastRow != null) params.after = lastRow;
    fetch(API + "/stream?" + qs(params), { headers: headers(), signal: ctrl.signal }).then(function (res) {
      if (res.status === 401) { askToken(); throw new Error("unauthorized"); }
      if (!res.ok) throw new Error("stream " + res.status);
      var reader = res.body.getReader();
      var dec = new TextDecoder();
      var buf = "";
      function pump() {
        return reader.read().then(function (x) {
          if (x.done) throw new Error("stream ended");
          buf += dec.decode(x.value, { stream: true });
          var i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            event(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
          return pump();
        });
      }
      return pump();
    }).catch(function () {
      if (ctrl.signal.aborted) return;
      status("live tail: reconnecting…", "");
      setTimeout(function () { if (liveAbort === ctrl) follow(); }, 2000);
    });
  }
  function event(block) {
    var type = "message", data = "";
    block.split("\n").forEach(function (line) {
      if (line.indexOf("event:") === 0) type = line.slice(6).trim();
      else if (line.indexOf("data:") === 0) data += line.slice(5).trim();
    });
    if (type === "ready") { status("live tail: on", "live"); return; }
    if (type !== "record") return;
    var r = JSON.parse(data);
    if (lastRow != null && r.row <= lastRow) return;
    lastRow = r.row;
    var body = document.querySelector("#records tbody");
    body.insertBefore(recordRow(r, true), body.firstChild);
    shown++;
    $("count").textContent = shown + " records shown";
  }
  function status(text, cls) { var s = $("live-status"); s.textContent = text; s.className = "pill " + cls; }

  function loadStats() {
    return get("/stats", { window: "24h" }).then(function (s) {
      $("c-calls").textContent = s.total_invocations;
      $("c-success").textContent = pct(s.success_rate);
      $("c-errors").textContent = pct(s.error_rate);
      $("c-p95").textContent = ms(s.p95_latency_ms);
      $("c-denied").textContent = s.policy_blocks;
      $("c-limited").textContent = s.rate_limit_hits;
      $("c-budget").textContent = s.budget_exceeded;
      var list = $("top-tools");
      list.textContent = "";
      var top = s.by_tool.slice(0, 8);
      var max = top.length ? top[0].invocations : 1;
      top.forEach(function (t) {
        var li = el("li");
        li.appendChild(el("span", t.name, "name"));
        var bar = el("span", null, "bar");
        bar.style.width = Math.max(1, Math.round(100 * t.invocations / max)) + "%";
        li.appendChild(bar);
        li.appendChild(el("span", t.invocations, "n"));
        list.appendChild(li);
      });
      if (!top.length) list.appendChild(el("li", "no tool calls in the last 24 h", "muted"));
    });
  }
  // Calls since local midnight: a window as long as today so far.
  function loadToday() {
    var midnight = new Date();
    midnight.setHours(0, 0, 0, 0);
    var secs = Math.max(1, Math.ceil((Date.now() - midnight.getTime()) / 1000));
    return get("/stats", { window: secs + "s" }).then(function (s) {
      $("c-today").textContent = s.total_invocations;
    });
  }
  function loadSecurity() {
    return get("/records", { status: "denied,rate_limited,pending", kind: "error", limit: 8 }).then(function (p) {
      var body = $("security");
      body.textContent = "";
      p.records.forEach(function (r) {
        var tr = el("tr");
        td(tr, shortTime(r.time), "mono");
        badge(tr, r.outcome, "s-" + r.status);
        td(tr, r.target || r.method || "", "mono");
        td(tr, r.principal || "");
        body.appendChild(tr);
      });
      if (!p.records.length) {
        var tr = el("tr");
        td(tr, "no denied, rate-limited or held calls", "muted");
        body.appendChild(tr);
      }
    });
  }
  function loadIntegrity() {
    return get("/verify").then(function (v) {
      var s = $("integrity");
      var logs = v.logs.length;
      if (v.ok) {
        s.textContent = "integrity: verified (" + logs + " log" + (logs === 1 ? "" : "s") + ")" + (v.stale ? ", newer records pending" : "");
        s.className = "pill good";
      } else {
        s.textContent = "integrity: TAMPERED — " + (v.problem ? v.problem.kind : "");
        s.className = "pill bad";
      }
      var keys = v.logs.map(function (l) { return l.key_fingerprint; });
      s.title = "checked " + v.checked_at + "; keys " + keys.join(", ");
    });
  }

  function sessionRow(s) {
    var tr = el("tr", null, "rec");
    td(tr, shortTime(s.started), "mono");
    td(tr, s.session, "mono");
    td(tr, s.server || "");
    td(tr, s.principal || "");
    td(tr, s.agent || "");
    td(tr, s.records);
    td(tr, s.calls);
    td(tr, s.problems);
    tr.addEventListener("click", function () { openSession(s.session); });
    return tr;
  }
  function loadSessions(reset) {
    var params = { limit: 50 };
    if (!reset && sessionsCursor) params.cursor = sessionsCursor;
    return get("/sessions", params).then(function (p) {
      var body = document.querySelector("#sessions tbody");
      if (reset) body.textContent = "";
      p.sessions.forEach(function (s) { body.appendChild(sessionRow(s)); });
      sessionsCursor = p.next_cursor;
      $("more-sessions").hidden = !sessionsCursor;
    });
  }
  function openSession(id, more) {
    currentSession = id;
    var params = { limit: 200 };
    if (more && sessionRecordsCursor) params.cursor = sessionRecordsCursor;
    return get("/sessions/" + encodeURIComponent(id), params).then(function (p) {
      $("session-detail").hidden = false;
      $("session-id").textContent = id;
      var body = document.querySelector("#session-records tbody");
      if (!more) body.textContent = "";
      p.records.forEach(function (r) { body.appendChild(recordRow(r, false)); });
      sessionRecordsCursor = p.next_cursor;
      $("more-session-records").hidden = !sessionRecordsCursor;
    });
  }

  // The approvals queue: pending calls (soonest to expire first) with approve and deny, and
  // decided ones below. Decisions go to the API with the approver's own gateway key in
  // X-API-Key (the admin token, if any, stays in Authorization): the key names who decides.
  var approverKey = sessionStorage.getItem("warden-approver-key") || "";
  var approvalsFetched = 0;
  var pendingShown = [];
  function dur(msecs) {
    if (msecs == null) return "";
    var s = Math.max(0, Math.round(msecs / 1000));
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  function who(a) { return (a.principal || "anonymous") + (a.agent ? " (" + a.agent + ")" : ""); }
  function approvalsMsg(text, bad) {
    var m = $("approvals-msg");
    m.hidden = !text;
    m.textContent = text || "";
    m.className = "msg" + (bad ? " bad" : "");
  }
  function showApprover() {
    $("approver-status").textContent = approverKey ? "key set for this tab" : "no key set: decisions will be refused";
  }
  $("approver-form").addEventListener("submit", function (e) {
    e.preventDefault();
    approverKey = $("approver-key").value;
    $("approver-key").value = "";
    sessionStorage.setItem("warden-approver-key", approverKey);
    showApprover();
  });
  function decideApproval(id, verb, reason) {
    var h = Object.assign({ "Content-Type": "application/json" }, headers());
    if (approverKey) h["X-API-Key"] = approverKey;
    var body = { via: "dashboard" };
    if (reason) body.reason = reason;
    return fetch(API + "/approvals/" + encodeURIComponent(id) + "/" + verb, {
      method: "POST", headers: h, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().then(function (b) {
        if (!r.ok) throw new Error(b && b.error ? b.error.message : r.statusText);
        return b;
      });
    }).then(function (a) {
      approvalsMsg("approval " + a.id + " " + a.status + " by " + a.decided_by, false);
      return loadApprovals();
    }, function (e) { approvalsMsg(e.message, true); });
  }
  function pendingRow(a, canDecide) {
    var tr = el("tr");
    tr.dataset.approval = a.id;
    td(tr, (a.server ? a.server + ":" : "") + (a.tool || a.method), "mono tool");
    var args = el("td");
    args.appendChild(el("pre", a.arguments == null ? "" : JSON.stringify(a.arguments, null, 2), "args"));
    tr.appendChild(args);
    // The scheme (`hmac-sha256:`) and the first 12 digits; the whole hash in the tooltip.
    var hash = td(tr, a.action_hash.slice(0, a.action_hash.indexOf(":") + 13) + "…", "mono hash");
    hash.title = a.action_hash;
    td(tr, who(a), "who");
    td(tr, a.rule || "", "rule");
    var left = td(tr, "", "left");
    left.dataset.left = a.expires_in_ms;
    var cell = el("td", null, "decide");
    if (canDecide) {
      var reason = el("input", null, "reason");
      reason.placeholder = "reason (needed to deny)";
      cell.appendChild(reason);
      var ok = el("button", "Approve", "approve");
      var no = el("button", "Deny", "deny");
      ok.type = no.type = "button";
      ok.addEventListener("click", function () { decideApproval(a.id, "approve", reason.value.trim()); });
      no.addEventListener("click", function () { decideApproval(a.id, "deny", reason.value.trim()); });
      cell.appendChild(ok);
      cell.appendChild(document.createTextNode(" "));
      cell.appendChild(no);
    } else {
      cell.appendChild(el("span", "read-only here: warden approvals approve|deny " + a.id, "muted"));
    }
    tr.appendChild(cell);
    return tr;
  }
  function decidedRow(a) {
    var tr = el("tr");
    tr.dataset.approval = a.id;
    td(tr, shortTime(a.decided), "mono");
    td(tr, (a.server ? a.server + ":" : "") + (a.tool || a.method), "mono");
    badge(tr, a.status, "s-" + a.status);
    td(tr, (a.decided_by || "") + (a.decided_roles && a.decided_roles.length ? " [" + a.decided_roles.join(", ") + "]" : ""), "by");
    td(tr, a.channel || "");
    td(tr, a.reason || "");
    td(tr, who(a));
    td(tr, dur(a.waited_ms));
    return tr;
  }
  function tickApprovals() {
    var since = Date.now() - approvalsFetched;
    document.querySelectorAll("#approvals-pending td.left").forEach(function (c) {
      var left = Number(c.dataset.left) - since;
      c.textContent = left > 0 ? dur(left) : "expired";
      c.classList.toggle("soon", left < 60000);
    });
  }
  function loadApprovals() {
    return get("/approvals", { limit: 200 }).then(function (p) {
      approvalsFetched = Date.now();
      var pending = p.approvals.filter(function (a) { return a.status === "pending"; });
      var decided = p.approvals.filter(function (a) { return a.status !== "pending"; });
      var count = $("pending-count");
      count.hidden = pending.length === 0;
      count.textContent = pending.length;
      $("approver-form").hidden = !p.can_decide;
      // Rows with a reason being typed are kept as they are when the queue is unchanged.
      var ids = pending.map(function (a) { return a.id; }).join(",");
      var body = document.querySelector("#approvals-pending tbody");
      if (ids !== pendingShown.join(",") || !body.querySelector("input.reason:focus")) {
        var typed = {};
        body.querySelectorAll("tr").forEach(function (tr) {
          var r = tr.querySelector("input.reason");
          if (r && r.value) typed[tr.dataset.approval] = r.value;
        });
        body.textContent = "";
        pending.forEach(function (a) {
          var tr = pendingRow(a, p.can_decide);
          var r = tr.querySelector("input.reason");
          if (r && typed[a.id]) r.value = typed[a.id];
          body.appendChild(tr);
        });
        if (!pending.length) { var tr = el("tr"); td(tr, "no calls are waiting for approval", "muted"); body.appendChild(tr); }
        pendingShown = pending.map(function (a) { return a.id; });
      } else {
        pending.forEach(function (a) {
          var c = body.querySelector('tr[data-approval="' + CSS.escape(a.id) + '"] td.left');
          if (c) c.dataset.left = a.expires_in_ms;
        });
      }
      var dbody = document.querySelector("#approvals-decided tbody");
      dbody.textContent = "";
      decided.forEach(function (a) { dbody.appendChild(decidedRow(a)); });
      tickApprovals();
    });
  }
  showApprover();
  setInterval(tickApprovals, 1000);

  function readFilters() {
    var f = {};
    new FormData($("filters")).forEach(function (v, k) { if (v) f[k] = String(v).trim(); });
    return f;
  }
  $("filters").addEventListener("submit", function (e) {
    e.preventDefault();
    filters = readFilters();
    nextCursor = null;
    lastRow = null;
    loadRecords(true).then(follow);
  });
  $("filters").addEventListener("reset", function () {
    setTimeout(function () { $("filters").dispatchEvent(new Event("submit", { cancelable: true })); }, 0);
  });
  $("follow").addEventListener("change", follow);
  $("more").addEventListener("click", function () { loadRecords(false); });
  $("more-sessions").addEventListener("click", function () { loadSessions(false); });
  $("more-session-records").addEventListener("click", function () { openSession(currentSession, true); });
  function tab(name) {
    ["records", "sessions", "approvals", "catalog"].forEach(function (t) {
      $("tab-" + t).classList.toggle("active", name === t);
      $(t + "-view").hidden = name !== t;
    });
    // The catalog page (catalog.js) loads itself when shown.
    if (name === "catalog") document.dispatchEvent(new Event("warden:catalog"));
    if (name === "sessions") loadSessions(true);
    if (name === "approvals") loadApprovals().catch(function (e) { approvalsMsg(e.message, true); });
  }
  $("tab-records").addEventListener("click", function () { tab("records"); });
  $("tab-sessions").addEventListener("click", function () { tab("sessions"); });
  $("tab-approvals").addEventListener("click", function () { tab("approvals"); });
  $("tab-catalog").addEventListener("click", function () { tab("catalog"); });

  function refresh() {
    loadStats().catch(function () {});
    loadToday().catch(function () {});
    loadSecurity().catch(function () {});
    loadIntegrity().catch(function () {});
  }
  // The queue is checked more often than the statistics: a held call is waiting on it.
  setInterval(function () { loadApprovals().catch(function () {}); }, 3000);
  function start() {
    // Pending answers and webhook notices link `#approvals/<id>`: open the queue.
    if (location.hash.indexOf("#approvals") === 0) tab("approvals");
    refresh();
    loadApprovals().catch(function () {});
    loadRecords(true).then(follow, function () {});
  }
  start();
  setInterval(refresh, 10000);
})();
