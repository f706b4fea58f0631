"""The demo origin: "Northwind Labs", a small smart-thermostat company with a cookie policy.

Shell module (aiohttp). Every page carries the tracker snippets exactly as the vendors
document them (GA4 gtag, Google Tag Manager + noscript iframe, Meta Pixel + noscript img,
Hotjar, LinkedIn Insight), first-party scripts that must survive the proxy (banner.js,
app.js, site-analytics-dashboard.js, checkout.js), a YouTube embed and Stripe.js, and every
page response sets cookies of all four categories. The consent banner writes the proxy's own
`cp_consent` cookie (issue 2): `v1` + `.category` per granted optional category.

The site itself never looks at consent except to render the banner hidden when `cp_consent`
is present: enforcing consent is the proxy's job, so the origin behaves like a careless one.
"""

from __future__ import annotations

import base64
import html as html_escape
import json
import secrets
import time
from email.utils import formatdate
from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).parent / "static"

#: The HTML pages the demo serves, for the CLI's `demo` command and for tests.
PAGES: tuple[str, ...] = ("/", "/blog/consent-at-the-edge", "/shop/checkout", "/cookie-policy")

CONSENT_COOKIE = "cp_consent"

# Vendor account ids: made up, but shaped like the real ones.
GA4_ID = "G-7K3XQ9L2PD"
GTM_ID = "GTM-5HQ8MZK"
META_PIXEL_ID = "918273645501234"
HOTJAR_ID = "3456789"
LINKEDIN_PARTNER_ID = "4512345"
YOUTUBE_VIDEO_ID = "aqz-KE-bpKQ"

# --- Vendor snippets, verbatim from each vendor's install instructions (ids substituted). ---

PRECONNECTS = """\
<link rel="preconnect" href="https://www.googletagmanager.com">
<link rel="preconnect" href="https://connect.facebook.net">
<link rel="dns-prefetch" href="https://static.hotjar.com">
<link rel="preconnect" href="https://fonts.googleapis.com">
<link rel="preconnect" href="https://fonts.gstatic.com" crossorigin>
"""

GTM_HEAD = (
    """<!-- Google Tag Manager -->
<script>(function(w,d,s,l,i){w[l]=w[l]||[];w[l].push({'gtm.start':
new Date().getTime(),event:'gtm.js'});var f=d.getElementsByTagName(s)[0],
j=d.createElement(s),dl=l!='dataLayer'?'&l='+l:'';j.async=true;j.src=
'https://www.googletagmanager.com/gtm.js?id='+i+dl;f.parentNode.insertBefore(j,f);
})(window,document,'script','dataLayer','%s');</script>
<!-- End Google Tag Manager -->
"""
    % GTM_ID
)

GTM_BODY = (
    """<!-- Google Tag Manager (noscript) -->
<noscript><iframe src="https://www.googletagmanager.com/ns.html?id=%s"
height="0" width="0" style="display:none;visibility:hidden"></iframe></noscript>
<!-- End Google Tag Manager (noscript) -->
"""
    % GTM_ID
)

GTAG = """<!-- Google tag (gtag.js) -->
<script async src="https://www.googletagmanager.com/gtag/js?id={id}"></script>
<script>
  window.dataLayer = window.dataLayer || [];
  function gtag(){{dataLayer.push(arguments);}}
  gtag('js', new Date());

  gtag('config', '{id}');
</script>
""".format(id=GA4_ID)

HOTJAR = """<!-- Hotjar Tracking Code for northwind-labs.example -->
<script>
    (function(h,o,t,j,a,r){{
        h.hj=h.hj||function(){{(h.hj.q=h.hj.q||[]).push(arguments)}};
        h._hjSettings={{hjid:{id},hjsv:6}};
        a=o.getElementsByTagName('head')[0];
        r=o.createElement('script');r.async=1;
        r.src=t+h._hjSettings.hjid+j+h._hjSettings.hjsv;
        a.appendChild(r);
    }})(window,document,'https://static.hotjar.com/c/hotjar-','.js?sv=');
</script>
""".format(id=HOTJAR_ID)

