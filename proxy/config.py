"""Load one YAML config file into an immutable, validated model.

Every problem is reported with its position as `FILE:LINE:COL: key.path: message`, all at
once, like `nginx -t`. Unknown keys are errors: a typo must never be silently ignored.
Duplicate keys are errors too (PyYAML would silently keep the last one).
"""

from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import pydantic
import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from proxy.categories import CATEGORIES, OPTIONAL_CATEGORIES

ENV_OVERRIDES = {
    "CONSENT_PROXY_UPSTREAM": ("upstream", "url"),
    "CONSENT_PROXY_LISTEN": ("listen", "address"),
    "CONSENT_PROXY_ADMIN": ("admin", "address"),
}


@dataclass(frozen=True, slots=True)
class Problem:
    """One config problem, positioned at the YAML node it concerns."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}: {self.path}: {self.message}"


class ConfigError(Exception):
    """A config that cannot be used. Carries every problem found, each with its position."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# ---------------------------------------------------------------- value parsers

_SIZE_RE = re.compile(r"^\s*(\d+)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
               "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}


def _parse_size(value: Any) -> Any:
    """Sizes are bytes: an integer, or a string such as `64KiB`, `100MB`, `1GiB`."""
    if isinstance(value, str):
        m = _SIZE_RE.match(value)
        if not m:
            raise ValueError("a size must be a number of bytes or like '64KiB', '100MB', '1GiB'")
        return int(m.group(1)) * _SIZE_UNITS[(m.group(2) or "B").lower()]
    return value


Size = Annotated[int, BeforeValidator(_parse_size), Field(gt=0)]
Seconds = Annotated[float, Field(gt=0)]
Category = Literal["necessary", "functional", "analytics", "advertising"]
OptionalCategory = Literal["functional", "analytics", "advertising"]


@dataclass(frozen=True, slots=True)
class HostPort:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_host_port(value: str) -> HostPort:
    """`HOST:PORT`, `[IPV6]:PORT` or `:PORT` (all interfaces). Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError("expected 'HOST:PORT'")
    if value.startswith("["):
        host, sep, port = value[1:].partition("]:")
        if not sep:
            raise ValueError("expected '[IPV6]:PORT'")
    else:
        host, sep, port = value.rpartition(":")
        if not sep or ":" in host:
            raise ValueError("expected 'HOST:PORT' (write IPv6 as '[::1]:PORT')")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} is not a number from 0 to 65535")
    return HostPort(host or "0.0.0.0", int(port))


def _host_port(value: Any) -> Any:
    return parse_host_port(value) if isinstance(value, str) else value


Address = Annotated[HostPort, BeforeValidator(_host_port)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


# ---------------------------------------------------------------- sections

class UpstreamConfig(_Model):
    url: str = Field(description="The one origin every request goes to.")
    pass_host: bool = True
    ca_file: str | None = None
    verify_tls: bool = True
    connect_timeout: Seconds = 5.0
    read_timeout: Seconds = 60.0
    pool_size: Annotated[int, Field(gt=0)] = 256
    keepalive_timeout: Seconds = 30.0
    max_response_header_size: Size = 65536

    @field_validator("url")
    @classmethod
    def _check_url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https"):
            raise ValueError(f"{v!r} is not an http:// or https:// URL")
        if not parts.hostname:
            raise ValueError(f"{v!r} has no host")
        try:
            parts.port
        except ValueError as exc:
            raise ValueError(f"{v!r} has a bad port") from exc
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            raise ValueError(f"{v!r}: give only scheme://host[:port]; paths, queries and credentials are not supported")
        return v.rstrip("/")


class ListenConfig(_Model):
    address: Address = HostPort("0.0.0.0", 8000)
    tls_cert: str | None = None
    tls_key: str | None = None

    @model_validator(mode="after")
    def _tls_pair(self) -> "ListenConfig":
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key must be given together")
        return self


class AdminConfig(_Model):
    address: Address = HostPort("127.0.0.1", 9090)
    reload_endpoint: bool = False
    watch_config: bool = True
    watch_interval: Seconds = 2.0


class LimitsConfig(_Model):
    max_request_body: Size = 1 << 30
    max_request_line: Size = 8190
    max_header_size: Size = 8190
    max_headers: Annotated[int, Field(gt=0)] = 100
    header_read_timeout: Seconds = 15.0
    keepalive_timeout: Seconds = 75.0
    max_connections: Annotated[int, Field(gt=0)] = 10000
    shutdown_timeout: Seconds = 30.0


class SiteConfig(_Model):
    hostnames: tuple[str, ...] = ()
    first_party_hosts: tuple[str, ...] = ()
    registrable_domain: str | None = None
    public_scheme: Literal["auto", "http", "https"] = "auto"

    @field_validator("hostnames", "first_party_hosts")
    @classmethod
    def _lower(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for h in v:
            if not re.fullmatch(r"(\*\.)?[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]", h):
                raise ValueError(f"{h!r} is not a host name")
        return tuple(h.lower() for h in v)


class OneTrustConfig(_Model):
    groups: dict[str, Category] = {"C0001": "necessary", "C0002": "analytics", "C0003": "functional",
                                   "C0004": "advertising", "C0005": "advertising"}


class MapConfig(_Model):
    """A reader whose cookie names its own categories, services or purposes."""

    map: dict[str, Category] = {}


class CookieConsentConfig(_Model):
    cookie_name: str = "cc_cookie"
    map: dict[str, Category] = {}
    revision: int | None = None


class TcfConfig(_Model):
    purposes: dict[int, Category] = {}


class GpcConfig(_Model):
    enabled: bool = True
    denies: tuple[OptionalCategory, ...] = ("advertising",)


class DntConfig(_Model):
    enabled: bool = False
    denies: tuple[OptionalCategory, ...] = ("advertising",)


class GeoConfig(_Model):
    header: str | None = None
    opt_out_regions: tuple[str, ...] = ()
    opt_out_grants: tuple[OptionalCategory, ...] = ("functional", "analytics", "advertising")


SourceName = Literal["cp_consent", "onetrust", "cookiebot", "cookieyes", "complianz", "klaro",
                     "cookieconsent", "borlabs", "tarteaucitron", "didomi", "tcf"]
BANNER_READERS = frozenset({"onetrust", "cookiebot", "cookieyes", "complianz", "klaro", "cookieconsent",
                            "borlabs", "tarteaucitron", "didomi"})


class ConsentConfig(_Model):
    sources: tuple[SourceName, ...] = ("cp_consent",)
    onetrust: OneTrustConfig = OneTrustConfig()
    cookiebot: MapConfig = MapConfig()
    cookieyes: MapConfig = MapConfig()
    complianz: MapConfig = MapConfig()
    klaro: MapConfig = MapConfig()
    cookieconsent: CookieConsentConfig = CookieConsentConfig()
    borlabs: MapConfig = MapConfig()
    tarteaucitron: MapConfig = MapConfig()
    didomi: MapConfig = MapConfig()
    tcf: TcfConfig = TcfConfig()
    gpc: GpcConfig = GpcConfig()
    dnt: DntConfig = DntConfig()
    geo: GeoConfig = GeoConfig()
    debug_header: bool = False

    @field_validator("sources")
    @classmethod
    def _unique(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(v)) != len(v):
            raise ValueError("each source may be listed once")
        return v


class CookieRuleConfig(_Model):
    name: str
    match: Literal["exact", "prefix", "glob", "regex"] = "exact"
    category: Category
    vendor: str = ""

    @model_validator(mode="after")
    def _regex_compiles(self) -> "CookieRuleConfig":
        if self.match == "regex":
            try:
                re.compile(self.name)
            except re.error as exc:
                raise ValueError(f"name is not a valid regular expression: {exc}") from exc
        return self


class HostRuleConfig(_Model):
    host: str
    path: str = ""
    category: Category
    vendor: str = ""

    @field_validator("host")
    @classmethod
    def _host(cls, v: str) -> str:
        if not re.fullmatch(r"(\*\.)?[A-Za-z0-9.-]+", v):
            raise ValueError(f"{v!r} is not a host name (use '*.example.com' for subdomains)")
        return v.lower()


class PathRuleConfig(_Model):
    path: str
    category: Category
    vendor: str = ""

    @field_validator("path")
    @classmethod
    def _abs(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError("a same-origin tracker path starts with '/'")
        return v


class PurgeConfig(_Model):
    enabled: bool = True
    paths: tuple[str, ...] = ("/",)
    max_headers: Annotated[int, Field(ge=0)] = 50


class CookiesConfig(_Model):
    unclassified: Literal["allow", "deny"] = "allow"
    filter_request: bool = True
    purge: PurgeConfig = PurgeConfig()
    rules: tuple[CookieRuleConfig, ...] = ()


Mode = Literal["remove", "neutralise", "report"]


class TrackersConfig(_Model):
    rules: tuple[HostRuleConfig, ...] = ()
    same_origin_paths: tuple[PathRuleConfig, ...] = ()
    modes: dict[OptionalCategory, Mode] = {}
    report_only: bool = False
    unknown_third_party: Literal["allow", "deny"] = "allow"
    unknown_third_party_kinds: tuple[Literal["script-src", "img", "source", "iframe", "link", "embed", "object",
                                             "a-ping"], ...] = ("script-src", "img", "source", "iframe", "link",
                                                                "embed", "object", "a-ping")
    tag_managers: Literal["analytics", "strictest"] = "analytics"
    inline_script_cap: Size = 65536
    over_cap_inline_scripts: Literal["pass", "remove"] = "pass"
    rewrite_max_decoded_size: Size = 256 << 20
    respect_no_transform: bool = False


class CacheConfig(_Model):
    private: bool = True
    vary_cookie: bool = True
    consent_class_header: str | None = None


class LoggingConfig(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"
    access_log: bool = True
    log_user_agent: bool = False
    log_referer: bool = False
    full_client_ip: bool = False
    unclassified_summary_interval: Seconds = 300.0


class Config(_Model):
    """The whole validated config. Immutable; a reload builds a new one."""

    upstream: UpstreamConfig
    listen: ListenConfig = ListenConfig()
    admin: AdminConfig = AdminConfig()
    limits: LimitsConfig = LimitsConfig()
    trusted_proxies: tuple[str, ...] = ()
    site: SiteConfig = SiteConfig()
    bypass_paths: tuple[str, ...] = ()
    consent: ConsentConfig = ConsentConfig()
    cookies: CookiesConfig = CookiesConfig()
    trackers: TrackersConfig = TrackersConfig()
    cache: CacheConfig = CacheConfig()
    logging: LoggingConfig = LoggingConfig()

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for i, cidr in enumerate(v):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ValueError(f"item {i}: {cidr!r} is not an IP address or CIDR") from exc
        return v

    @field_validator("bypass_paths")
    @classmethod
    def _paths(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for p in v:
            if not p.startswith("/"):
                raise ValueError(f"{p!r}: a path starts with '/'")
        return v

    @property
    def trusted_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(c, strict=False) for c in self.trusted_proxies)

    @property
    def warnings(self) -> list[str]:
        """Things that are valid but probably not what ops want (printed by `check` and at start)."""
        out = []
        if not self.site.hostnames:
            out.append("site.hostnames is empty: every Host header is accepted")
        banners = [s for s in self.consent.sources if s in BANNER_READERS]
        if len(banners) > 1:
            out.append(f"consent.sources enables several banner readers ({', '.join(banners)}): "
                       "a stale cookie of a previous banner could grant consent")
        return out


# ---------------------------------------------------------------- loading with positions

class _Positions:
    """Maps key paths of the YAML document to (line, col) of their key and value nodes (1-based)."""

    def __init__(self) -> None:
        self.keys: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.values: dict[tuple[Any, ...], tuple[int, int]] = {}
        self.duplicates: list[tuple[tuple[Any, ...], tuple[int, int]]] = []

    def walk(self, node: yaml.Node, path: tuple[Any, ...]) -> None:
        self.values[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for k, v in node.value:
                key = k.value
                if isinstance(k, yaml.ScalarNode) and k.tag.endswith(":int"):
                    try:
                        key = int(key)
                    except ValueError:
                        pass
                pos = (k.start_mark.line + 1, k.start_mark.column + 1)
                if key in seen:
                    self.duplicates.append((path + (key,), pos))
                seen.add(key)
                self.keys[path + (key,)] = pos
                self.walk(v, path + (key,))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, path + (i,))

    def find(self, loc: tuple[Any, ...], prefer_key: bool) -> tuple[int, int]:
        table = (self.keys, self.values) if prefer_key else (self.values, self.keys)
        for cut in range(len(loc), -1, -1):
            for t in table:
                if loc[:cut] in t:
                    return t[loc[:cut]]
        return (1, 1)


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top)"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    # pydantic inserts validator tags such as 'function-before[...]' or 'tagged-union'; drop them.
    return tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p.endswith("-union"))))


def _message(err: dict[str, Any]) -> str:
    kind, msg = err["type"], err["msg"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return msg.replace("Input should be", "must be one of")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    elif msg.startswith("Assertion failed, "):
        msg = msg[len("Assertion failed, "):]
    if kind.endswith("_type") or kind.endswith("_parsing"):
        got = err.get("input")
        msg = f"{msg.replace('Input should be', 'must be')} (got {type(got).__name__} {got!r})"
    return msg


def load_config(path: str | os.PathLike[str], overrides: dict[tuple[str, str], Any] | None = None,
                use_env: bool = True) -> Config:
    """Read, position-index and validate one config file. Raises ConfigError with every problem."""
    fname = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(fname, 1, 1, "(file)", f"cannot read: {exc}")]) from None
    return parse_config(text, fname, overrides, use_env)


def parse_config(text: str, fname: str = "<config>", overrides: dict[tuple[str, str], Any] | None = None,
                 use_env: bool = True) -> Config:
    """Validate YAML text. `overrides` (from CLI flags) win over the environment, which wins over the file."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(fname, line, col, "(yaml)", f"invalid YAML: {problem}")]) from None
    positions = _Positions()
    if node is not None:
        positions.walk(node, ())
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError([Problem(fname, 1, 1, "(top)", "the config must be a mapping of sections")])
    problems = [Problem(fname, *pos, _dotted(loc), "duplicate key") for loc, pos in positions.duplicates]

    merged = dict(data)
    layered: dict[tuple[str, str], Any] = {}
    if use_env:
        layered.update({key: os.environ[var] for var, key in ENV_OVERRIDES.items() if os.environ.get(var)})
    layered.update({k: v for k, v in (overrides or {}).items() if v is not None})
    for (section, key), value in layered.items():
        sec = merged.get(section)
        merged[section] = {**(sec if isinstance(sec, dict) else {}), key: value}

    try:
        config = Config.model_validate(merged)
    except pydantic.ValidationError as exc:
        for err in exc.errors():
            loc = _clean_loc(tuple(err["loc"]))
            line, col = positions.find(loc, prefer_key=err["type"] in ("extra_forbidden", "missing"))
            problems.append(Problem(fname, line, col, _dotted(loc), _message(err)))
        problems.sort(key=lambda p: (p.line, p.col))
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return config


def bundled_config_path(name: str = "default.yaml") -> Path:
    """Path of a config shipped with the package (config/ in the repo, proxy.bundled when installed)."""
    from importlib.resources import files

    try:
        candidate = Path(str(files("proxy.bundled") / name))
        if candidate.is_file():
            return candidate
    except ModuleNotFoundError:
        pass
    return Path(__file__).resolve().parent.parent / "config" / name


__all__ = ["Config", "ConfigError", "Problem", "load_config", "parse_config", "bundled_config_path",
           "HostPort", "parse_host_port", "CATEGORIES", "OPTIONAL_CATEGORIES"]
