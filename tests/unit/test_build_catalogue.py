"""The catalogue generator on tiny fixtures, and the bundled tables against the shared data."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared" / "data"


def _load_script():
    spec = importlib.util.spec_from_file_location("build_catalogue", REPO / "scripts" / "build_catalogue.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_catalogue"] = module
    spec.loader.exec_module(module)
    return module


bc = _load_script()

HEADER = [
    "ID", "Platform", "Category", "Cookie / Data Key name", "Domain", "Description",
    "Retention period", "Data Controller", "User Privacy & GDPR Rights Portals", "Wildcard match",
]
ROWS = [
    ["id-3", "Google Analytics", "Analytics", "_ga_", "", "GA4 session", "2 years", "Google", "", "1"],
    ["id-1", "Google Analytics", "Analytics", "_ga", "", "Client id", "2 years", "Google", "", "0"],
    ["id-2", "Xandr", "Marketing", "token", "", "", "", "", "", "0"],
    ["id-4", "Acme", "Functional", "token", "", "", "", "", "", "0"],
    ["id-5", "Adkernel", "Marketing", "SSPR_*", "", "", "", "", "", "0"],
    ["id-6", "Ceros", "Functional", "ce_need_secure_cookie\t", "", "", "", "", "", "0"],
    ["id-7", "Shop", "Personalization", "lang", "", "", "", "", "", "0"],
    ["id-8", "Cloudflare", "Security", "__cf_bm", "", "", "", "", "", "0"],
]
ENTITIES = [
    {"name": "Google Analytics", "category": "analytics", "domains": ["*.google-analytics.com", "analytics.google.com"]},
    {"name": "Amazon Web Services", "category": "other", "domains": ["*.amazonaws.com"]},
    {"name": "Facebook", "category": "social", "domains": ["*.facebook.com", "connect.facebook.net"]},
    {"name": "Impostor", "category": "cdn", "domains": ["connect.facebook.net"]},
    {"name": "jQuery CDN", "category": "cdn", "domains": ["*.JQuery.com"]},
    {"name": "YouTube", "category": "video", "domains": ["*.youtube.com"]},
]


def write_fixture(directory: Path, rows=ROWS, entities=ENTITIES) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    (directory / bc.OCD_FILE).write_text(buf.getvalue(), encoding="utf-8")
    (directory / bc.TPW_FILE).write_text(json.dumps(entities), encoding="utf-8")
    for name in bc.LICENCES:
        (directory / name).write_text(f"licence text of {name}\n", encoding="utf-8")
    return directory


def test_cookie_rows_map_categories_prefixes_and_conflicts(tmp_path):
    data = write_fixture(tmp_path / "data")
    bc.build(data, tmp_path / "out")
    table = json.loads((tmp_path / "out" / "cookies.json").read_text())
    rows = {(r[0], r[1]): (r[2], r[3]) for r in table["cookies"]}
    assert rows[("_ga", "exact")] == ("analytics", "Google Analytics")
    assert rows[("_ga_", "prefix")] == ("analytics", "Google Analytics")
    # upstream "Functional"/"Security" mean strictly necessary, "Personalization" is ours "functional"
    assert rows[("__cf_bm", "exact")] == ("necessary", "Cloudflare")
    assert rows[("lang", "exact")] == ("functional", "Shop")
    # conflicting rows: the least disruptive category wins
    assert rows[("token", "exact")] == ("necessary", "Acme")
    # `SSPR_*` is a prefix written as a glob; stray whitespace trimmed
    assert rows[("SSPR_", "prefix")] == ("advertising", "Adkernel")
    assert ("ce_need_secure_cookie", "exact") in rows
    assert [r[0] for r in table["cookies"]] == sorted(r[0] for r in table["cookies"])
    assert table["meta"]["source"]["license"] == "Apache-2.0"
    assert len(table["meta"]["source"]["sha256"]) == 64


def test_tracker_rows_map_categories_and_skip_other(tmp_path):
    data = write_fixture(tmp_path / "data")
    bc.build(data, tmp_path / "out")
    table = json.loads((tmp_path / "out" / "trackers.json").read_text())
    rows = {r[0]: r for r in table["hosts"]}
    assert rows["*.google-analytics.com"][2:] == ["analytics", "Google Analytics", "analytics"]
    assert rows["*.facebook.com"][2] == "advertising"  # social pixels
    assert rows["connect.facebook.net"][3] == "Facebook"  # the first entity claiming a host keeps it
    assert rows["*.jquery.com"][2] == "necessary"  # lower-cased, cdn -> necessary
    assert rows["*.youtube.com"][2] == "functional"
    assert "*.amazonaws.com" not in rows  # "other" stays unknown on purpose
    assert table["meta"]["source"]["license"] == "MIT"


def test_output_is_deterministic_and_one_rule_per_line(tmp_path):
    bc.build(write_fixture(tmp_path / "a"), tmp_path / "out_a")
    shuffled = list(reversed(ROWS))
    bc.build(write_fixture(tmp_path / "b", rows=shuffled), tmp_path / "out_b")
    a = (tmp_path / "out_a" / "cookies.json").read_text()
    b = (tmp_path / "out_b" / "cookies.json").read_text()
    # only the input's sha256 in the meta line differs when the rows come in another order
    assert a.splitlines()[1:] == b.splitlines()[1:]
    bc.build(write_fixture(tmp_path / "a"), tmp_path / "out_a2")
    assert (tmp_path / "out_a2" / "cookies.json").read_text() == a
    lines = a.splitlines()
    assert len(lines) == 2 + 7 + 1  # meta line, "cookies":[, one line per distinct rule, closing
    assert (tmp_path / "out_a" / "LICENSE.third-party-web.txt").read_text() == "licence text of LICENSE.third-party-web.txt\n"


def test_unknown_category_fails_loudly(tmp_path, capsys):
    rows = ROWS + [["id-9", "Acme", "Tracking", "acme", "", "", "", "", "", "0"]]
    data = write_fixture(tmp_path / "data", rows=rows)
    assert bc.main(["--data", str(data), "--out", str(tmp_path / "out")]) == 1
    assert "unknown category 'Tracking'" in capsys.readouterr().err
    entities = ENTITIES + [{"name": "X", "category": "crypto", "domains": ["x.example"]}]
    data = write_fixture(tmp_path / "data2", entities=entities)
    assert bc.main(["--data", str(data), "--out", str(tmp_path / "out2")]) == 1


@pytest.mark.skipif(not (SHARED / bc.OCD_FILE).exists(), reason="shared open data not present")
def test_bundled_tables_are_regenerated_from_the_shared_data(tmp_path):
    bc.build(SHARED, tmp_path)
    for name in ("cookies.json", "trackers.json", *bc.LICENCES):
        assert (tmp_path / name).read_bytes() == (REPO / "config" / "catalogue" / name).read_bytes(), name