META_PIXEL = """<!-- Meta Pixel Code -->
<script>
!function(f,b,e,v,n,t,s)
{{if(f.fbq)return;n=f.fbq=function(){{n.callMethod?
n.callMethod.apply(n,arguments):n.queue.push(arguments)}};
if(!f._fbq)f._fbq=n;n.push=n;n.loaded=!0;n.version='2.0';
n.queue=[];t=b.createElement(e);t.async=!0;
t.src=v;s=b.getElementsByTagName(e)[0];
s.parentNode.insertBefore(t,s)}}(window, document,'script',
'https://connect.facebook.net/en_US/fbevents.js');
fbq('init', '{id}');
fbq('track', 'PageView');
</script>
<noscript><img height="1" width="1" style="display:none"
src="https://www.facebook.com/tr?id={id}&ev=PageView&noscript=1"
/></noscript>
<!-- End Meta Pixel Code -->
""".format(id=META_PIXEL_ID)

LINKEDIN_INSIGHT = """<script type="text/javascript">
_linkedin_partner_id = "{id}";
window._linkedin_data_partner_ids = window._linkedin_data_partner_ids || [];
window._linkedin_data_partner_ids.push(_linkedin_partner_id);
</script><script type="text/javascript">
(function(l) {{
if (!l){{window.lintrk = function(a,b){{window.lintrk.q.push([a,b])}};
window.lintrk.q=[]}}
var s = document.getElementsByTagName("script")[0];
var b = document.createElement("script");
b.type = "text/javascript";b.async = true;
b.src = "https://snap.licdn.com/li.lms-analytics/insight.min.js";
s.parentNode.insertBefore(b, s);}})(window.lintrk);
</script>
<noscript>
<img height="1" width="1" style="display:none;" alt="" src="https://px.ads.linkedin.com/collect/?pid={id}&fmt=gif" />
</noscript>
""".format(id=LINKEDIN_PARTNER_ID)

GOOGLE_FONTS = (
    '<link href="https://fonts.googleapis.com/css2?family=Inter:wght@400;500;600;700&display=swap"'
    ' rel="stylesheet">\n'
)

YOUTUBE_EMBED = (
    '<iframe width="560" height="315" src="https://www.youtube.com/embed/%s?si=Xb3n2Qe7LwT0pVdA"'
    ' title="YouTube video player" frameborder="0" allow="accelerometer; autoplay; clipboard-write;'
    ' encrypted-media; gyroscope; picture-in-picture; web-share"'
    ' referrerpolicy="strict-origin-when-cross-origin" allowfullscreen></iframe>' % YOUTUBE_VIDEO_ID
)

STRIPE_JS = '<script src="https://js.stripe.com/v3/"></script>\n'

# --- Page chrome. ---

NAV = (("/", "Home"), ("/blog/consent-at-the-edge", "Blog"), ("/shop/checkout", "Shop"), ("/cookie-policy", "Cookie policy"))

CATEGORY_TEXT = {
    "functional": ("Functional", "Remember your preferences, such as language and region, and play embedded videos."),
    "analytics": ("Analytics", "Performance and statistics: count visits and see which pages help, so we can improve them."),
    "advertising": ("Advertising", "Retargeting and marketing: measure our campaigns and show you relevant ads elsewhere."),
}


