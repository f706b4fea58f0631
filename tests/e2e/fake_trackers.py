"""A fake of every third party the demo site talks to, over TLS, for the real-browser tests.

Chromium is pointed at this one server for every tracker host (`--host-resolver-rules`) and
trusts its throwaway certificate by SPKI pin (`--ignore-certificate-errors-spki-list`), so
nothing leaves the machine and HSTS-preloaded hosts still load over HTTPS. The stand-in
scripts behave like the vendors' on the points that matter for consent: they write the
vendor's first-party cookies with `document.cookie` (which no proxy header can stop once the
script runs) and send a beacon carrying the visitor id read back from those cookies.

The categories below are the test's own expectations, written from the issue (GTM, GA and
Hotjar are analytics; Meta and LinkedIn advertising; the YouTube embed functional), and
deliberately not read from the proxy's catalogue: a catalogue regression must fail the test.
Also used by scripts/screenshots.py, so the screenshots show the same stand-ins.
"""

from __future__ import annotations

import base64
import hashlib
import json
import ssl
import time
from dataclasses import dataclass, field

import trustme
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import serialization

# vendor -> (category, hosts its snippet or its stand-in script contacts)
VENDORS: dict[str, tuple[str, tuple[str, ...]]] = {
    "Google Tag Manager": ("analytics", ("www.googletagmanager.com",)),
    "Google Analytics": ("analytics", ("region1.google-analytics.com", "www.google-analytics.com")),
    "Hotjar": ("analytics", ("static.hotjar.com", "script.hotjar.com", "in.hotjar.com")),
    "Meta Pixel": ("advertising", ("connect.facebook.net", "www.facebook.com")),
    "LinkedIn Insight Tag": ("advertising", ("snap.licdn.com", "px.ads.linkedin.com")),
    "YouTube": ("functional", ("www.youtube.com", "i.ytimg.com")),
    "Stripe": ("necessary", ("js.stripe.com",)),
    "Google Fonts": ("necessary", ("fonts.googleapis.com", "fonts.gstatic.com")),
}

#: Chromium flags from issue 8 (as root Chromium needs --no-sandbox). The fresh profile comes
#: from Playwright's launch_persistent_context(user_data_dir), which passes --user-data-dir.
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
)

HOST_CATEGORY: dict[str, str] = {h: cat for cat, hosts in VENDORS.values() for h in hosts}
TRACKER_HOSTS: tuple[str, ...] = tuple(HOST_CATEGORY)

# First-party cookies the stand-in scripts write, by category (the test's own table).
SCRIPT_COOKIES: dict[str, tuple[str, ...]] = {
    "analytics": ("_ga", "_gid", "_ga_7K3XQ9L2PD", "_hjSessionUser_3456789", "_hjSession_3456789"),
    "advertising": ("_fbp", "li_fat_id"),
}


def cookie_category(name: str) -> str:
    """The category of a cookie name the demo or the stand-ins set; 'other' when unknown."""
    if name in ("sessionid", "csrftoken", "cp_consent") or name.startswith("__stripe_"):
        return "necessary"
    if name in ("lang", "VISITOR_INFO1_LIVE", "YSC"):
        return "functional"
    if name in ("_ga", "_gid") or name.startswith(("_ga_", "_gat", "_hj")):
        return "analytics"
    if name in ("_fbp", "_fbc", "li_fat_id", "li_sugr") or name.startswith("_gcl_"):
        return "advertising"
    return "other"


_COOKIE_JS = """
  function getCookie(n) {
    var parts = document.cookie ? document.cookie.split("; ") : [];
    for (var i = 0; i < parts.length; i++) if (parts[i].indexOf(n + "=") === 0) return parts[i].slice(n.length + 1);
    return null;
  }
  function setCookie(n, v, maxAge) {
    document.cookie = n + "=" + v + "; Path=/; Max-Age=" + maxAge + "; SameSite=Lax";
  }
  function rand9() { return Math.floor(100000000 + Math.random() * 899999999); }
  function mark(v) { (window.__fakeTrackers = window.__fakeTrackers || []).push(v); }
"""

GTAG_JS = """/* stand-in for https://www.googletagmanager.com/gtag/js (GA4) */
(function () {%s
  var id = %s, now = Math.floor(Date.now() / 1000);
  var ga = getCookie("_ga");
  if (!ga) { ga = "GA1.1." + rand9() + "." + now; setCookie("_ga", ga, 400 * 86400); }
  setCookie("_gid", "GA1.1." + rand9() + "." + now, 86400);
  setCookie("_ga_" + id.slice(2), "GS1.1." + now + ".1.0." + now + ".0.0.0", 400 * 86400);
  var cid = ga.split(".").slice(2).join(".");
  new Image().src = "https://region1.google-analytics.com/g/collect?v=2&tid=" + id + "&cid=" + cid +
    "&en=page_view&dl=" + encodeURIComponent(location.href);
  mark("gtag");
})();
"""

