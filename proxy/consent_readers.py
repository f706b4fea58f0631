"""One small reader per consent-banner cookie format (issue 3; formats in consent-formats.md).

Pure module. Each reader is `(cookies, settings) -> Reading | None`:
- None: the reader's cookie is absent (the next source is tried);
- `MALFORMED`: present but unreadable (counted as a parse failure, never grants);
- otherwise the categories this source speaks to; missing categories are unknown.
Readers never raise: every decode is bounded (`settings.max_value_length`, a cap on JSON
containers before `json.loads`) and wrapped. Settings-independent parses are memoised in
small bounded LRU caches keyed on the raw value, since the same consent cookie repeats on
every request of a visitor.

Combination rules, shared by all readers:
- explicit per-key choices (OneTrust groups, Cookiebot fields, TCF purposes, ...): a category
  is denied if any of its present keys is denied, unknown if one is undecided, granted if all
  of its present keys are granted, and not spoken to if none is present;
- lists of accepted names (cookieconsent categories, Borlabs groups): a category is granted if
  any of its names is listed, else denied (a site uses one alias, the others never appear).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, unquote_plus

from proxy.categories import NECESSARY, OPTIONAL_CATEGORIES, Decision, State
from proxy.tcf import TcfCore, decode_core

if TYPE_CHECKING:
    from proxy.consent import ConsentSettings

_CACHE_SIZE = 512


@dataclass(frozen=True, slots=True)
class Reading:
    """What one source says: category → Decision for the optional categories it speaks to."""

    decisions: Mapping[str, Decision]
    malformed: bool = False


MALFORMED = Reading({}, malformed=True)

Reader = Callable[[Mapping[str, str], "ConsentSettings"], "Reading | None"]

_COMPLIANZ_SUFFIXES = (
    "functional",
    "preferences",
    "statistics",
    "marketing",
    "banner-status",
    "consented_services",
    "saved_categories",
    "saved_services",
    "policy_id",
    "id",
)
_COMPLIANZ_PREFIXES = ("cmplz_", "cmplz_rt_")

#: The cookies each reader owns (default names). Cookie purging must never delete these.
READER_COOKIE_NAMES: dict[str, tuple[str, ...]] = {
    "cp_consent": ("cp_consent",),
    "onetrust": ("OptanonConsent", "OptanonAlertBoxClosed"),
    "cookiebot": ("CookieConsent", "CookieConsentBulkTicket"),
    "cookieyes": ("cookieyes-consent",),
    "complianz": tuple(p + s for p in _COMPLIANZ_PREFIXES for s in _COMPLIANZ_SUFFIXES),
    "klaro": ("klaro",),
    "cookieconsent": ("cc_cookie",),
    "borlabs": ("borlabs-cookie",),
    "tarteaucitron": ("tarteaucitron",),
    "didomi": ("didomi_token", "didomi_dcs"),
    "tcf": ("euconsent-v2", "addtl_consent"),
}


def consent_cookie_names(settings: ConsentSettings | None = None) -> frozenset[str]:
    """Every consent cookie name of every reader, including renamed ones from `settings`."""
    names = {n for names in READER_COOKIE_NAMES.values() for n in names}
    if settings is not None:
        names |= {settings.klaro_cookie, settings.cookieconsent_cookie, settings.tarteaucitron_cookie}
        names |= {p + key for p in _COMPLIANZ_PREFIXES for key, _ in settings.complianz_categories}
    return frozenset(names)


def _undecided(source: str, field: str) -> Reading:
    return Reading({c: Decision(State.UNKNOWN, source, field) for c in OPTIONAL_CATEGORIES})


def _all(source: str, state: State, field: str) -> Reading:
    return Reading({c: Decision(state, source, field) for c in OPTIONAL_CATEGORIES})


def _explicit(
    source: str, prefix: str, pairs: Iterable[tuple[Any, str]], values: Mapping[Any, bool | None]
) -> Reading:
    """Combine explicit per-key choices (True/False/None=undecided) into categories."""
    out: dict[str, Decision] = {}
    for key, cat in pairs:
        if cat == NECESSARY or key not in values:
            continue
        v = values[key]
        cur = out.get(cat)
        if cur is not None and cur.state is State.DENIED:
            continue
        field = f"{prefix}{key}"
        if v is False:
            out[cat] = Decision(State.DENIED, source, field)
        elif v is None:
            if cur is None or cur.state is State.GRANTED:
                out[cat] = Decision(State.UNKNOWN, source, field)
        elif cur is None:
            out[cat] = Decision(State.GRANTED, source, field)
        elif cur.state is State.GRANTED:
            out[cat] = Decision(State.GRANTED, source, f"{cur.field},{field}")
    return Reading(out)


def _listed(source: str, prefix: str, pairs: Iterable[tuple[str, str]], listed: Iterable[str]) -> Reading:
    """Categories granted when any of their names is listed, denied otherwise."""
    present = set(listed)
    out: dict[str, Decision] = {}
    for key, cat in pairs:
        if cat == NECESSARY:
            continue
        cur = out.get(cat)
        if key in present:
            if cur is None or cur.state is not State.GRANTED:
                out[cat] = Decision(State.GRANTED, source, f"{prefix}.{key}")
        elif cur is None:
            out[cat] = Decision(State.DENIED, source, prefix)
    return Reading(out)


def _guarded(fn: Reader) -> Reader:
    """Make a reader total: an unexpected error is a malformed value, never an exception."""

    def reader(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
        try:
            return fn(cookies, settings)
        except Exception:
            return MALFORMED

    reader.__name__ = fn.__name__
    reader.__doc__ = fn.__doc__
    return reader


def _too_long(value: object, settings: ConsentSettings) -> bool:
    return not isinstance(value, str) or len(value) > settings.max_value_length


# --- cp_consent -----------------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def _cp_reading(value: str) -> Reading:
    tokens = value.split(".")
    granted = set(tokens[1:])
    if tokens[0] != "v1" or not granted <= set(OPTIONAL_CATEGORIES):
        return MALFORMED
    return Reading(
        {
            c: Decision(State.GRANTED, "cp_consent", f"v1.{c}")
            if c in granted
            else Decision(State.DENIED, "cp_consent", "v1")
            for c in OPTIONAL_CATEGORIES
        }
    )


@_guarded
def read_cp_consent(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """The proxy's own cookie: `v1` then `.category` per granted optional category."""
    value = cookies.get("cp_consent")
    if value is None:
        return None
    if _too_long(value, settings):
        return MALFORMED
    return _cp_reading(value)