def _banner(hidden: bool) -> str:
    """The consent banner markup; banner.js wires it up (no inline JS)."""
    rows = "".join(
        '<label class="cp-cat"><input type="checkbox" name="%s" data-cp-category="%s">'
        "<span><strong>%s</strong><small>%s</small></span></label>" % (cat, cat, title, text)
        for cat, (title, text) in CATEGORY_TEXT.items()
    )
    return (
        '<section id="cp-banner" class="cp-banner" role="dialog" aria-modal="false" aria-labelledby="cp-title"'
        + (" hidden" if hidden else "")
        + ">\n"
        '<div class="cp-inner">\n'
        '<div class="cp-text"><h2 id="cp-title">We value your privacy</h2>\n'
        "<p>We use cookies that are necessary for this site to work. With your permission we also use "
        "functional, analytics and advertising cookies set by us and by partners such as Google, Meta, "
        'Hotjar and LinkedIn. Read our <a href="/cookie-policy">cookie policy</a>.</p></div>\n'
        '<form class="cp-choices" id="cp-choices" hidden>\n'
        '<label class="cp-cat cp-cat-fixed"><input type="checkbox" checked disabled>'
        "<span><strong>Necessary</strong><small>Sign-in, security and your cart. Always on.</small></span></label>\n"
        + rows
        + "\n</form>\n"
        '<div class="cp-actions">\n'
        '<button type="button" class="btn btn-ghost" data-cp-action="choose" id="cp-choose">Choose</button>\n'
        '<button type="button" class="btn btn-ghost" data-cp-action="save" id="cp-save" hidden>Save choices</button>\n'
        '<button type="button" class="btn btn-outline" data-cp-action="reject">Reject all</button>\n'
        '<button type="button" class="btn btn-primary" data-cp-action="accept">Accept all</button>\n'
        "</div>\n</div>\n</section>\n"
    )


def _layout(request: web.Request, title: str, main: str, *, extra_head: str = "", description: str = "") -> str:
    """Wrap `main` in the site chrome with every tracker snippet where vendors tell you to put it."""
    path = request.path
    nav = "".join(
        '<a href="%s"%s>%s</a>' % (href, ' aria-current="page"' if href == path else "", label)
        for href, label in NAV
    )
    hidden = CONSENT_COOKIE in request.cookies
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>%s · Northwind Labs</title>\n" % html_escape.escape(title)
        + '<meta name="description" content="%s">\n' % html_escape.escape(description or title)
        + PRECONNECTS
        + GTM_HEAD
        + GTAG
        + GOOGLE_FONTS
        + '<link rel="stylesheet" href="/static/site.css">\n'
        '<link rel="icon" href="/static/favicon.svg" type="image/svg+xml">\n'
        + extra_head
        + HOTJAR
        + META_PIXEL
        + '<script src="/static/banner.js" defer></script>\n'
        '<script src="/static/app.js" defer></script>\n'
        "</head>\n<body>\n"
        + GTM_BODY
        + '<header class="site-header"><div class="wrap">'
        '<a class="brand" href="/"><img src="/static/logo.svg" alt="" width="32" height="32">'
        "<span>Northwind<b>Labs</b></span></a>"
        '<nav class="nav">%s</nav>' % nav
        + '<a class="btn btn-primary btn-sm" href="/shop/checkout">Buy Ember</a>'
        "</div></header>\n"
        "<main>\n" + main + "\n</main>\n"
        '<aside class="wrap"><section class="loaded-panel" id="loaded-panel" aria-live="polite">'
        "<h2>What this page loaded</h2>"
        "<p class=\"muted\">Listed by our own <code>/static/app.js</code> from the live page: every script, "
        "iframe and cookie your browser actually got. Open the page directly and through consent-proxy to compare.</p>"
        '<div class="loaded-grid" id="loaded-list"><p class="muted">JavaScript is needed for this panel.</p></div>'
        "</section></aside>\n"
        '<footer class="site-footer"><div class="wrap">'
        '<div><a class="brand brand-footer" href="/"><img src="/static/logo.svg" alt="" width="28" height="28">'
        "<span>Northwind<b>Labs</b></span></a>"
        '<p class="muted">Quiet, efficient heating for homes in the north. Designed in Bergen.</p></div>'
        '<nav class="footer-links"><a href="/blog/consent-at-the-edge">Blog</a><a href="/shop/checkout">Shop</a>'
        '<a href="/cookie-policy">Cookie policy</a>'
        '<a href="#cookie-settings" data-cp-open>Cookie settings</a></nav>'
        '<p class="muted small">© 2025 Northwind Labs AS · Org. nr. 912 345 678</p>'
        "</div></footer>\n"
        + _banner(hidden)
        + LINKEDIN_INSIGHT
        + "</body>\n</html>\n"
    )


