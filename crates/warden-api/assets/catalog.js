// warden dashboard, the Catalog tab: every tool each server listed (tools not approved first),
// and for each tool waiting for review its change list with classes and the description's word
// diff, with Approve and Reject. Decisions go to the API with the reviewer's own gateway key in
// X-API-Key (the admin token, if any, stays in Authorization), like the approvals queue's; the
// key is shared with that tab. Text reaches the page through textContent only.
(function () {
  "use strict";
  var API = "/api/v1";
  var KEY = "warden-approver-key";
  // What is on screen, so a refresh does not throw away a reason being typed.
  var shownPending = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }
  function td(tr, text, cls) { var c = el("td", text, cls); tr.appendChild(c); return c; }
  function badge(text, cls) { return el("span", text, "badge " + cls); }
  function headers() {
    var token = sessionStorage.getItem("warden-token") || "";
    return token ? { Authorization: "Bearer " + token } : {};
  }
  function answer(r) {
    return r.json().then(function (b) {
      if (!r.ok) throw new Error(b && b.error ? b.error.message : r.statusText);
      return b;
    });
  }
  function get(path) { return fetch(API + path, { headers: headers() }).then(answer); }
  function toolPath(t) {
    return "/catalog/" + encodeURIComponent(t.server) + "/" + encodeURIComponent(t.name);
  }
  function serverName(t) { return t.label || t.server; }
  function shortPin(p) { return p ? p.replace(/^sha256:/, "").slice(0, 12) : ""; }
  function msg(text, bad) {
    var m = $("catalog-msg");
    m.hidden = !text;
    m.textContent = text || "";
    m.className = "msg" + (bad ? " bad" : "");
  }
  function showKey() {
    $("catalog-key-status").textContent = sessionStorage.getItem(KEY)
      ? "key set for this tab" : "no key set: decisions will be refused";
  }
  $("catalog-key-form").addEventListener("submit", function (e) {
    e.preventDefault();
    sessionStorage.setItem(KEY, $("catalog-key").value);
    $("catalog-key").value = "";
    showKey();
  });

  // `[-removed-]{+added+}` as text with <del> and <ins> around the changed words.
  function words(text) {
    var out = el("div", null, "words");
    var re = /\[-([\s\S]*?)-\]|\{\+([\s\S]*?)\+\}/g;
    var at = 0, m;
    while ((m = re.exec(text)) !== null) {
      if (m.index > at) out.appendChild(document.createTextNode(text.slice(at, m.index)));
      out.appendChild(m[1] != null ? el("del", m[1]) : el("ins", m[2]));
      at = re.lastIndex;
    }
    if (at < text.length) out.appendChild(document.createTextNode(text.slice(at)));
    return out;
  }

  function decide(t, verb, reason, pin) {
    var h = Object.assign({ "Content-Type": "application/json" }, headers());
    var key = sessionStorage.getItem(KEY);
    if (key) h["X-API-Key"] = key;
    var body = { via: "dashboard", pin: pin };
    if (reason) body.reason = reason;
    return fetch(API + toolPath(t) + "/" + verb, {
      method: "POST", headers: h, body: JSON.stringify(body)
    }).then(answer).then(function (d) {
      msg(d.name + " on " + serverName(d) + " " + d.state + " by " + d.decided_by, false);
      shownPending = null;
      return load();
    }, function (e) { msg(e.message, true); });
  }

  // A tool waiting for review: what changed, and the decision.
  function review(t, canDecide) {
    var box = el("div", null, "catalog-review");
    box.dataset.tool = serverName(t) + "/" + t.name;
    var h = el("h3");
    h.appendChild(badge(t.state, "s-" + t.state));
    h.appendChild(document.createTextNode(" " + serverName(t) + " · "));
    h.appendChild(el("code", t.name));
    if (t.class) { h.appendChild(document.createTextNode(" ")); h.appendChild(badge(t.class, "class k-" + t.class)); }
    box.appendChild(h);
    box.appendChild(el("div", "tier " + t.risk_tier + " · " + (t.tool_class || "") + (t.owner ? " · owner " + t.owner : "")
      + (t.data_classification ? " · " + t.data_classification : ""), "muted profile"));
    box.appendChild(el("div", "pin " + shortPin(t.pin) + (t.approved_pin ? " (approved " + shortPin(t.approved_pin) + ")" : "")
      + (t.renamed_from ? " · renamed? from " + t.renamed_from : ""), "muted mono"));
    var detail = el("div", "loading the diff…", "muted");
    box.appendChild(detail);
    get(toolPath(t)).then(function (d) {
      detail.textContent = "";
      detail.className = "diff";
      if (!d.diff) {
        detail.appendChild(el("p", "first seen: nothing approved to compare with", "muted"));
        detail.appendChild(el("pre", JSON.stringify(d.definition, null, 2), "definition"));
      } else {
        var ul = el("ul", null, "changes");
        d.diff.changes.forEach(function (c) {
          var li = el("li");
          li.appendChild(badge(c.class, "k-" + c.class));
          li.appendChild(document.createTextNode(" " + c.what));
          ul.appendChild(li);
        });
        if (!d.diff.changes.length) ul.appendChild(el("li", "no change", "muted"));
        detail.appendChild(ul);
        if (d.diff.description) {
          detail.appendChild(el("div", "description:", "muted"));
          detail.appendChild(words(d.diff.description));
        }
      }
      if (!canDecide) {
        detail.appendChild(el("p", "read-only here: warden catalog approve|reject " + serverName(t) + " " + t.name, "muted"));
        return;
      }
      var form = el("div", null, "decide");
      var reason = el("input", null, "reason");
      reason.placeholder = "reason (needed to reject)";
      var ok = el("button", "Approve", "approve");
      var no = el("button", "Reject", "deny");
      ok.type = no.type = "button";
      // The pin shown is sent: a definition changed since is refused, not approved unseen.
      ok.addEventListener("click", function () { decide(t, "approve", reason.value.trim(), d.pin); });
      no.addEventListener("click", function () { decide(t, "reject", reason.value.trim(), d.pin); });
      form.appendChild(reason);
      form.appendChild(ok);
      form.appendChild(document.createTextNode(" "));
      form.appendChild(no);
      detail.appendChild(form);
    }, function (e) { detail.textContent = "could not load the diff: " + e.message; });
    return box;
  }

  function row(t) {
    var tr = el("tr");
    tr.dataset.tool = serverName(t) + "/" + t.name;
    var s = el("td"); s.appendChild(badge(t.state, "s-" + t.state)); tr.appendChild(s);
    td(tr, serverName(t)).title = t.server;
    td(tr, t.name, "mono tool");
    // From the policy's catalog metadata, or defaults from the tool's annotations.
    var tier = td(tr, String(t.risk_tier) + (t.risk_tier_source === "default" ? "*" : ""), "tier");
    tier.title = t.risk_tier_source === "default" ? "default tier (from the annotations): no catalog metadata sets it" : "tier from the catalog metadata";
    td(tr, t.tool_class || "", "tool-class");
    td(tr, t.data_classification || "", "data");
    td(tr, t.owner || "", "owner").title = t.purpose || "";
    var due = td(tr, t.review_due ? t.review_due + (t.review_overdue ? " overdue" : "") : "", "review" + (t.review_overdue ? " bad" : ""));
    if (t.reviewed_by) due.title = "last reviewed by " + t.reviewed_by;
    td(tr, shortPin(t.pin), "mono pin").title = t.pin;
    var c = el("td");
    if (t.class) c.appendChild(badge(t.class, "k-" + t.class));
    else if (t.renamed_from) c.textContent = "renamed? from " + t.renamed_from;
    tr.appendChild(c);
    td(tr, t.decided_by || "", "by");
    td(tr, t.reason || "");
    return tr;
  }

  function load() {
    return get("/catalog").then(function (p) {
      var waiting = p.tools.filter(function (t) { return t.state === "new" || t.state === "changed"; });
      var count = $("catalog-count");
      count.hidden = waiting.length === 0;
      count.textContent = waiting.length;
      $("catalog-key-form").hidden = !p.can_decide;
      var ids = waiting.map(function (t) { return t.server + "/" + t.name + "@" + t.pin; }).join(",");
      var box = $("catalog-pending");
      if (ids !== shownPending) {
        box.textContent = "";
        waiting.forEach(function (t) { box.appendChild(review(t, p.can_decide)); });
        if (!waiting.length) box.appendChild(el("p", "no tools are waiting for review", "muted"));
        shownPending = ids;
      }
      var body = document.querySelector("#catalog-tools tbody");
      body.textContent = "";
      p.tools.forEach(function (t) { body.appendChild(row(t)); });
      if (!p.tools.length) { var tr = el("tr"); td(tr, "no tools catalogued yet", "muted"); body.appendChild(tr); }
    });
  }

  showKey();
  document.addEventListener("warden:catalog", function () {
    load().catch(function (e) { msg(e.message, true); });
  });
  setInterval(function () { load().catch(function () {}); }, 5000);
  load().catch(function () {});
})();