# --- OneTrust -------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_onetrust(value: str) -> tuple[str, dict[str, bool]] | None:
    """(undecided reason or "", groups) from the form-encoded OptanonConsent; None if bad."""
    interaction: str | None = None
    reconsent = ""
    groups_raw: str | None = None
    for piece in value.split("&"):
        key, eq, raw = piece.partition("=")
        if not eq:
            continue
        if key == "groups" and groups_raw is None:
            groups_raw = unquote_plus(raw)
        elif key == "interactionCount" and interaction is None:
            interaction = raw
        elif key == "AwaitingReconsent" and not reconsent:
            reconsent = raw
    groups: dict[str, bool] = {}
    if groups_raw is not None:
        for entry in groups_raw.split(","):
            if not entry:
                continue
            gid, colon, flag = entry.partition(":")
            if not colon or not gid or flag not in ("0", "1") or gid in groups:
                return None
            groups[gid] = flag == "1"
    if interaction is not None and not (interaction.isascii() and interaction.isdigit()):
        return None
    if reconsent == "true":
        return "AwaitingReconsent=true", {}
    if interaction is None:
        return "interactionCount absent", {}
    if int(interaction) == 0:
        return "interactionCount=0", {}
    if groups_raw is None:
        return None
    return "", groups


@_guarded
def read_onetrust(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """OneTrust `OptanonConsent` groups, undecided without `OptanonAlertBoxClosed`."""
    value = cookies.get("OptanonConsent")
    if value is None:
        return None
    if _too_long(value, settings):
        return MALFORMED
    parsed = _parse_onetrust(value)
    if parsed is None:
        return MALFORMED
    reason, groups = parsed
    if reason:
        return _undecided("onetrust", reason)
    if not cookies.get("OptanonAlertBoxClosed"):
        return _undecided("onetrust", "OptanonAlertBoxClosed absent")
    return _explicit("onetrust", "groups.", settings.onetrust_groups, groups)


# --- Cookiebot ------------------------------------------------------------------------

# One `key:value` of the JS object literal; values are quoted strings or bare tokens.
_CB_PAIR = re.compile(r"\s*([A-Za-z_$][\w$]*)\s*:\s*('[^']*'|\"[^\"]*\"|[^,'\"{}\[\]]*?)\s*(?:,|$)")


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_cookiebot(value: str) -> dict[str, str] | None:
    """Key → raw value of the CookieConsent JS literal (percent-decoding only: `+` is data)."""
    body = unquote(value).strip()
    if len(body) < 2 or body[0] != "{" or body[-1] != "}":
        return None
    inner, pos, out = body[1:-1], 0, {}
    while pos < len(inner):
        m = _CB_PAIR.match(inner, pos)
        if m is None or m.end() == pos:
            return None
        out.setdefault(m.group(1), m.group(2))
        pos = m.end()
    return out


@_guarded
def read_cookiebot(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """Cookiebot `CookieConsent`: `-1` all granted (consent not required), `0` necessary only."""
    value = cookies.get("CookieConsent")
    if value is None:
        return None
    if _too_long(value, settings):
        return MALFORMED
    if value == "-1":
        return _all("cookiebot", State.GRANTED, "-1")
    if value == "0":
        return _all("cookiebot", State.DENIED, "0")
    fields = _parse_cookiebot(value)
    if fields is None:
        return MALFORMED
    values: dict[str, bool | None] = {}
    for key, _cat in settings.cookiebot_fields:
        raw = fields.get(key)
        if raw is None:
            continue
        if raw not in ("true", "false"):
            return MALFORMED
        values[key] = raw == "true"
    if not values:
        return MALFORMED
    return _explicit("cookiebot", "", settings.cookiebot_fields, values)


# --- CookieYes ------------------------------------------------------------------------

_YES_NO: dict[str, bool | None] = {"yes": True, "no": False, "": None}


@lru_cache(maxsize=_CACHE_SIZE)
def _parse_cookieyes(value: str) -> dict[str, str] | None:
    if "%" in value:
        value = unquote(value)
    out: dict[str, str] = {}
    for piece in value.split(","):
        if not piece:
            continue
        key, colon, raw = piece.partition(":")
        if not colon or not key:
            return None
        out.setdefault(key.strip(), raw.strip())
    return out


@_guarded
def read_cookieyes(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """CookieYes `cookieyes-consent` (`key:yes|no,` list); `action` other than yes = undecided."""
    value = cookies.get("cookieyes-consent")
    if value is None:
        return None
    if _too_long(value, settings):
        return MALFORMED
    fields = _parse_cookieyes(value)
    if fields is None:
        return MALFORMED
    values: dict[str, bool | None] = {}
    for key, _cat in settings.cookieyes_fields:
        raw = fields.get(key)
        if raw is None:
            continue
        if raw not in _YES_NO:
            return MALFORMED
        values[key] = _YES_NO[raw]
    if "action" not in fields and not values:
        return MALFORMED  # not a CookieYes value at all
    if fields.get("action") != "yes":
        return _undecided("cookieyes", "action")
    return _explicit("cookieyes", "", settings.cookieyes_fields, values)


# --- Complianz ------------------------------------------------------------------------

_ALLOW_DENY = {"allow": True, "deny": False}


@_guarded
def read_complianz(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """Complianz `cmplz_<category>` (or multisite `cmplz_rt_<category>`) = allow|deny.

    A missing category cookie leaves that category unknown (the geo defaults then apply:
    Complianz treats a missing cookie as consent in opt-out regions, reference §1.4).
    """
    pairs = settings.complianz_categories
    for prefix in _COMPLIANZ_PREFIXES:
        values: dict[str, bool | None] = {}
        for key, _cat in pairs:
            raw = cookies.get(prefix + key)
            if raw is None:
                continue
            state = _ALLOW_DENY.get(raw) if isinstance(raw, str) else None
            if state is None:
                return MALFORMED
            values[key] = state
        if values:
            return _explicit("complianz", prefix, pairs, values)
    return None


# --- JSON-based formats ---------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def _load_json(text: str, max_containers: int) -> Any:
    """json.loads after capping containers (bounds nesting); a private sentinel if invalid."""
    if text.count("{") + text.count("[") > max_containers:
        return _INVALID
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return _INVALID


_INVALID = object()


def _json_cookie(value: str, settings: ConsentSettings) -> Any:
    """Parse a raw-JSON or percent-encoded-JSON cookie value; `_INVALID` if it is neither."""
    if _too_long(value, settings):
        return _INVALID
    text = value.strip()
    if not text.startswith("{"):
        text = unquote(text, errors="strict").strip()
    return _load_json(text, settings.max_json_containers)


def _str_list(value: Any) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


@_guarded
def read_klaro(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """Klaro `klaro`: %-encoded JSON service → bool; services map to categories in config."""
    value = cookies.get(settings.klaro_cookie)
    if value is None:
        return None
    data = _json_cookie(value, settings)
    if not isinstance(data, dict):
        return MALFORMED
    values: dict[str, bool | None] = {}
    for key, _cat in settings.klaro_services:
        if key in data:
            if not isinstance(data[key], bool):
                return MALFORMED
            values[key] = data[key]
    return _explicit("klaro", "", settings.klaro_services, values)


@_guarded
def read_cookieconsent(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """orestbida cookieconsent `cc_cookie` (v3 %-encoded JSON, v2 raw JSON) `categories`."""
    value = cookies.get(settings.cookieconsent_cookie)
    if value is None:
        return None
    data = _json_cookie(value, settings)
    if not isinstance(data, dict):
        return MALFORMED
    categories = _str_list(data.get("categories"))
    if categories is None:
        return MALFORMED
    required = settings.cookieconsent_revision
    if required is not None:
        revision = data.get("revision")
        if type(revision) is not int or revision != required:
            return _undecided("cookieconsent", "revision")
    return _listed("cookieconsent", "categories", settings.cookieconsent_categories, categories)


@_guarded
def read_borlabs(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """Borlabs `borlabs-cookie`: %-encoded JSON `{consents: {group: [service, ...]}}`."""
    value = cookies.get("borlabs-cookie")
    if value is None:
        return None
    data = _json_cookie(value, settings)
    consents = data.get("consents") if isinstance(data, dict) else None
    if not isinstance(consents, dict):
        return MALFORMED
    groups = []
    for group, services in consents.items():
        services = _str_list(services)
        if services is None:
            return MALFORMED
        if services:
            groups.append(group)
    return _listed("borlabs", "consents", settings.borlabs_groups, groups)


_B64 = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")


@_guarded
def read_didomi(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """Didomi `didomi_token`: base64 JSON with `purposes: {enabled: [...], disabled: [...]}`."""
    value = cookies.get("didomi_token")
    if value is None:
        return None
    if _too_long(value, settings):
        return MALFORMED
    text = unquote(value.strip(), errors="strict")
    if not _B64.fullmatch(text):
        return MALFORMED
    text = text.rstrip("=").replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        data = _load_json(raw.decode("utf-8"), settings.max_json_containers)
    except (binascii.Error, ValueError):
        return MALFORMED
    purposes = data.get("purposes") if isinstance(data, dict) else None
    if not isinstance(purposes, dict):
        return MALFORMED
    enabled = _str_list(purposes.get("enabled", []))
    disabled = _str_list(purposes.get("disabled", []))
    if enabled is None or disabled is None:
        return MALFORMED
    prerequisite = settings.didomi_prerequisite
    if prerequisite is not None and prerequisite in disabled:
        return _all("didomi", State.DENIED, f"purposes.{prerequisite}")
    values: dict[str, bool | None] = {p: True for p in enabled}
    values.update((p, False) for p in disabled)
    return _explicit("didomi", "purposes.", settings.didomi_purposes, values)


# --- tarteaucitron --------------------------------------------------------------------

_TAC_STATES: dict[str, bool | None] = {"true": True, "false": False, "wait": None}


@_guarded
def read_tarteaucitron(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """tarteaucitron `!service=true|false|wait`; `wait` is undecided."""
    value = cookies.get(settings.tarteaucitron_cookie)
    if value is None:
        return None
    if _too_long(value, settings):
        return MALFORMED
    if "%" in value:
        value = unquote(value, errors="strict")
    if not value.startswith("!"):
        return MALFORMED
    values: dict[str, bool | None] = {}
    for piece in value[1:].split("!"):
        if not piece:
            continue
        service, eq, raw = piece.partition("=")
        if not eq or raw not in _TAC_STATES:
            return MALFORMED
        values.setdefault(service, _TAC_STATES[raw])
    return _explicit("tarteaucitron", "", settings.tarteaucitron_services, values)


# --- IAB TCF --------------------------------------------------------------------------


@lru_cache(maxsize=_CACHE_SIZE)
def _tcf(value: str) -> TcfCore | None:
    return decode_core(value)


@_guarded
def read_tcf(cookies: Mapping[str, str], settings: ConsentSettings) -> Reading | None:
    """IAB TCF v2 `euconsent-v2` purposes; purpose 1 denied ⇒ every optional category denied."""
    value = cookies.get("euconsent-v2")
    if value is None:
        return None
    if _too_long(value, settings):
        return MALFORMED
    core = _tcf(value)
    if core is None:
        return MALFORMED
    if core.policy_version < settings.tcf_min_policy_version:
        return _undecided("tcf", f"TcfPolicyVersion={core.policy_version}")
    if 1 not in core.purposes_consent:
        return _all("tcf", State.DENIED, "purposes.1")
    consented = core.purposes_consent
    values = {n: n in consented for n, _cat in settings.tcf_purposes}
    return _explicit("tcf", "purposes.", settings.tcf_purposes, values)


#: Reader name → reader, in the default precedence order.
READERS: dict[str, Reader] = {
    "cp_consent": read_cp_consent,
    "onetrust": read_onetrust,
    "cookiebot": read_cookiebot,
    "cookieyes": read_cookieyes,
    "complianz": read_complianz,
    "klaro": read_klaro,
    "cookieconsent": read_cookieconsent,
    "borlabs": read_borlabs,
    "tarteaucitron": read_tarteaucitron,
    "didomi": read_didomi,
    "tcf": read_tcf,
}
READER_NAMES: tuple[str, ...] = tuple(READERS)