HOME = """<section class="hero"><div class="wrap hero-grid">
<div>
<p class="eyebrow">New · Ember 2</p>
<h1>Heating that learns your home, not your browsing.</h1>
<p class="lead">Ember is a smart thermostat that schedules itself around the way you live, cuts the
heating bill by up to 23% and keeps working when the internet doesn't.</p>
<p class="hero-actions"><a class="btn btn-primary" href="/shop/checkout">Buy Ember — 1 490 kr</a>
<a class="btn btn-outline" href="/blog/consent-at-the-edge">Read the blog</a></p>
<p class="muted small">Free delivery in Norway, Sweden and Denmark · 100-day returns</p>
</div>
<img class="hero-art" src="/static/hero.svg" alt="The Ember thermostat on a wall" width="520" height="420">
</div></section>
<section class="wrap features">
<article class="card"><img src="/static/icon-leaf.svg" alt="" width="40" height="40"><h3>Saves energy</h3>
<p>Learns how fast each room warms up and starts just in time, never earlier.</p></article>
<article class="card"><img src="/static/icon-shield.svg" alt="" width="40" height="40"><h3>Private by design</h3>
<p>Schedules run on the device. Your temperature history never leaves your home unless you say so.</p></article>
<article class="card"><img src="/static/icon-plug.svg" alt="" width="40" height="40"><h3>Fits in ten minutes</h3>
<p>Replaces most wall thermostats with two screws and the wires you already have.</p></article>
</section>
<section class="wrap dashboard-section">
<div class="card dashboard-card"><div class="dashboard-head"><h3>Live from the Northwind office</h3>
<span class="pill">first-party widget</span></div>
<div id="energy-dashboard" class="dashboard" data-series="21.0,20.8,20.5,20.1,19.8,19.6,19.9,20.6,21.2,21.5,21.4,21.3,21.1,21.0,21.2,21.6,21.8,21.7,21.4,21.0,20.6,20.2,19.9,19.7">
<p class="muted">Loading the office temperature chart…</p></div>
<p class="muted small">Drawn by <code>/static/site-analytics-dashboard.js</code>: a first-party script whose
name says “analytics” but which tracks nobody. consent-proxy keeps it, because names do not matter.</p></div>
</section>
<script src="/static/site-analytics-dashboard.js" defer></script>
"""

ARTICLE = """<article class="wrap article">
<p class="eyebrow"><a href="/blog/consent-at-the-edge">Engineering blog</a> · 12 March 2025 · 6 min read</p>
<h1>Consent at the edge</h1>
<p class="lead">Our marketing team loves its tags. Our legal team loves its cookie policy. This is how we
stopped them from fighting: the edge enforces what the visitor chose, before a single byte reaches the browser.</p>
<p class="byline"><img src="/static/avatar.svg" alt="" width="40" height="40"><span><strong>Ingrid Solheim</strong><br>
<span class="muted small">Platform engineer</span></span></p>
<p>Every site we have ever worked on has the same problem. A banner asks the visitor what they allow,
and then the page loads Google Tag Manager, the Meta Pixel, Hotjar and LinkedIn anyway, because each of
them was pasted into a template years ago by someone who has since left.</p>
<h2>Watch: the two-minute version</h2>
<div class="video"><div class="video-placeholder"><span class="video-play"></span><p>This YouTube video is hidden until you allow <strong>functional</strong> cookies.</p><button type="button" class="btn btn-primary btn-sm" data-cp-open>Cookie settings</button></div>\n%s</div>
<p class="muted small">The video is embedded from YouTube, so it counts as a <em>functional</em> embed in our cookie policy.</p>
<h2>Where the decision belongs</h2>
<p>Instead of asking every tag to check the banner's answer, we put a small reverse proxy in front of the
site. It reads one cookie, <code>cp_consent</code>, and for each response it removes the
<code>Set-Cookie</code> headers and the <code>&lt;script&gt;</code> tags of categories the visitor did not grant.
Our own scripts stay, whatever they are called.</p>
<blockquote>“If a category isn't granted, the browser never sees its tag. There is nothing to block because there is nothing there.”</blockquote>
<h2>What we measured</h2>
<ul><li>Pages got 180 KB lighter for visitors who reject everything.</li>
<li>Largest contentful paint improved by 0.4 s on mid-range phones.</li>
<li>The consent audit went from a week to an afternoon.</li></ul>
<p>Try it on this page: open <a href="#cookie-settings" data-cp-open>cookie settings</a>, change your choice,
and watch the “What this page loaded” panel below.</p>
</article>
""" % YOUTUBE_EMBED