GTM_JS = """/* stand-in for https://www.googletagmanager.com/gtm.js: a container that only says hello */
(function () {%s
  window.google_tag_manager = window.google_tag_manager || {};
  window.google_tag_manager[%s] = {dataLayer: window.dataLayer};
  mark("gtm");
})();
"""

HOTJAR_LOADER_JS = """/* stand-in for https://static.hotjar.com/c/hotjar-ID.js: loads the real work from script.hotjar.com */
(function () {
  var s = document.createElement("script");
  s.async = true;
  s.src = "https://script.hotjar.com/modules.8b6a4e2c1f.js";
  document.head.appendChild(s);
})();
"""

HOTJAR_MODULES_JS = """/* stand-in for https://script.hotjar.com/modules.*.js */
(function () {%s
  var id = String((window._hjSettings || {}).hjid || "0"), ms = Date.now();
  var user = getCookie("_hjSessionUser_" + id);
  if (!user) {
    user = btoa(JSON.stringify({id: rand9().toString(16) + rand9().toString(16), created: ms, existing: false}));
    setCookie("_hjSessionUser_" + id, user, 365 * 86400);
  }
  setCookie("_hjSession_" + id, btoa(JSON.stringify({id: rand9().toString(16), c: ms, s: 0, r: 0})), 1800);
  var uid = "";
  try { uid = JSON.parse(atob(decodeURIComponent(user))).id; } catch (e) { uid = "unreadable"; }
  fetch("https://in.hotjar.com/api/v2/client/sites/" + id + "/visit-data?sv=6&uid=" + uid,
        {method: "POST", mode: "no-cors", body: JSON.stringify({url: location.href})});
  mark("hotjar");
})();
"""

FBEVENTS_JS = """/* stand-in for https://connect.facebook.net/en_US/fbevents.js */
(function () {%s
  var fbq = window.fbq, queue = (fbq && fbq.queue) || [], pixel = "", fbp = getCookie("_fbp");
  for (var i = 0; i < queue.length; i++) if (queue[i][0] === "init") pixel = queue[i][1];
  if (!fbp) { fbp = "fb.1." + Date.now() + "." + rand9(); setCookie("_fbp", fbp, 90 * 86400); }
  new Image().src = "https://www.facebook.com/tr/?id=" + pixel + "&ev=PageView&fbp=" + fbp +
    "&dl=" + encodeURIComponent(location.href);
  mark("fbevents");
})();
"""

INSIGHT_JS = """/* stand-in for https://snap.licdn.com/li.lms-analytics/insight.min.js */
(function () {%s
  var ids = (window._linkedin_data_partner_ids || []).join(","), fat = getCookie("li_fat_id");
  if (!fat) { fat = "c" + rand9().toString(16) + "-" + rand9().toString(16); setCookie("li_fat_id", fat, 30 * 86400); }
  new Image().src = "https://px.ads.linkedin.com/collect/?v=2&fmt=js&pid=" + ids + "&li_fat_id=" + fat +
    "&time=" + Date.now() + "&url=" + encodeURIComponent(location.href);
  mark("insight");
})();
"""

STRIPE_JS = """/* stand-in for https://js.stripe.com/v3/: just enough for checkout.js to mount a card field */
window.Stripe = function (key) {
  return {elements: function () { return {create: function () { return {mount: function (slot) {
    var input = document.createElement("input");
    input.placeholder = "Card number   MM / YY   CVC";
    input.style.cssText = "width:100%;border:0;font:inherit;background:transparent";
    slot.appendChild(input);
  }}; }}; }};
};
"""

YOUTUBE_EMBED_HTML = """<!DOCTYPE html><html><head><title>YouTube (stand-in)</title>
<style>body{margin:0;background:#0f0f0f;color:#fff;font:600 18px system-ui,sans-serif;display:flex;
align-items:center;justify-content:center;height:100vh;flex-direction:column;gap:12px}
.play{width:68px;height:48px;border-radius:12px;background:#f00;position:relative}
.play:after{content:"";position:absolute;left:27px;top:14px;border:10px solid transparent;
border-left:17px solid #fff;border-right:0}</style></head>
<body><div class="play"></div><div>Embedded video (fake YouTube)</div>
<img src="https://i.ytimg.com/vi/%s/hqdefault.jpg" alt="" width="1" height="1"></body></html>
"""

