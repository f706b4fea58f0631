/* Northwind Labs consent banner (first-party, no inline JS).
 *
 * Writes consent-proxy's cookie `cp_consent`: "v1" followed by ".<category>" for every
 * granted optional category, e.g. "v1.functional.analytics"; "v1" alone = necessary only.
 * After a choice the page reloads so the proxy renders it again under the new consent.
 */
(function () {
  "use strict";
  var COOKIE = "cp_consent";
  var OPTIONAL = ["functional", "analytics", "advertising"];
  var MAX_AGE = 180 * 24 * 60 * 60; // 180 days

  function readConsent() {
    var parts = document.cookie ? document.cookie.split(";") : [];
    for (var i = 0; i < parts.length; i++) {
      var kv = parts[i].trim();
      if (kv.indexOf(COOKIE + "=") === 0) return decodeURIComponent(kv.slice(COOKIE.length + 1));
    }
    return null;
  }

  function granted(value) {
    var out = {};
    if (!value) return out;
    var bits = value.split(".");
    if (bits[0] !== "v1") return out;
    for (var i = 1; i < bits.length; i++) out[bits[i]] = true;
    return out;
  }

  function writeConsent(categories) {
    var value = "v1";
    OPTIONAL.forEach(function (c) { if (categories.indexOf(c) !== -1) value += "." + c; });
    document.cookie = COOKIE + "=" + value + "; Path=/; Max-Age=" + MAX_AGE + "; SameSite=Lax";
    window.location.reload();
  }

  function init() {
    var banner = document.getElementById("cp-banner");
    if (!banner) return;
    var choices = document.getElementById("cp-choices");
    var chooseBtn = document.getElementById("cp-choose");
    var saveBtn = document.getElementById("cp-save");
    var boxes = banner.querySelectorAll("input[data-cp-category]");

    function prefill() {
      var g = granted(readConsent());
      for (var i = 0; i < boxes.length; i++) boxes[i].checked = !!g[boxes[i].getAttribute("data-cp-category")];
    }

    function showChoices(show) {
      choices.hidden = !show;
      saveBtn.hidden = !show;
      chooseBtn.hidden = show;
      banner.classList.toggle("cp-expanded", show);
    }

    function open(expanded) {
      prefill();
      showChoices(expanded);
      banner.hidden = false;
    }

    banner.addEventListener("click", function (ev) {
      var btn = ev.target.closest("[data-cp-action]");
      if (!btn) return;
      var action = btn.getAttribute("data-cp-action");
      if (action === "accept") writeConsent(OPTIONAL.slice());
      else if (action === "reject") writeConsent([]);
      else if (action === "choose") showChoices(true);
      else if (action === "save") {
        var picked = [];
        for (var i = 0; i < boxes.length; i++) if (boxes[i].checked) picked.push(boxes[i].getAttribute("data-cp-category"));
        writeConsent(picked);
      }
    });

    document.addEventListener("click", function (ev) {
      var link = ev.target.closest("[data-cp-open]");
      if (!link) return;
      ev.preventDefault();
      open(true);
      banner.scrollIntoView({ block: "end" });
    });

    // The server already hides the banner when the cookie exists; this covers cached pages.
    if (readConsent() === null) open(false);
    else banner.hidden = true;
    if (window.location.hash === "#cookie-settings") open(true);
  }

  window.cpConsent = { read: readConsent, granted: granted };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
