"""The bundled cookie and tracker-host tables: open data plus the curated vendor table.

Pure data in, lookups out. `load_catalogue()` reads the files once at startup (the only I/O
here); the `parse_*` functions are pure and raise `CatalogueError` on malformed data, so a
broken bundle fails at start-up or in `consent-proxy check`, never at request time.
Matching is compiled by `proxy.policy`; this module only holds typed rules.

Also the Public Suffix List lookup (`registrable_domain`), bundled offline by the
`publicsuffixlist` package, used for purge domains and same-site decisions.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml

from proxy.categories import CATEGORIES

MatchKind = Literal["exact", "prefix", "glob", "regex"]
MATCH_KINDS: tuple[str, ...] = ("exact", "prefix", "glob", "regex")

SOURCE_SITE = "site"
SOURCE_CURATED = "curated"
SOURCE_OCD = "open-cookie-database"
SOURCE_TPW = "third-party-web"

_HOST_RE = re.compile(r"^(\*\.)?[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")


class CatalogueError(ValueError):
    """A catalogue table (bundled or curated) is malformed; `problems` lists each one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class CookieRule:
    """Cookie names matching `pattern` (per `match`) belong to `category` / `vendor`."""

    pattern: str
    match: MatchKind
    category: str
    vendor: str
    source: str