# 1x1 transparent GIF, what pixel endpoints answer.
PIXEL_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@dataclass(frozen=True, slots=True)
class Hit:
    """One request the fake received: which vendor host, what, and when (monotonic)."""

    host: str
    method: str
    path: str
    query: str
    at: float

    @property
    def category(self) -> str:
        return HOST_CATEGORY.get(self.host, "unknown")


def _script(body: str) -> web.Response:
    return web.Response(text=body, content_type="application/javascript",
                        headers={"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"})


def _js_string(value: str) -> str:
    return json.dumps(value)


@dataclass
class FakeTrackers:
    """The TLS fake: start(), then read `hits` and `sni`; `spki_pin` is what Chromium trusts."""

    hosts: tuple[str, ...] = TRACKER_HOSTS
    hits: list[Hit] = field(default_factory=list)
    #: Every TLS server name seen in a handshake: a preconnect leaves a trace here even
    #: when no HTTP request follows.
    sni: list[str] = field(default_factory=list)
    port: int = 0
    spki_pin: str = ""
    _runner: web.AppRunner | None = None

    def ssl_context(self) -> ssl.SSLContext:
        """A server context with a fresh throwaway CA's leaf for every host; sets `spki_pin`."""
        ca = trustme.CA()
        leaf = ca.issue_cert(*self.hosts)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(ctx)
        cert = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
        spki = cert.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        self.spki_pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()

        def on_sni(sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
            self.sni.append(name or "")

        ctx.sni_callback = on_sni  # type: ignore[assignment]
        return ctx

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, ssl_context=self.ssl_context())
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def resolver_rules(self) -> str:
        """`--host-resolver-rules`: every vendor host to this server, anything else to nowhere.

        Chromium applies the EXCLUDE rules first, then the first matching MAP; so the demo
        (on 127.0.0.1) stays reachable and an unexpected third party fails fast instead of
        leaving the machine.
        """
        rules = [f"MAP {h} 127.0.0.1:{self.port}" for h in self.hosts]
        rules += ["MAP * ~NOTFOUND", "EXCLUDE localhost", "EXCLUDE 127.0.0.1"]
        return ", ".join(rules)

    def chromium_args(self) -> list[str]:
        return [f"--host-resolver-rules={self.resolver_rules()}",
                f"--ignore-certificate-errors-spki-list={self.spki_pin}"]

    def since(self, mark: float) -> list[Hit]:
        return [h for h in self.hits if h.at >= mark]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        host = (request.host or "").partition(":")[0].lower()
        self.hits.append(Hit(host, request.method, request.path, request.query_string, time.monotonic()))
        if request.method == "POST":
            await request.read()
        path = request.path
        if host == "www.googletagmanager.com" and path == "/gtag/js":
            return _script(GTAG_JS % (_COOKIE_JS, _js_string(request.query.get("id", ""))))
        if host == "www.googletagmanager.com" and path == "/gtm.js":
            return _script(GTM_JS % (_COOKIE_JS, _js_string(request.query.get("id", ""))))
        if host == "static.hotjar.com" and path.startswith("/c/hotjar-"):
            return _script(HOTJAR_LOADER_JS)
        if host == "script.hotjar.com" and path.startswith("/modules"):
            return _script(HOTJAR_MODULES_JS % _COOKIE_JS)
        if host == "connect.facebook.net" and path.endswith("/fbevents.js"):
            return _script(FBEVENTS_JS % _COOKIE_JS)
        if host == "snap.licdn.com" and path.endswith("/insight.min.js"):
            return _script(INSIGHT_JS % _COOKIE_JS)
        if host == "js.stripe.com":
            return _script(STRIPE_JS)
        if host == "www.youtube.com" and path.startswith("/embed/"):
            return web.Response(text=YOUTUBE_EMBED_HTML % path.rsplit("/", 1)[-1], content_type="text/html")
        if host == "fonts.googleapis.com":
            return web.Response(text="/* fonts stand-in: system fonts */\n", content_type="text/css",
                                headers={"Access-Control-Allow-Origin": "*"})
        # Beacons and pixels: /g/collect, /tr/, /collect/, /api/..., images.
        if request.method == "POST":
            return web.Response(status=204, headers={"Access-Control-Allow-Origin": "*"})
        return web.Response(body=PIXEL_GIF, content_type="image/gif", headers={"Cache-Control": "no-store"})