CHECKOUT = """<section class="wrap checkout">
<div class="checkout-head"><p class="eyebrow">Secure checkout</p><h1>Your order</h1></div>
<div class="checkout-grid">
<form class="card checkout-form" id="payment-form" action="/shop/checkout" method="post">
<h2>Contact</h2>
<label>Email<input type="email" name="email" autocomplete="email" placeholder="you@example.no" required></label>
<h2>Delivery</h2>
<div class="row"><label>First name<input name="given" autocomplete="given-name" placeholder="Kari"></label>
<label>Last name<input name="family" autocomplete="family-name" placeholder="Nordmann"></label></div>
<label>Address<input name="address" autocomplete="street-address" placeholder="Strandkaien 4"></label>
<div class="row"><label>Postcode<input name="postcode" autocomplete="postal-code" placeholder="5013"></label>
<label>City<input name="city" autocomplete="address-level2" placeholder="Bergen"></label></div>
<h2>Payment</h2>
<div id="card-element" class="card-element"><span class="muted">Card details are collected by Stripe.</span></div>
<p id="card-errors" class="error" role="alert"></p>
<button class="btn btn-primary btn-block" type="submit">Pay 1 490 kr</button>
<p class="muted small">Payments are processed by Stripe. Stripe.js is strictly necessary for fraud prevention
and stays whatever you choose in the cookie banner.</p>
</form>
<aside class="card summary">
<div class="line-item"><img src="/static/product.svg" alt="" width="72" height="72">
<div><strong>Ember 2 smart thermostat</strong><br><span class="muted small">Snow white · Qty 1</span></div>
<span>1 490 kr</span></div>
<hr><div class="sum"><span>Subtotal</span><span>1 490 kr</span></div>
<div class="sum"><span>Delivery</span><span>Free</span></div>
<div class="sum"><span>VAT (25%, included)</span><span>298 kr</span></div>
<hr><div class="sum total"><span>Total</span><span>1 490 kr</span></div>
</aside>
</div></section>
<script src="/static/checkout.js" defer></script>
"""

_POLICY_ROWS = {
    "necessary": (
        "Necessary",
        "Always active",
        "Needed for the site to work: keeping you signed in, protecting forms against forgery, remembering "
        "your cart and your cookie choice. They cannot be switched off.",
        [("sessionid", "Northwind Labs", "Keeps you signed in and holds your cart", "Session"),
         ("csrftoken", "Northwind Labs", "Protects forms against cross-site request forgery", "1 year"),
         ("cp_consent", "Northwind Labs", "Remembers your cookie choices", "180 days"),
         ("__stripe_mid", "Stripe", "Fraud prevention at checkout", "1 year")],
    ),
    "functional": (
        "Functional",
        "Preferences",
        "Remember choices you make, such as your language, and let embedded content like YouTube videos play.",
        [("lang", "Northwind Labs", "Your language preference", "1 year"),
         ("VISITOR_INFO1_LIVE", "YouTube", "Embedded video player preferences", "6 months")],
    ),
    "analytics": (
        "Analytics",
        "Performance and statistics",
        "Help us understand how the site is used: which pages are visited, how long they take to load, where "
        "visitors get stuck. The information is aggregated.",
        [("_ga", "Google Analytics", "Distinguishes visitors", "2 years"),
         ("_ga_7K3XQ9L2PD", "Google Analytics", "Keeps the session state", "2 years"),
         ("_gid", "Google Analytics", "Distinguishes visitors", "24 hours"),
         ("_hjSessionUser_3456789", "Hotjar", "Recognises returning visitors", "1 year"),
         ("_hjSession_3456789", "Hotjar", "Holds current session data", "30 minutes")],
    ),
    "advertising": (
        "Advertising",
        "Retargeting and marketing",
        "Set by us and our advertising partners to measure campaigns and show you relevant ads on other sites.",
        [("_fbp", "Meta", "Identifies browsers for ad delivery and retargeting", "3 months"),
         ("_gcl_au", "Google Ads", "Measures ad conversions", "3 months"),
         ("li_fat_id", "LinkedIn", "Member indirect identifier for conversion tracking", "30 days")],
    ),
}


