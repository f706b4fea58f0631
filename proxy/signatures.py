"""Inline-script tracker signatures: which vendor snippet an inline `<script>` body is.

Pure module. All signatures are compiled into ONE bytes regex alternation whose named
groups identify the vendor, so a script body is scanned once however many vendors exist
(issue 5). A signature matches a vendor's *loader or init call* (the part that fetches or
configures the tracker), never a bare mention of the vendor's name, so first-party code,
consent-mode defaults (`gtag('consent', 'default', ...)`), JSON-LD and social links stay.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from proxy.categories import ADVERTISING, ANALYTICS, FUNCTIONAL

# group name -> (vendor, default category, pattern). Patterns are bytes regex fragments
# matched case-sensitively against the raw script body (JS identifiers are case-sensitive).
_SIGNATURES: tuple[tuple[str, str, str, bytes], ...] = (
    ("gtm", "Google Tag Manager", ANALYTICS,
     rb"googletagmanager\.com/gtm\.js|['\"]gtm\.start['\"]"),
    ("gtag", "Google Analytics", ANALYTICS,
     rb"googletagmanager\.com/gtag/js|\bgtag\(\s*['\"](?:js|config)['\"]"),
    ("ga", "Google Analytics", ANALYTICS,
     rb"google-analytics\.com/(?:analytics|ga|urchin)\.js|\bga\(\s*['\"]create['\"]"),
    ("fbq", "Meta Pixel", ADVERTISING,
     rb"connect\.facebook\.net/[\w-]{1,16}/fbevents\.js|\bfbq\(\s*['\"]init['\"]"),
    ("hotjar", "Hotjar", ANALYTICS,
     rb"static\.hotjar\.com/c/hotjar-|\b_hjSettings\s*="),
    ("linkedin", "LinkedIn Insight", ADVERTISING,
     rb"\b_linkedin_partner_id\s*=|snap\.licdn\.com/li\.lms-analytics"),
    ("tiktok", "TikTok Pixel", ADVERTISING,
     rb"analytics\.tiktok\.com/i18n/pixel|\bttq\.load\(\s*['\"]"),
    ("clarity", "Microsoft Clarity", ANALYTICS,
     rb"www\.clarity\.ms/tag/|['\"]clarity['\"],\s*['\"]script['\"]"),
    ("uetq", "Microsoft Advertising UET", ADVERTISING,
     rb"bat\.bing\.com/bat\.js|\buetq\.push\(\s*['\"]pageLoad['\"]|new UET\("),
    ("twq", "X (Twitter) Pixel", ADVERTISING,
     rb"static\.ads-twitter\.com/uwt\.js|\btwq\(\s*['\"](?:init|config)['\"]"),
    ("pintrk", "Pinterest Tag", ADVERTISING,
     rb"s\.pinimg\.com/ct/core\.js|\bpintrk\(\s*['\"]load['\"]"),
    ("snaptr", "Snap Pixel", ADVERTISING,
     rb"sc-static\.net/scevent\.min\.js|\bsnaptr\(\s*['\"]init['\"]"),
    ("segment", "Segment", ANALYTICS,
     rb"cdn\.segment\.(?:com|io)/analytics\.js|\banalytics\.SNIPPET_VERSION\b"),
    ("mixpanel", "Mixpanel", ANALYTICS,
     rb"cdn\.mxpnl\.com/libs/mixpanel|\bMIXPANEL_CUSTOM_LIB_URL\b|\bmixpanel\.init\(\s*['\"]"),
    ("amplitude", "Amplitude", ANALYTICS,
     rb"cdn\.amplitude\.com/libs/|\bamplitude\.getInstance\(\)\.init\(|\bamplitude\.init\(\s*['\"]"),
    ("hubspot", "HubSpot", ANALYTICS,
     rb"js\.hs-scripts\.com/|js\.hs-analytics\.net/|\b_hsq\s*=\s*window\._hsq"),
    ("intercom", "Intercom", FUNCTIONAL,
     rb"widget\.intercom\.io/widget/|\bintercomSettings\s*=\s*\{[^}]{0,400}?\bapp_id\b"),
    ("criteo", "Criteo", ADVERTISING,
     rb"static\.criteo\.net/js/ld/|\bcriteo_q\s*=\s*window\.criteo_q"),
    ("taboola", "Taboola", ADVERTISING,
     rb"cdn\.taboola\.com/libtrc/|\b_tfa\s*=\s*window\._tfa|\bwindow\._taboola\s*="),
    ("matomo", "Matomo", ANALYTICS,
     rb"\b_paq\.push\(\s*\[\s*['\"](?:trackPageView|setSiteId|setTrackerUrl)['\"]|/(?:matomo|piwik)\.js['\"]"),
    ("plausible", "Plausible", ANALYTICS,
     rb"plausible\.io/js/|\bwindow\.plausible\s*=\s*window\.plausible\s*\|\|"),
    ("yandex", "Yandex Metrica", ANALYTICS,
     rb"mc\.yandex\.ru/metrika/|\bym\(\s*\d+\s*,\s*['\"]init['\"]"),
    ("adobe", "Adobe Launch", ANALYTICS,
     rb"assets\.adobedtm\.com/"),
    ("adsense", "Google AdSense/GPT", ADVERTISING,
     rb"pagead2\.googlesyndication\.com/|\(adsbygoogle\s*=\s*window\.adsbygoogle|securepubads\.g\.doubleclick\.net/tag/js/gpt\.js|\bgoogletag\.(?:pubads|defineSlot)\("),
    ("esm_analytics", "ES module (analytics SDK)", ANALYTICS,
     rb"\bimport\b[^;'\"]{0,200}['\"](?:https?:)?//(?:cdn\.jsdelivr\.net/npm/|unpkg\.com/|esm\.sh/|cdn\.skypack\.dev/|ga\.jspm\.io/npm:)"
     rb"(?:mixpanel-browser|@amplitude/|@segment/analytics|posthog-js|plausible-tracker|react-ga4|ga-4-react|@hotjar/browser|@microsoft/clarity|hotjar)"),
    ("esm_advertising", "ES module (advertising SDK)", ADVERTISING,
     rb"\bimport\b[^;'\"]{0,200}['\"](?:https?:)?//(?:cdn\.jsdelivr\.net/npm/|unpkg\.com/|esm\.sh/|cdn\.skypack\.dev/|ga\.jspm\.io/npm:)"
     rb"(?:react-facebook-pixel|@bettercart/react-facebook-pixel|tiktok-pixel|linkedin-insight|@linkedin/)"),
)


# Literal prefilter (issue 5 performance): every branch of a signature contains one of its
# anchors verbatim. `anchor in body` runs at memchr speed, while the alternation costs
# ~250 ns per byte in sre (26 vendors x branches tried at every position), so the
# alternation only runs on bodies that contain an anchor of a non-granted category.
# How far before its anchor a match can start: 64 covers every pattern but the ES-module
# ones, whose `import ... from` may take ~215 bytes before the CDN host.
_ANCHOR_OFFSET = 64
_ESM_ANCHOR_OFFSET = 256
_ANCHORS: dict[str, tuple[bytes, ...]] = {
    "gtm": (b"googletagmanager.com/gtm.js", b"gtm.start"),
    "gtag": (b"googletagmanager.com/gtag/js", b"gtag("),
    "ga": (b"google-analytics.com/", b"ga("),
    "fbq": (b"/fbevents.js", b"fbq("),
    "hotjar": (b"static.hotjar.com/c/hotjar-", b"_hjSettings"),
    "linkedin": (b"_linkedin_partner_id", b"snap.licdn.com/li.lms-analytics"),
    "tiktok": (b"analytics.tiktok.com/i18n/pixel", b"ttq.load("),
    "clarity": (b"clarity",),
    "uetq": (b"bat.bing.com/bat.js", b"uetq.push(", b"new UET("),
    "twq": (b"static.ads-twitter.com/uwt.js", b"twq("),
    "pintrk": (b"s.pinimg.com/ct/core.js", b"pintrk("),
    "snaptr": (b"sc-static.net/scevent.min.js", b"snaptr("),
    "segment": (b"cdn.segment.", b"analytics.SNIPPET_VERSION"),
    "mixpanel": (b"cdn.mxpnl.com/libs/mixpanel", b"MIXPANEL_CUSTOM_LIB_URL", b"mixpanel.init("),
    "amplitude": (b"cdn.amplitude.com/libs/", b"amplitude.getInstance().init(", b"amplitude.init("),
    "hubspot": (b"js.hs-scripts.com/", b"js.hs-analytics.net/", b"_hsq"),
    "intercom": (b"widget.intercom.io/widget/", b"intercomSettings"),
    "criteo": (b"static.criteo.net/js/ld/", b"criteo_q"),
    "taboola": (b"cdn.taboola.com/libtrc/", b"_tfa", b"window._taboola"),
    "matomo": (b"_paq.push(", b"matomo.js", b"piwik.js"),
    "plausible": (b"plausible.io/js/", b"window.plausible"),
    "yandex": (b"mc.yandex.ru/metrika/", b"ym("),
    "adobe": (b"assets.adobedtm.com/",),
    "adsense": (b"pagead2.googlesyndication.com/", b"adsbygoogle",
                b"securepubads.g.doubleclick.net/tag/js/gpt.js", b"googletag."),
    "esm_analytics": (b"cdn.jsdelivr.net/npm/", b"unpkg.com/", b"esm.sh/", b"cdn.skypack.dev/", b"ga.jspm.io/npm:"),
    "esm_advertising": (b"cdn.jsdelivr.net/npm/", b"unpkg.com/", b"esm.sh/", b"cdn.skypack.dev/", b"ga.jspm.io/npm:"),
}


_MEMO_BODY_MAX = 8192
_MEMO_ENTRIES = 2048


@dataclass(frozen=True, slots=True)
class Signatures:
    """A compiled signature set: one alternation, plus group name -> (vendor, category)."""

    pattern: re.Pattern[bytes]
    meta: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: (category, anchor, max offset of the anchor in a match); b"" = always run the alternation.
    anchors: tuple[tuple[str, bytes, int], ...] = ()
    #: Verdicts of recently seen script bodies: a site serves the same inline snippets on every
    #: page view, and scanning one costs a find() per anchor. Bounded; small bodies only.
    memo: dict[tuple[bytes, frozenset[str]], tuple[str, str] | None] = field(default_factory=dict, compare=False)

    def first_denied(self, body: bytes, granted: frozenset[str]) -> tuple[str, str] | None:
        """(vendor, category) of the first signature in `body` whose category is not granted.

        Never raises. A body matching only granted vendors returns None.
        """
        if len(body) > _MEMO_BODY_MAX:
            return self._first_denied(body, granted)
        key = (body, granted)
        try:
            return self.memo[key]
        except KeyError:
            pass
        verdict = self._first_denied(body, granted)
        if len(self.memo) >= _MEMO_ENTRIES:
            self.memo.clear()
        self.memo[key] = verdict
        return verdict

    def _first_denied(self, body: bytes, granted: frozenset[str]) -> tuple[str, str] | None:
        start = -1
        for category, anchor, offset in self.anchors:
            if category not in granted:
                at = body.find(anchor)
                if at >= 0 and (start < 0 or at - offset < start):
                    start = max(0, at - offset)
        if start < 0:
            return None
        meta = self.meta
        for m in self.pattern.finditer(body, start):
            vendor, category = meta[m.lastgroup or ""]
            if category not in granted:
                return vendor, category
        return None


_LEADING_WORD_BOUNDARY = re.compile(rb"(^|\|)\\b([A-Za-z_])")


def _literal_first(pat: bytes) -> bytes:
    r"""`\bfbq(` -> `f(?<![\w$]f)bq(`: same matches, but every branch now starts with a
    literal, so sre can skip positions with its first-character charset scan (measured ~5x
    faster on inline script bodies than letting each position try every branch)."""
    return _LEADING_WORD_BOUNDARY.sub(lambda m: m[1] + m[2] + rb"(?<![\w$]" + m[2] + b")", pat)


def compile_signatures(
    overrides: dict[str, str] | None = None,
    extra: tuple[tuple[str, str, str, bytes], ...] = (),
) -> Signatures:
    """Compile the bundled signatures (+ `extra` ones) into one alternation.

    `overrides` maps a group name to another category (e.g. strictest mode for tag managers:
    {"gtm": "advertising"}). Raises re.error only at compile time for a bad `extra` pattern.
    """
    overrides = overrides or {}
    parts: list[bytes] = []
    meta: dict[str, tuple[str, str]] = {}
    anchors: list[tuple[str, bytes, int]] = []
    for name, vendor, category, pat in _SIGNATURES + extra:
        parts.append(b"(?P<" + name.encode() + b">" + _literal_first(pat) + b")")
        category = overrides.get(name, category)
        meta[name] = (vendor, category)
        offset = _ESM_ANCHOR_OFFSET if name.startswith("esm_") else _ANCHOR_OFFSET
        anchors += [(category, a, offset) for a in _ANCHORS.get(name, (b"",))]
    return Signatures(re.compile(b"|".join(parts)), meta, tuple(anchors))


#: The bundled signatures with their default categories.
DEFAULT_SIGNATURES: Signatures = compile_signatures()
