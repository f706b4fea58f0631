"""Benchmark: consent decision vs http.cookies.SimpleCookie on the same 30-cookie header.

Run by hand:  .venv/bin/python bench/bench_consent.py
Budget (issue 3): decide() with every reader enabled costs at most 0.25x SimpleCookie().load()
on the same header, measured in the same run. Prints both figures and the ratio; the header
is one SimpleCookie parses fully (no raw JSON), with a OneTrust and a Cookiebot cookie.
"""

from __future__ import annotations

import http.cookies
import sys
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxy.consent import READER_NAMES, ConsentSettings, decide  # noqa: E402

ONETRUST = (
    "isGpcEnabled=0&datestamp=Mon+Oct+13+2025+16%3A22%3A35+GMT%2B0200+(Central+European+Summer+Time)"
    "&version=202508.2.0&browserGpcFlag=0&isIABGlobal=false&consentId=86203427-5d1c-4b1e-9c3e-1f2a3b4c5d6e"
    "&interactionCount=3&isAnonUser=1&hosts=&landingPath=NotLandingPage"
    "&groups=C0001%3A1%2CC0002%3A0%2CC0003%3A1%2CC0004%3A0%2CC0005%3A0%2CV2STACK42%3A0"
    "&geolocation=ES%3BCL&AwaitingReconsent=false&genVendors=V2%3A0%2CV1%3A0%2C"
)
COOKIEBOT = (
    "{stamp:%27bsbAh0S+8GJxApxrZ0vTRlMm4vdAjbb28/R2BJ1175X//1yp8tvPYg==%27%2Cnecessary:true"
    "%2Cpreferences:false%2Cstatistics:true%2Cmarketing:false%2Cmethod:%27explicit%27%2Cver:2"
    "%2Cutc:1715723726358%2Ciab2:%27%27%2Cgacm:%271~%27%2Cregion:%27de%27}"
)

COOKIES = [
    ("_ga", "GA1.1.1234567890.1715723726"),
    ("_ga_ABCDEF1234", "GS1.1.1715723726.3.1.1715724726.0.0.0"),
    ("_gid", "GA1.2.987654321.1715723726"),
    ("_gcl_au", "1.1.1956218463.1715723726"),
    ("_fbp", "fb.1.1715723726358.1234567890"),
    ("OptanonConsent", ONETRUST),
    ("OptanonAlertBoxClosed", "2025-10-13T14:22:35.236Z"),
    ("CookieConsent", COOKIEBOT),
    ("sessionid", "k3j4h5g6f7d8s9a0q1w2e3r4t5y6u7i8"),
    ("csrftoken", "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0EdCbA"),
    ("lang", "en-GB"),
    ("currency", "EUR"),
    ("cart_id", "c0ffee00-1234-5678-9abc-def012345678"),
    ("AWSALB", "q2nLTPmqzV7u0fW+Xo8DkY5zWv6qfS3kP9Jc1eR4tB7yH0uN2mA8xL6dG5sF3vC1"),
    ("AWSALBCORS", "q2nLTPmqzV7u0fW+Xo8DkY5zWv6qfS3kP9Jc1eR4tB7yH0uN2mA8xL6dG5sF3vC1"),
    ("__cf_bm", "aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5zA7bC9d-1715723726-1.0.1.1-XyZ"),
    ("_hjSessionUser_123456", "eyJpZCI6IjEyMzQ1Njc4LTkwYWItY2RlZi0xMjM0In0="),
    ("_hjSession_123456", "eyJpZCI6ImFiY2RlZiIsImMiOjE3MTU3MjM3MjZ9"),
    ("_uetsid", "0a1b2c3d4e5f11ef9a8b7c6d5e4f3a2b"),
    ("_uetvid", "0a1b2c3d4e5f11ef9a8b7c6d5e4f3a2c"),
    ("ajs_anonymous_id", "5f8e7d6c-5b4a-3928-1706-f5e4d3c2b1a0"),
    ("intercom-id-abc123", "1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d"),
    ("theme", "dark"),
    ("recently_viewed", "1234%2C5678%2C9012"),
    ("ab_test", "variant_b"),
    ("tz", "Europe%2FMadrid"),
    ("visitor_id", "v-20251013-8f7e6d5c"),
    ("_pin_unauth", "dWlkPU1qQTJPRFUyT0RBdE1HUTFaQzAwTXpBMkxXSmlaakl0"),
    ("li_sugr", "3e4f5a6b-7c8d-9e0f-1a2b-3c4d5e6f7a8b"),
    ("consent_seen", "1"),
]
HEADER = "; ".join(f"{k}={v}" for k, v in COOKIES)


def best_us(fn, number: int, repeat: int = 7) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    parsed = http.cookies.SimpleCookie()
    parsed.load(HEADER)
    assert len(COOKIES) == 30 and len(parsed) == 30, f"SimpleCookie parsed {len(parsed)} of 30"

    settings = ConsentSettings(sources=READER_NAMES)
    result = decide(HEADER, {"Sec-GPC": "1"}, settings)
    assert result.decided_by == "onetrust", result

    def simple_cookie() -> None:
        http.cookies.SimpleCookie().load(HEADER)

    def consent() -> None:
        decide(HEADER, {"Sec-GPC": "1"}, settings)

    n = 5000
    baseline = best_us(simple_cookie, n)
    ours = best_us(consent, n)
    ratio = ours / baseline
    print(f"SimpleCookie().load, 30 cookies:      {baseline:8.2f} us")
    print(f"decide(), all {len(READER_NAMES)} readers enabled:    {ours:8.2f} us")
    print(f"ratio: {ratio:.3f}  (budget 0.25) -> {'OK' if ratio <= 0.25 else 'OVER BUDGET'}")


if __name__ == "__main__":
    main()