def _policy_page() -> str:
    sections = []
    for key, (title, subtitle, text, cookies) in _POLICY_ROWS.items():
        rows = "".join(
            "<tr><td><code>%s</code></td><td>%s</td><td>%s</td><td>%s</td></tr>" % row for row in cookies
        )
        sections.append(
            '<section class="card policy-cat" id="%s"><div class="policy-head"><h2>%s</h2>'
            '<span class="pill%s">%s</span></div><p>%s</p>'
            '<div class="table-wrap"><table><thead><tr><th>Cookie</th><th>Provider</th><th>Purpose</th>'
            "<th>Duration</th></tr></thead><tbody>%s</tbody></table></div></section>"
            % (key, title, " pill-on" if key == "necessary" else "", subtitle, text, rows)
        )
    return (
        '<section class="wrap policy"><p class="eyebrow">Legal</p><h1>Cookie policy</h1>'
        '<p class="lead">This policy explains which cookies and similar technologies northwind-labs.example '
        "uses, why, and how you can change your mind at any time. Last updated 1 March 2025.</p>"
        '<p><button type="button" class="btn btn-primary" data-cp-open>Change cookie settings</button></p>'
        "<p>We group cookies into four categories. Only <strong>necessary</strong> cookies are set without "
        "your consent; the other three are set only if you allow them in the cookie banner.</p>"
        + "".join(sections)
        + "<h2>Your choice is stored in one cookie</h2><p>The banner saves your decision in "
        "<code>cp_consent</code>, for example <code>v1.functional.analytics</code>. <code>v1</code> alone "
        "means necessary cookies only. Contact <a href=\"mailto:privacy@northwind-labs.example\">"
        "privacy@northwind-labs.example</a> with any questions.</p></section>"
    )


POLICY = _policy_page()

PAGE_CONTENT: dict[str, tuple[str, str, str, str]] = {
    # path: (title, description, main html, extra head)
    "/": ("Smart heating for Nordic homes", "Ember, the smart thermostat that respects your privacy.", HOME, ""),
    "/blog/consent-at-the-edge": ("Consent at the edge", "How we enforce cookie consent at the edge.", ARTICLE, ""),
    "/shop/checkout": ("Checkout", "Buy the Ember 2 smart thermostat.", CHECKOUT, STRIPE_JS),
    "/cookie-policy": ("Cookie policy", "Which cookies Northwind Labs uses and why.", POLICY, ""),
}


# --- Cookies: one of every category on every page response. ---


def _http_date(seconds_from_now: int) -> str:
    """An RFC 1123 date (it contains a comma, which naive Set-Cookie splitters get wrong)."""
    return formatdate(time.time() + seconds_from_now, usegmt=True)


def _set_cookie(resp: web.StreamResponse, name: str, value: str, *attrs: str) -> None:
    """Add one raw Set-Cookie header, formatted the way the vendor's own code writes it.

    Raw rather than aiohttp's `set_cookie`, which would quote base64 values ending in `=`.
    """
    resp.headers.add("Set-Cookie", "; ".join((f"{name}={value}", *attrs)))