@dataclass(frozen=True, slots=True)
class HostRule:
    """URLs on `host` (exact, or `*.x` = x and its subdomains) whose path starts with `path`."""

    host: str
    category: str
    vendor: str
    source: str
    path: str = ""

    @property
    def is_wildcard(self) -> bool:
        return self.host.startswith("*.")

    @property
    def domain(self) -> str:
        """The host without its `*.` wildcard."""
        return self.host[2:] if self.host.startswith("*.") else self.host


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Curated rules (higher precedence) and open-data rules; excluded hosts already removed."""

    curated_cookies: tuple[CookieRule, ...]
    curated_hosts: tuple[HostRule, ...]
    open_cookies: tuple[CookieRule, ...]
    open_hosts: tuple[HostRule, ...]
    sources: tuple[dict[str, str], ...] = ()


def check_cookie_rule(rule: CookieRule) -> str | None:
    """The problem with one cookie rule, or None. Never raises."""
    if rule.category not in CATEGORIES:
        return f"{rule.pattern!r}: unknown category {rule.category!r}"
    if rule.match not in MATCH_KINDS:
        return f"{rule.pattern!r}: unknown match kind {rule.match!r}"
    if not rule.pattern:
        return "empty cookie name pattern"
    if rule.match == "regex":
        try:
            compiled = re.compile(rule.pattern)
        except re.error as exc:
            return f"{rule.pattern!r}: bad regex: {exc}"
        if compiled.groupindex:
            return f"{rule.pattern!r}: named groups are not allowed in cookie regexes"
    return None


def check_host_rule(rule: HostRule) -> str | None:
    """The problem with one host rule, or None. Never raises."""
    if rule.category not in CATEGORIES:
        return f"{rule.host!r}: unknown category {rule.category!r}"
    if not _HOST_RE.match(rule.host):
        return f"{rule.host!r}: not a lower-case host name or *.wildcard"
    if rule.path and not rule.path.startswith("/"):
        return f"{rule.host}{rule.path}: a path must start with '/'"
    return None


def parse_cookie_table(data: dict[str, Any], source: str = SOURCE_OCD) -> tuple[CookieRule, ...]:
    """Rules from the generated cookies.json structure. Raises CatalogueError."""
    rules = []
    for row in data["cookies"]:
        name, match, category, vendor = row
        rules.append(CookieRule(name, match, category, vendor, source))
    _raise_on(check_cookie_rule(r) for r in rules)
    return tuple(rules)


def parse_tracker_table(data: dict[str, Any], source: str = SOURCE_TPW) -> tuple[HostRule, ...]:
    """Rules from the generated trackers.json structure. Raises CatalogueError."""
    rules = []
    for row in data["hosts"]:
        host, path, category, vendor = row[:4]
        rules.append(HostRule(host, category, vendor, source, path))
    _raise_on(check_host_rule(r) for r in rules)
    return tuple(rules)


def _entries(doc: dict[str, Any], section: str, key: str, optional: set[str],
             problems: list[str]) -> list[dict[str, Any]]:
    """The well-shaped entries of one curated.yaml section; the others become problems."""
    allowed = {key, "category", "vendor"} | optional
    good = []
    for i, item in enumerate(doc.get(section) or []):
        extra = set(item) - allowed
        if extra or key not in item or "category" not in item:
            problems.append(f"curated.yaml: {section}[{i}]: needs {key} and category, unknown keys {sorted(extra)}")
            continue
        good.append(item)
    return good


def parse_curated(
    text: str,
) -> tuple[tuple[CookieRule, ...], tuple[HostRule, ...], frozenset[str], frozenset[str]]:
    """(cookie rules, host rules, excluded open-data hosts, excluded open-data cookie names)
    from curated.yaml. Raises CatalogueError."""
    try:
        doc = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CatalogueError([f"curated.yaml: {exc}"]) from exc
    problems: list[str] = []
    unknown = set(doc) - {"cookies", "hosts", "exclude_open_data_hosts", "exclude_open_data_cookies"}
    if unknown:
        problems.append(f"curated.yaml: unknown keys {sorted(unknown)}")
    cookies = [CookieRule(str(item["name"]), item.get("match", "exact"), item["category"],
                          str(item.get("vendor", "")), SOURCE_CURATED)
               for item in _entries(doc, "cookies", "name", {"match"}, problems)]
    hosts = [HostRule(str(item["host"]), item["category"], str(item.get("vendor", "")), SOURCE_CURATED,
                      str(item.get("path", "")))
             for item in _entries(doc, "hosts", "host", {"path"}, problems)]
    problems += [f"curated.yaml: {p}" for p in map(check_cookie_rule, cookies) if p]
    problems += [f"curated.yaml: {p}" for p in map(check_host_rule, hosts) if p]
    _raise_on(problems)
    excluded = frozenset(str(h) for h in doc.get("exclude_open_data_hosts") or [])
    excluded_cookies = frozenset(str(n) for n in doc.get("exclude_open_data_cookies") or [])
    return tuple(cookies), tuple(hosts), excluded, excluded_cookies


#: Open-data cookie names this short (lower-case letters only) are too generic to classify a first-party cookie by
#: (`fr`, `uid`, `cid`, `pid` are set on vendors' own domains and collide with site cookies).
GENERIC_NAME_MAX = 3


def is_generic_open_data_name(rule: CookieRule, excluded: frozenset[str]) -> bool:
    """Whether an open-data cookie rule is too generic to apply to a site's own cookies.

    The Open Cookie Database lists cookies vendors set on their own domains (Instagram's
    `sessionid`, Facebook's `locale`); matched against a site's first-party cookies such names
    would strip its login session. Dropping them makes those names unclassified (fail open,
    counted) instead of wrongly denied.
    """
    name = rule.pattern
    short_word = len(name) <= GENERIC_NAME_MAX and name.isalpha() and name.islower()
    return rule.match == "exact" and (short_word or name in excluded)


def build_catalogue(cookies_json: str, trackers_json: str, curated_yaml: str) -> Catalogue:
    """A Catalogue from the three bundled texts. Pure; raises CatalogueError on bad data."""
    try:
        cookie_data = json.loads(cookies_json)
        tracker_data = json.loads(trackers_json)
        open_cookies = parse_cookie_table(cookie_data)
        open_hosts = parse_tracker_table(tracker_data)
    except (ValueError, KeyError, TypeError) as exc:
        if isinstance(exc, CatalogueError):
            raise
        raise CatalogueError([f"bundled table: {exc!r}"]) from exc
    cur_cookies, cur_hosts, excluded, excluded_cookies = parse_curated(curated_yaml)
    open_hosts = tuple(r for r in open_hosts if r.host not in excluded)
    open_cookies = tuple(r for r in open_cookies if not is_generic_open_data_name(r, excluded_cookies))
    sources = tuple(d["meta"]["source"] for d in (cookie_data, tracker_data) if "meta" in d)
    return Catalogue(cur_cookies, cur_hosts, open_cookies, open_hosts, sources)


def catalogue_dir() -> Any:
    """The bundled catalogue directory: the installed package data, else the repo's config/catalogue."""
    try:
        return resources.files("proxy.bundled.catalogue")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parent.parent / "config" / "catalogue"


def load_catalogue(directory: Any = None) -> Catalogue:
    """Read and parse the bundled tables (startup only). Raises CatalogueError / OSError."""
    base = catalogue_dir() if directory is None else directory
    if isinstance(base, str):
        base = Path(base)

    def read(name: str) -> str:
        return str(base.joinpath(name).read_text(encoding="utf-8"))

    return build_catalogue(read("cookies.json"), read("trackers.json"), read("curated.yaml"))


def _raise_on(problems: Any) -> None:
    found = [p for p in problems if p]
    if found:
        raise CatalogueError(found)


@functools.lru_cache(maxsize=1)
def _psl() -> Any:
    # Built once on first use (~25 ms), from the list bundled in the package: no network.
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


@functools.lru_cache(maxsize=4096)
def registrable_domain(host: str) -> str | None:
    """The registrable domain (eTLD+1) of `host` by the Public Suffix List, or None.

    None for IP addresses, single labels such as `localhost`, and public suffixes
    themselves (`co.uk`, `github.io`). Never raises.
    """
    host = host.strip().lower().rstrip(".")
    if not host or "." not in host or is_ip_address(host):
        return None
    try:
        result = _psl().privatesuffix(host)
    except Exception:  # noqa: BLE001 - a lookup failure must not break a request
        return None
    return str(result) if result else None


def is_ip_address(host: str) -> bool:
    """True for an IPv4 or (bracketed or bare) IPv6 literal. Never raises."""
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
