"""proxy.signatures: one alternation, named groups, literal prefilter never hides a match."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.signatures import _ANCHORS, _SIGNATURES, DEFAULT_SIGNATURES, compile_signatures

DENY = frozenset({"necessary"})
ALL = frozenset({"necessary", "functional", "analytics", "advertising"})


def test_one_alternation_with_a_named_group_per_vendor():
    names = [n for n, *_ in _SIGNATURES]
    assert set(DEFAULT_SIGNATURES.pattern.groupindex) == set(names)
    assert set(_ANCHORS) == set(names)
    assert {"gtm", "gtag", "fbq", "hotjar", "linkedin", "tiktok", "clarity", "uetq", "twq", "pintrk", "snaptr",
            "segment", "mixpanel", "amplitude", "hubspot", "intercom", "criteo", "taboola", "matomo",
            "plausible", "yandex", "adobe", "adsense"} <= set(names)


@pytest.mark.parametrize("name, vendor, category, pattern", _SIGNATURES, ids=[s[0] for s in _SIGNATURES])
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_any_string_a_signature_matches_is_found_through_the_prefilter(name, vendor, category, pattern, data):
    sample = data.draw(st.from_regex(re.compile(pattern), fullmatch=True))
    body = b"/* site */\n" + sample + b"\n"
    hit = DEFAULT_SIGNATURES.first_denied(body, DENY)
    assert hit is not None, sample
    assert DEFAULT_SIGNATURES.first_denied(body, ALL) is None


@pytest.mark.parametrize("body", [
    b"gtag('consent', 'default', {'analytics_storage': 'denied'});",
    b"window.dataLayer = window.dataLayer || []; dataLayer.push({event: 'x'});",
    b"var omega(1); mega('create');",
    b"xfbq('init', 1); my_fbq('init')",
    b'var url = "https://www.facebook.com/examplekitchen";',
    b"var amplitude = 3; var clar = 'clear';",
    b'import confetti from "https://cdn.jsdelivr.net/npm/canvas-confetti@1.9.3/+esm";',
    b"var paq = []; paq.push('trackPageView');",
    b'{"@context":"https://schema.org","url":"https://www.googletagmanager.com/"}',
])
def test_near_misses_do_not_match(body):
    assert DEFAULT_SIGNATURES.first_denied(body, DENY) is None


def test_word_boundary_rewrite_keeps_semantics():
    assert DEFAULT_SIGNATURES.first_denied(b"fbq('init','1')", DENY) == ("Meta Pixel", "advertising")
    assert DEFAULT_SIGNATURES.first_denied(b"x;fbq('init','1')", DENY) is not None
    assert DEFAULT_SIGNATURES.first_denied(b"$fbq('init','1')", DENY) is None


def test_granted_vendor_is_skipped_but_a_denied_one_in_the_same_body_is_found():
    body = b"gtag('config','G-1'); fbq('init','1');"
    assert DEFAULT_SIGNATURES.first_denied(body, frozenset({"necessary", "analytics"})) == ("Meta Pixel", "advertising")


def test_category_override_for_strictest_tag_manager_mode():
    sigs = compile_signatures(overrides={"gtm": "advertising"})
    body = b"w[l].push({'gtm.start': new Date().getTime()})"
    assert sigs.first_denied(body, frozenset({"necessary", "analytics"})) == ("Google Tag Manager", "advertising")


def test_extra_signature_without_anchor_always_runs():
    sigs = compile_signatures(extra=(("acme", "Acme Tracker", "analytics", rb"acmeTrack\("),))
    assert sigs.first_denied(b"acmeTrack(1)", DENY) == ("Acme Tracker", "analytics")
