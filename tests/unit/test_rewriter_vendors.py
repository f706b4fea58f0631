"""Vendor snippet fixtures (issue 5): documented snippet and a minified/renamed variant are
removed, near-misses stay byte-identical; every small fixture at every split point."""

from __future__ import annotations

import re

import pytest

from proxy.rewriter import RewriteSettings
from tests.unit.test_rewriter_helpers import FIXTURES, GRANT_ALL, run_chunks, run_split

VENDOR_FILES = sorted((FIXTURES / "vendors").glob("*.html"))
_HEAD = re.compile(rb"<!-- fixture vendor=(\w+) kind=(\w+) category=(\w+) -->")
# Independent oracle: in a fixture's BEGIN..END region every tracker element goes, whitespace
# and non-fetching markup (<ins>, <a>) stay. Fixture elements are simple enough for this.
_ELEMENT = re.compile(rb"<(script|noscript|iframe)\b.*?</\1\s*>|<img\b[^>]*>", re.S | re.I)


def _meta(path):
    data = path.read_bytes()
    m = _HEAD.match(data)
    assert m, path
    return data, m.group(1).decode(), m.group(2).decode(), m.group(3).decode()


def _expected_removed(data: bytes) -> bytes:
    head, rest = data.split(b"<!--BEGIN-->", 1)
    region, tail = rest.split(b"<!--END-->", 1)
    return head + b"<!--BEGIN-->" + _ELEMENT.sub(b"", region) + b"<!--END-->" + tail


def test_every_vendor_has_three_fixtures():
    vendors: dict[str, set[str]] = {}
    for p in VENDOR_FILES:
        _, v, kind, _ = _meta(p)
        vendors.setdefault(v, set()).add(kind)
    assert len(vendors) >= 24
    assert all(k == {"documented", "variant", "nearmiss"} for k in vendors.values()), vendors


@pytest.mark.parametrize("path", VENDOR_FILES, ids=lambda p: p.name)
def test_fixture_denied(path):
    data, vendor, kind, category = _meta(path)
    out, r = run_chunks(data)
    if kind == "nearmiss":
        assert out == data
        assert r.events == []
    else:
        assert out == _expected_removed(data)
        assert out != data
        assert r.events and all(e.action == "removed" for e in r.events)
        assert {e.category for e in r.events} == {category}


@pytest.mark.parametrize("path", VENDOR_FILES, ids=lambda p: p.name)
def test_fixture_granted_category_is_identity(path):
    data, _, _, category = _meta(path)
    out, r = run_chunks(data, granted=frozenset({"necessary", category}))
    assert out == data
    assert r.events == []
    out, _ = run_chunks(data, granted=GRANT_ALL)
    assert out == data


@pytest.mark.parametrize("path", VENDOR_FILES, ids=lambda p: p.name)
def test_fixture_every_split_point(path):
    data = path.read_bytes()
    whole, _ = run_chunks(data)
    for at in range(len(data) + 1):
        assert run_split(data, at) == whole, f"split at {at}"


@pytest.mark.parametrize("path", [p for p in VENDOR_FILES if ".nearmiss." not in p.name], ids=lambda p: p.name)
def test_fixture_one_byte_chunks(path):
    data = path.read_bytes()
    assert run_chunks(data, [1])[0] == run_chunks(data)[0]


@pytest.mark.parametrize("path", [p for p in VENDOR_FILES if ".nearmiss." not in p.name], ids=lambda p: p.name)
def test_fixture_report_mode_changes_nothing(path):
    data, _, _, category = _meta(path)
    out, r = run_chunks(data, settings=RewriteSettings(modes={category: "report"}))
    assert out == data
    assert r.events and all(e.action == "reported" for e in r.events)


@pytest.fixture(scope="module")
def catalogue_policy():
    try:
        from proxy.catalogue import load_catalogue
        from proxy.policy import Policy, SiteRules

        return Policy.compile(SiteRules(), load_catalogue())
    except Exception as exc:  # pragma: no cover - depends on proxy.policy being present
        pytest.skip(f"policy not available: {exc}")


@pytest.mark.parametrize("path", VENDOR_FILES, ids=lambda p: p.name)
def test_fixture_with_catalogue_policy(path, catalogue_policy):
    """The real catalogue-backed classifier agrees with the test classifier on every fixture."""
    data, _, kind, category = _meta(path)
    out, r = run_chunks(data, classifier=catalogue_policy)
    if kind == "nearmiss":
        assert out == data
    else:
        assert out == _expected_removed(data)
        assert {e.category for e in r.events} == {category}
