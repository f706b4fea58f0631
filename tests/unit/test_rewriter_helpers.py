"""Shared helpers for the rewriter tests (no tests here): a dict-based classifier and chunked feeding."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path

from proxy.rewriter import HtmlRewriter, RewriteSettings

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "html"
BENCH = Path("/work/shared/data/bench")
PAGE_HOST = "www.example-kitchen.test"
DENY_ALL = frozenset({"necessary"})
GRANT_ALL = frozenset({"necessary", "functional", "analytics", "advertising"})

#: Tracker hosts (suffix match) -> (category, vendor): the vendors named in issue 5.
HOSTS: dict[str, tuple[str, str]] = {
    "googletagmanager.com": ("analytics", "Google Tag Manager"),
    "google-analytics.com": ("analytics", "Google Analytics"),
    "connect.facebook.net": ("advertising", "Meta"),
    "facebook.com": ("advertising", "Meta"),
    "hotjar.com": ("analytics", "Hotjar"),
    "snap.licdn.com": ("advertising", "LinkedIn"),
    "ads.linkedin.com": ("advertising", "LinkedIn"),
    "bat.bing.com": ("advertising", "Microsoft Advertising"),
    "analytics.tiktok.com": ("advertising", "TikTok"),
    "clarity.ms": ("analytics", "Microsoft Clarity"),
    "static.ads-twitter.com": ("advertising", "X"),
    "t.co": ("advertising", "X"),
    "s.pinimg.com": ("advertising", "Pinterest"),
    "ct.pinterest.com": ("advertising", "Pinterest"),
    "sc-static.net": ("advertising", "Snap"),
    "tr.snapchat.com": ("advertising", "Snap"),
    "cdn.segment.com": ("analytics", "Segment"),
    "cdn.mxpnl.com": ("analytics", "Mixpanel"),
    "cdn.amplitude.com": ("analytics", "Amplitude"),
    "js.hs-scripts.com": ("analytics", "HubSpot"),
    "js.hs-analytics.net": ("analytics", "HubSpot"),
    "widget.intercom.io": ("functional", "Intercom"),
    "static.criteo.net": ("advertising", "Criteo"),
    "cdn.taboola.com": ("advertising", "Taboola"),
    "matomo.cloud": ("analytics", "Matomo"),
    "plausible.io": ("analytics", "Plausible"),
    "mc.yandex.ru": ("analytics", "Yandex"),
    "assets.adobedtm.com": ("analytics", "Adobe Launch"),
    "pagead2.googlesyndication.com": ("advertising", "Google AdSense"),
    "securepubads.g.doubleclick.net": ("advertising", "Google Ad Manager"),
    "doubleclick.net": ("advertising", "DoubleClick"),
    "youtube.com": ("functional", "YouTube"),
    "youtube-nocookie.com": ("functional", "YouTube"),
    "player.vimeo.com": ("functional", "Vimeo"),
}
_HOST = re.compile(r"^[ \t\n\f\r]*(?:[a-zA-Z][a-zA-Z0-9+.-]*:)?[/\\]{2}([^/\\?#:]+)")


@dataclass(frozen=True, slots=True)
class Verdict:
    category: str
    vendor: str


class DictClassifier:
    """host -> category by suffix; None for relative URLs, first party and unknown hosts."""

    def __init__(self, hosts: dict[str, tuple[str, str]] | None = None) -> None:
        self.hosts = HOSTS if hosts is None else hosts

    def classify_url(self, url: str, page_host: str) -> Verdict | None:
        m = _HOST.match(url)
        if m is None:
            return None
        host = m.group(1).lower().rstrip(".")
        while True:
            hit = self.hosts.get(host)
            if hit is not None:
                return Verdict(*hit)
            if "." not in host:
                return None
            host = host.split(".", 1)[1]


def rewriter(granted: frozenset[str] = DENY_ALL, settings: RewriteSettings | None = None,
             classifier: object | None = None) -> HtmlRewriter:
    return HtmlRewriter(classifier or DictClassifier(), granted, PAGE_HOST, settings or RewriteSettings())


def run_chunks(data: bytes, sizes: list[int] | None = None, **kw: object) -> tuple[bytes, HtmlRewriter]:
    """Feed `data` in pieces of the given sizes (cycled); None = one piece."""
    r = rewriter(**kw)  # type: ignore[arg-type]
    out = []
    if not sizes:
        out.append(r.feed(data))
    else:
        i = k = 0
        while i < len(data):
            n = sizes[k % len(sizes)]
            out.append(r.feed(data[i:i + n]))
            i += n
            k += 1
    out.append(r.close())
    return b"".join(out), r


def run_split(data: bytes, at: int, **kw: object) -> bytes:
    r = rewriter(**kw)  # type: ignore[arg-type]
    return r.feed(data[:at]) + r.feed(data[at:]) + r.close()


def random_sizes(seed: int, hi: int = 4096, count: int = 64) -> list[int]:
    rng = random.Random(seed)
    return [rng.randint(1, hi) for _ in range(count)]
