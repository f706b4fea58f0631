/* Northwind Labs site script (first-party): fills the "What this page loaded" panel.
 *
 * Lists every script and iframe present in the live DOM and the cookies visible to
 * JavaScript, so a visitor can compare the page served directly with the page served
 * through consent-proxy.
 */
(function () {
  "use strict";

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function origin(url) {
    try { return new URL(url, window.location.href).origin; } catch (e) { return ""; }
  }

  // Cookie categories as in our cookie policy; unknown names are shown as "other".
  var COOKIE_CATEGORIES = [
    [/^(sessionid|csrftoken|cp_consent|__stripe_m?id|__stripe_sid)$/, "necessary"],
    [/^(lang|VISITOR_INFO1_LIVE|YSC)$/, "functional"],
    [/^(_ga|_ga_.*|_gid|_hj.*)$/, "analytics"],
    [/^(_fbp|_fbc|_gcl_.*|li_.*|_uet.*)$/, "advertising"]
  ];

  function cookieCategory(name) {
    for (var i = 0; i < COOKIE_CATEGORIES.length; i++) if (COOKIE_CATEGORIES[i][0].test(name)) return COOKIE_CATEGORIES[i][1];
    return "other";
  }

  function item(label, kind) {
    var li = el("li");
    var text = { first: "1st party", third: "3rd party", inline: "inline" }[kind] || kind;
    li.appendChild(el("span", "tag tag-" + kind, text));
    li.appendChild(el("code", null, label));
    return li;
  }

  function column(title, entries, empty) {
    var box = el("div", "loaded-col");
    box.appendChild(el("h3", null, title + " (" + entries.length + ")"));
    var ul = el("ul", "loaded-items");
    if (!entries.length) ul.appendChild(el("li", "muted", empty));
    entries.forEach(function (x) { ul.appendChild(item(x.label, x.kind)); });
    box.appendChild(ul);
    return box;
  }

  function shorten(s, n) {
    s = s.replace(/\s+/g, " ").trim();
    return s.length > n ? s.slice(0, n - 1) + "…" : s;
  }

  function render() {
    var list = document.getElementById("loaded-list");
    if (!list) return;
    var here = window.location.origin;
    var scripts = [];
    Array.prototype.forEach.call(document.scripts, function (s) {
      if (s.src) {
        var u = new URL(s.src, window.location.href);
        var third = u.origin !== here;
        scripts.push({ label: third ? u.host + u.pathname : u.pathname, kind: third ? "third" : "first" });
      } else {
        scripts.push({ label: shorten(s.textContent, 48), kind: "inline" });
      }
    });
    var frames = Array.prototype.map.call(document.querySelectorAll("iframe"), function (f) {
      var third = origin(f.src) !== here;
      var u = f.src ? new URL(f.src, window.location.href) : null;
      return { label: u ? u.host + u.pathname : "(empty iframe)", kind: third ? "third" : "first" };
    });
    var cookies = (document.cookie ? document.cookie.split(";") : []).map(function (c) {
      var name = c.split("=")[0].trim();
      return { label: name, kind: cookieCategory(name) };
    });
    var consent = window.cpConsent ? window.cpConsent.read() : null;
    list.textContent = "";
    var status = el("p", "loaded-status");
    status.appendChild(document.createTextNode("Your choice: "));
    status.appendChild(el("code", null, consent === null ? "none yet (cp_consent not set)" : "cp_consent=" + consent));
    list.appendChild(status);
    var cols = el("div", "loaded-cols");
    cols.appendChild(column("Scripts", scripts, "No scripts"));
    cols.appendChild(column("Iframes", frames, "No iframes"));
    cols.appendChild(column("Cookies readable by JavaScript", cookies, "No cookies"));
    list.appendChild(cols);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", render);
  else render();
  // Tag loaders add their own <script> elements after load: list those too.
  window.addEventListener("load", function () { setTimeout(render, 300); });
})();
