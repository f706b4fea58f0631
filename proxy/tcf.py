"""Decode the core segment of an IAB TCF v2 TC string (the `euconsent-v2` cookie).

Pure module: no aiohttp, no I/O. Bit layout from the IAB "Consent string and vendor list
formats v2" spec (v2.2/v2.3), summarised in shared/reference/consent-formats.md §1.14:
segments are joined by `.`, the core segment comes first, each segment is base64url without
padding (standard base64 `+/` is accepted too), bits are big-endian, numbered from 0.

Only the core segment is read; DisclosedVendors and PublisherTC segments are ignored.
Strings longer than `MAX_TC_STRING_LENGTH` (4096, as IAB Trusted Server caps them) are
rejected before decoding. `decode_core` never raises: anything it cannot read returns None.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

#: Longest TC string we decode (IAB Trusted Server `consent/tcf.rs` uses the same cap).
MAX_TC_STRING_LENGTH = 4096

# Core-segment field offsets and widths (spec table "TC String core segment").
_VERSION = (0, 6)
_CREATED = (6, 36)
_LAST_UPDATED = (42, 36)
_CMP_ID = (78, 12)
_CMP_VERSION = (90, 12)
_CONSENT_SCREEN = (102, 6)
_CONSENT_LANGUAGE = (108, 12)
_VENDOR_LIST_VERSION = (120, 12)
_POLICY_VERSION = (132, 6)
_IS_SERVICE_SPECIFIC = (138, 1)
_USE_NON_STANDARD_TEXTS = (139, 1)
_SPECIAL_FEATURES = (140, 12)
_PURPOSES_CONSENT = (152, 24)
_PURPOSES_LI = (176, 24)
_PURPOSE_ONE_TREATMENT = (200, 1)
_PUBLISHER_CC = (201, 12)
_MAX_VENDOR_ID = (213, 16)
_IS_RANGE_ENCODING = (229, 1)
_VENDOR_SECTION = 230

_SEGMENT = re.compile(r"[A-Za-z0-9_\-+/]+={0,2}")
_TO_URLSAFE = str.maketrans("+/", "-_")


@dataclass(frozen=True, slots=True)
class TcfCore:
    """The fields of a TC string's core segment that consent decisions need.

    Sets hold 1-based ids (purpose n, special feature n). Vendor consents are kept in the
    encoding's own compact form and queried with `vendor_consented` (a hostile range entry
    can name 65 535 vendors; expanding it would be a memory amplifier).
    """

    version: int
    created: int  # deciseconds since the epoch
    last_updated: int
    cmp_id: int
    cmp_version: int
    consent_screen: int
    consent_language: str
    vendor_list_version: int
    policy_version: int
    is_service_specific: bool
    use_non_standard_texts: bool
    special_feature_opt_ins: frozenset[int]
    purposes_consent: frozenset[int]
    purposes_li: frozenset[int]
    purpose_one_treatment: bool
    publisher_cc: str
    max_vendor_id: int
    vendor_consent_ranges: tuple[tuple[int, int], ...]

    def vendor_consented(self, vendor_id: int) -> bool:
        """Whether vendor `vendor_id` has consent in the core segment."""
        return any(lo <= vendor_id <= hi for lo, hi in self.vendor_consent_ranges)


def decode_core(tc_string: str, max_length: int = MAX_TC_STRING_LENGTH) -> TcfCore | None:
    """Decode the core segment of `tc_string`; None if it is not a well-formed TCF v2 core.

    Never raises. Rejects: non-str input, strings over `max_length`, characters outside
    base64/base64url, Version != 2, a segment too short for the fields (including the
    vendor-consent section, which the spec makes mandatory).
    """
    try:
        return _decode(tc_string, max_length)
    except Exception:  # defence in depth: a decoder bug must not become a 500
        return None


def _decode(tc_string: str, max_length: int) -> TcfCore | None:
    if not isinstance(tc_string, str) or len(tc_string) > max_length:
        return None
    core = tc_string.strip().split(".", 1)[0]
    bits = _segment_bits(core)
    if bits is None or len(bits) < _VENDOR_SECTION:
        return None

    def read(field: tuple[int, int]) -> int:
        off, width = field
        return int(bits[off : off + width], 2)

    if read(_VERSION) != 2:
        return None
    max_vendor = read(_MAX_VENDOR_ID)
    ranges = _vendor_ranges(bits, max_vendor, read(_IS_RANGE_ENCODING) == 1)
    if ranges is None:
        return None
    return TcfCore(
        version=2,
        created=read(_CREATED),
        last_updated=read(_LAST_UPDATED),
        cmp_id=read(_CMP_ID),
        cmp_version=read(_CMP_VERSION),
        consent_screen=read(_CONSENT_SCREEN),
        consent_language=_letters(read(_CONSENT_LANGUAGE)),
        vendor_list_version=read(_VENDOR_LIST_VERSION),
        policy_version=read(_POLICY_VERSION),
        is_service_specific=read(_IS_SERVICE_SPECIFIC) == 1,
        use_non_standard_texts=read(_USE_NON_STANDARD_TEXTS) == 1,
        special_feature_opt_ins=_flags(bits, *_SPECIAL_FEATURES),
        purposes_consent=_flags(bits, *_PURPOSES_CONSENT),
        purposes_li=_flags(bits, *_PURPOSES_LI),
        purpose_one_treatment=read(_PURPOSE_ONE_TREATMENT) == 1,
        publisher_cc=_letters(read(_PUBLISHER_CC)),
        max_vendor_id=max_vendor,
        vendor_consent_ranges=ranges,
    )


def _segment_bits(segment: str) -> str | None:
    """The segment as a string of '0'/'1', MSB first; None if it is not base64(url)."""
    if not _SEGMENT.fullmatch(segment):
        return None
    data = segment.rstrip("=").translate(_TO_URLSAFE)
    if len(data) % 4 == 1:  # no byte string encodes to this length
        return None
    try:
        raw = base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))
    except (binascii.Error, ValueError):
        return None
    if not raw:
        return None
    return format(int.from_bytes(raw, "big"), f"0{len(raw) * 8}b")


def _flags(bits: str, off: int, width: int) -> frozenset[int]:
    """1-based positions of the set bits in bits[off:off+width]."""
    return frozenset(i + 1 for i, b in enumerate(bits[off : off + width]) if b == "1")


def _letters(value: int) -> str:
    """Two 6-bit letters (A=0), as ConsentLanguage and PublisherCC are encoded."""
    return chr(65 + (value >> 6)) + chr(65 + (value & 0x3F))


def _vendor_ranges(bits: str, max_vendor: int, is_range: bool) -> tuple[tuple[int, int], ...] | None:
    """Consented vendor ids as sorted-by-appearance inclusive ranges; None if truncated."""
    pos = _VENDOR_SECTION
    if not is_range:
        field = bits[pos : pos + max_vendor]
        if len(field) < max_vendor:
            return None
        # Runs of '1' become ranges; str.find keeps this linear in C, not per bit in Python.
        out: list[tuple[int, int]] = []
        start = field.find("1")
        while start != -1:
            end = field.find("0", start)
            if end == -1:
                end = max_vendor
            out.append((start + 1, end))
            start = field.find("1", end)
        return tuple(out)
    if len(bits) < pos + 12:
        return None
    entries = int(bits[pos : pos + 12], 2)
    pos += 12
    ranges: list[tuple[int, int]] = []
    for _ in range(entries):
        if len(bits) < pos + 17:
            return None
        is_a_range = bits[pos] == "1"
        lo = int(bits[pos + 1 : pos + 17], 2)
        pos += 17
        hi = lo
        if is_a_range:
            if len(bits) < pos + 16:
                return None
            hi = int(bits[pos : pos + 16], 2)
            pos += 16
        if lo < 1 or hi < lo or hi > max_vendor:
            return None
        ranges.append((lo, hi))
    return tuple(ranges)