def _set_page_cookies(request: web.Request, resp: web.StreamResponse) -> None:
    """Set cookies like a careless origin: every category, regardless of consent."""
    now = int(time.time())
    ms = int(time.time() * 1000)
    jar = request.cookies
    day = 86400

    def rand9() -> int:
        return secrets.randbelow(9 * 10**8) + 10**8

    def expires(days: int) -> str:
        return "Expires=" + _http_date(days * day)

    ga = jar.get("_ga") or "GA1.1.%d.%d" % (rand9(), now)
    hj_user = base64.b64encode(
        json.dumps({"id": secrets.token_hex(8), "created": ms, "existing": True}, separators=(",", ":")).encode()
    ).decode()
    hj_session = base64.b64encode(
        json.dumps({"id": secrets.token_hex(18), "c": ms, "s": 0, "r": 0, "sb": 0}, separators=(",", ":")).encode()
    ).decode()
    # necessary (Django-style session and CSRF cookies)
    _set_cookie(resp, "sessionid", jar.get("sessionid") or secrets.token_hex(16), "HttpOnly", "Path=/", "SameSite=Lax")
    _set_cookie(resp, "csrftoken", jar.get("csrftoken") or secrets.token_urlsafe(24),
                expires(365), "Max-Age=31449600", "Path=/", "SameSite=Lax")
    # functional
    _set_cookie(resp, "lang", jar.get("lang") or "en", expires(365), "Path=/", "SameSite=Lax")
    # analytics (GA4 and Hotjar write these from JavaScript; careless origins mirror them server-side)
    _set_cookie(resp, "_ga", ga, expires(400), "Path=/", "SameSite=Lax")
    _set_cookie(resp, "_ga_" + GA4_ID[2:], "GS1.1.%d.1.1.%d.0.0.0" % (now, now), expires(400), "Path=/")
    _set_cookie(resp, "_gid", "GA1.1.%d.%d" % (rand9(), now), "Max-Age=86400", "Path=/")
    _set_cookie(resp, "_hjSessionUser_" + HOTJAR_ID, hj_user, expires(365), "Path=/", "SameSite=Lax")
    _set_cookie(resp, "_hjSession_" + HOTJAR_ID, hj_session, "Max-Age=1800", "Path=/", "SameSite=Lax")
    # advertising
    _set_cookie(resp, "_fbp", jar.get("_fbp") or "fb.1.%d.%d" % (ms, rand9()), expires(90), "Path=/", "SameSite=Lax")
    _set_cookie(resp, "_gcl_au", "1.1.%d.%d" % (rand9(), now), expires(90), "Path=/")


# --- Handlers. ---


async def page(request: web.Request) -> web.Response:
    """Serve one of PAGES (GET and HEAD), with every tracker snippet and every cookie."""
    title, description, main, extra_head = PAGE_CONTENT[request.path]
    resp = web.Response(
        text=_layout(request, title, main, extra_head=extra_head, description=description),
        content_type="text/html",
        charset="utf-8",
        headers={
            "Cache-Control": "private, no-cache",
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "strict-origin-when-cross-origin",
        },
    )
    _set_page_cookies(request, resp)
    return resp


async def not_found(request: web.Request) -> web.Response:
    """A styled 404 in the site chrome (no cookies: only real pages set them)."""
    main = (
        '<section class="wrap policy"><p class="eyebrow">404</p><h1>We couldn\'t find that page</h1>'
        '<p class="lead">It may have moved. Try the <a href="/">home page</a>.</p></section>'
    )
    return web.Response(status=404, text=_layout(request, "Page not found", main), content_type="text/html")


async def health(request: web.Request) -> web.Response:
    """Liveness for tests and the `demo` command; sets no cookies."""
    return web.json_response({"status": "ok", "service": "northwind-demo-origin"})


async def echo(request: web.Request) -> web.Response:
    """Echo what the origin received, so tests can assert on what the proxy forwarded."""
    size = 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
    return web.json_response(
        {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "headers": [[k, v] for k, v in request.headers.items()],
            "cookies": sorted(request.cookies.keys()),
            "body_length": size,
        }
    )


def make_demo_app() -> web.Application:
    """Build the demo origin application. Routes: PAGES, /static/*, /api/health, /api/echo."""
    app = web.Application()
    for path in PAGES:
        app.router.add_get(path, page)
    app.router.add_get("/api/health", health)
    app.router.add_route("*", "/api/echo", echo)
    app.router.add_static("/static/", STATIC_DIR)
    app.router.add_route("*", "/{tail:.*}", not_found)
    return app


def main() -> None:  # pragma: no cover - manual use: python -m proxy.demo.site [PORT] [HOST]
    import sys

    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    host = sys.argv[2] if len(sys.argv) > 2 else "127.0.0.1"  # a container needs 0.0.0.0
    web.run_app(make_demo_app(), host=host, port=port, access_log=None)


if __name__ == "__main__":  # pragma: no cover
    main()
