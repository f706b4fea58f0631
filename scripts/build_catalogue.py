#!/usr/bin/env python3
"""Generate the bundled catalogue tables from the open data in ../shared/data.

Writes `config/catalogue/cookies.json` (cookie name -> category, vendor) from the Open Cookie
Database CSV and `config/catalogue/trackers.json` (third-party host -> category, vendor) from
third-party-web's entities, copies both licence texts next to them. The output is
deterministic: rows sorted, one rule per line (compact, yet a data update reads as a diff).

Only the deliberate category mapping happens here; corrections to the data live in
`config/catalogue/curated.yaml`, applied at load time above these tables (see issue 4).

    python scripts/build_catalogue.py [--data DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import shutil
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "config" / "catalogue"

OCD_FILE = "open-cookie-database.csv"
TPW_FILE = "third-party-web-entities.json"
LICENCES = ("LICENSE.open-cookie-database.txt", "LICENSE.third-party-web.txt")

OCD_SOURCE = {
    "name": "Open Cookie Database",
    "repo": "github.com/jkwakman/Open-Cookie-Database",
    "path": "open-cookie-database.csv",
    "commit": "0ee5a17fe1cb002943f89370d24fc26a4226061c",
    "license": "Apache-2.0",
}
TPW_SOURCE = {
    "name": "third-party-web",
    "repo": "github.com/patrickhulce/third-party-web",
    "path": "data/entities.js",
    "commit": "424dc03d2deabe001827b6826fed3c8cc00362de",
    "license": "MIT",
}

# Upstream "Functional" means strictly necessary (the database's README: "Functional (also
# known as technical, essential or strictly necessary)"), not our "functional" (preferences).
OCD_CATEGORIES = {
    "Functional": "necessary",
    "Necessary": "necessary",
    "Security": "necessary",
    "Personalization": "functional",
    "Analytics": "analytics",
    "Marketing": "advertising",
}

# third-party-web is a performance attribution list, not a consent list. `other` (hosting
# companies next to ad networks) is left out on purpose: those hosts stay "unknown third
# party", kept and reported, rather than wrongly blessed or blocked.
TPW_CATEGORIES: dict[str, str | None] = {
    "ad": "advertising",
    "marketing": "advertising",
    "social": "advertising",  # the social entities' scripts are mostly pixels and trackers
    "analytics": "analytics",
    "tag-manager": "analytics",  # a tag manager loads analytics (and possibly more) at run time
    "video": "functional",
    "customer-success": "functional",
    "content": "functional",
    "utility": "necessary",
    "cdn": "necessary",
    "hosting": "necessary",
    "consent-provider": "necessary",
    "other": None,
}

# On conflicting rows for one name the least disruptive category wins: generic names
# (`token`, `dc`, `chk`) must not be deleted site-wide on the strength of one vendor's row;
# curated.yaml corrects the ones that matter.
CATEGORY_RANK = {"necessary": 0, "functional": 1, "analytics": 2, "advertising": 3}


class DataError(Exception):
    """The input data has a shape this script does not know how to map."""


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def cookie_rows(csv_path: Path) -> list[list[str]]:
    """[name, match, category, vendor] rows, one per distinct (name, match), sorted."""
    best: dict[tuple[str, str], tuple[int, str, str, str]] = {}
    with csv_path.open(encoding="utf-8", newline="") as f:
        for line_no, row in enumerate(csv.DictReader(f), start=2):
            raw_name = row["Cookie / Data Key name"]
            upstream = row["Category"].strip()
            if upstream not in OCD_CATEGORIES:
                raise DataError(f"{csv_path.name}:{line_no}: unknown category {upstream!r}")
            category = OCD_CATEGORIES[upstream]
            name = raw_name.strip()
            match = "prefix" if row["Wildcard match"].strip() == "1" else "exact"
            if "*" in name:  # `SSPR_*`, `SCM*`: a prefix written as a glob
                name = name.replace("*", "")
                match = "prefix"
            if not name:
                continue
            vendor = row["Platform"].strip()
            key = (name, match)
            candidate = (CATEGORY_RANK[category], vendor, row["ID"].strip(), category)
            if key not in best or candidate < best[key]:
                best[key] = candidate
    return [[name, match, cand[3], cand[1]] for (name, match), cand in sorted(best.items())]


def tracker_rows(json_path: Path) -> list[list[str]]:
    """[host, path, category, vendor, upstream_category] rows, sorted by host."""
    entities = json.loads(json_path.read_text(encoding="utf-8"))
    rows: dict[str, list[str]] = {}
    for entity in entities:
        upstream = entity["category"]
        if upstream not in TPW_CATEGORIES:
            raise DataError(f"{json_path.name}: {entity['name']}: unknown category {upstream!r}")
        category = TPW_CATEGORIES[upstream]
        if category is None:
            continue
        for domain in entity["domains"]:
            host = domain.strip().lower().rstrip(".")
            if not host or host in rows:  # first entity claiming a host keeps it (upstream order)
                continue
            rows[host] = [host, "", category, entity["name"], upstream]
    return [rows[h] for h in sorted(rows)]


def dump_table(source: dict[str, str], key: str, columns: list[str], rows: list[list[str]]) -> str:
    """Compact but diffable JSON: a header object, then one rule per line."""
    head = json.dumps({"source": source, "columns": columns}, ensure_ascii=False, sort_keys=True)
    body = ",\n".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in rows)
    return f'{{"meta":{head},\n"{key}":[\n{body}\n]}}\n'


def build(data_dir: Path, out_dir: Path) -> dict[str, int]:
    """Write both tables and the licences into out_dir; returns row counts."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ocd_path, tpw_path = data_dir / OCD_FILE, data_dir / TPW_FILE
    cookies = cookie_rows(ocd_path)
    trackers = tracker_rows(tpw_path)
    ocd_meta = dict(OCD_SOURCE, sha256=sha256_of(ocd_path))
    tpw_meta = dict(TPW_SOURCE, sha256=sha256_of(tpw_path))
    (out_dir / "cookies.json").write_text(
        dump_table(ocd_meta, "cookies", ["name", "match", "category", "vendor"], cookies), encoding="utf-8"
    )
    (out_dir / "trackers.json").write_text(
        dump_table(tpw_meta, "hosts", ["host", "path", "category", "vendor", "upstream_category"], trackers),
        encoding="utf-8",
    )
    for name in LICENCES:
        if (data_dir / name).exists():
            shutil.copyfile(data_dir / name, out_dir / name)
    return {"cookies": len(cookies), "hosts": len(trackers)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help=f"open data directory (default {DEFAULT_DATA})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output directory (default {DEFAULT_OUT})")
    args = parser.parse_args(argv)
    try:
        counts = build(args.data, args.out)
    except (OSError, KeyError, ValueError, DataError) as exc:
        print(f"build_catalogue: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {counts['cookies']} cookie rules and {counts['hosts']} host rules to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
