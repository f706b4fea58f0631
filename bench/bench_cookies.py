#!/usr/bin/env python3
"""Benchmark: classify the 30 cookies of a realistic request against the full catalogue.

Target (issue 4): at most 0.15x the time `http.cookies.SimpleCookie().load()` takes to parse
the same header, measured in the same run. Run by hand, never as a timed test:

    .venv/bin/python bench/bench_cookies.py
"""

from __future__ import annotations

import sys
import timeit
from http.cookies import SimpleCookie
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy.catalogue import load_catalogue  # noqa: E402
from proxy.categories import undecided  # noqa: E402
from proxy.cookieheader import split_cookie_header  # noqa: E402
from proxy.cookies import filter_request_cookie  # noqa: E402
from proxy.policy import Policy, SiteRules  # noqa: E402

# 30 cookies as a shop with GA4, Ads, Meta, Hotjar, Clarity, HubSpot, a CMP and a session sends them.
HEADER = "; ".join(
    [
        "PHPSESSID=9c1f0a7e3b2d4c6e8f0a1b2c3d4e5f60",
        "_ga=GA1.1.1234567890.1700000000",
        "_ga_ABCDEF1234=GS1.1.1700000000.3.1.1700000500.0.0.0",
        "_gid=GA1.2.987654321.1700000000",
        "_gcl_au=1.1.123456789.1700000000",
        "_fbp=fb.1.1700000000000.1234567890",
        "_fbc=fb.1.1700000000000.IwAR2abc",
        "_hjSessionUser_1234567=eyJpZCI6IjEyMyJ9",
        "_hjSession_1234567=eyJpZCI6IjQ1NiJ9",
        "_hjAbsoluteSessionInProgress=0",
        "_clck=1abcde2%7C2%7Cfh1%7C0%7C1400",
        "_clsk=1xyz%7C1700000500000%7C3%7C1%7Cw.clarity.ms%2Fcollect",
        "hubspotutk=0123456789abcdef0123456789abcdef",
        "__hstc=123456.0123456789abcdef.1700000000000.1700000000000.1700000000000.1",
        "__hssrc=1",
        "_uetsid=0123456789abcdef0123456789abcdef",
        "_uetvid=fedcba9876543210fedcba9876543210",
        "MUID=0A1B2C3D4E5F60718293A4B5C6D7E8F9",
        "_pin_unauth=dWlkPU5qWTRNRGd4",
        "_ttp=2abcDEFghiJKLmnoPQRstuVWXyz",
        "OptanonConsent=isGpcEnabled=0&datestamp=Tue+Mar+03+2026&groups=C0001%3A1",
        "OptanonAlertBoxClosed=2026-03-03T10:00:00.000Z",
        "cart_id=7f9c2ba4e88f827d616045507605853e",
        "currency=EUR",
        "shop_theme=dark",
        "__cf_bm=abcdefghijklmnopqrstuvwxyz0123456789-1700000000-0-AbCdEf",
        "__stripe_mid=01234567-89ab-cdef-0123-456789abcdef",
        "__Secure-3PSID=g.a000abcdefghijk",
        "li_fat_id=abc-def-ghi",
        "ajs_anonymous_id=%2201234567-89ab-cdef-0123-456789abcdef%22",
    ]
)


def best(stmt, number: int) -> float:
    """Best per-call time in µs over 7 repeats (least disturbed by the shared machine)."""
    return min(timeit.repeat(stmt, number=number, repeat=7)) / number * 1e6


def main() -> None:
    policy = Policy.compile(SiteRules(), load_catalogue())
    names = [p.name for p in split_cookie_header(HEADER)]
    assert len(names) == 30
    parsed = SimpleCookie()
    parsed.load(HEADER)
    assert len(parsed) == 30, "SimpleCookie must parse every cookie for a fair baseline"
    consent = undecided()
    classify = policy.classify_cookie

    def baseline() -> None:
        SimpleCookie().load(HEADER)

    def classify_warm() -> None:
        for name in names:
            classify(name)

    def classify_cold() -> None:
        policy._memo.clear()
        for name in names:
            classify(name)

    def filter_header() -> None:
        filter_request_cookie(HEADER, consent, policy)

    base = best(baseline, 2000)
    warm = best(classify_warm, 20000)
    cold = best(classify_cold, 2000)
    full = best(filter_header, 5000)
    split = best(lambda: split_cookie_header(HEADER), 5000)
    print("command: .venv/bin/python bench/bench_cookies.py")
    print(f"SimpleCookie().load(30 cookies)             {base:8.2f} µs  (baseline)")
    print(f"classify 30 names, memo warm (steady state) {warm:8.2f} µs  ratio {warm / base:.3f}  (target <= 0.15)")
    print(f"classify 30 names, memo cleared each time   {cold:8.2f} µs  ratio {cold / base:.3f}")
    print(f"filter_request_cookie (split+classify+join) {full:8.2f} µs  ratio {full / base:.3f}")
    print(f"  of which split_cookie_header alone        {split:8.2f} µs  ratio {split / base:.3f}")
    print("PASS" if warm / base <= 0.15 else "FAIL", "classification, memo warm")
    print("PASS" if cold / base <= 0.15 else "FAIL", "classification, memo cold")


if __name__ == "__main__":
    main()
