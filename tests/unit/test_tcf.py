"""proxy.tcf: the IAB TCF v2 core-segment decoder, against real strings and an independent encoder."""

from __future__ import annotations

import base64

from hypothesis import given, settings
from hypothesis import strategies as st

from proxy.tcf import MAX_TC_STRING_LENGTH, decode_core

# Real strings from public captures (shared/reference/consent-formats.md §1.14).
ACCEPT_ALL = (
    "CQbB_cAQbB_cAAHABBENCFFsAP_gAAAAAAAAHXwCAAIAAqABaAFsAUgBZgF5gOvAAAAKSgAwABBd8pABgACC75CADAAEF3x0AGAAILvhIAMAAQXf"
    ".f_wAAAAAAAAA"
)
REJECT_ALL = "CQGiOUAQGiOUAAHABBENBLFgAAAAAAAAAAAAAAAAAAAA.YAAAAAAAAAAA"


def encode_core(
    *,
    version: int = 2,
    created: int = 17633376000,
    cmp_id: int = 7,
    cmp_version: int = 1,
    language: str = "EN",
    vendor_list_version: int = 133,
    policy_version: int = 5,
    special_features: set[int] = frozenset(),
    purposes: set[int] = frozenset(),
    purposes_li: set[int] = frozenset(),
    publisher_cc: str = "DE",
    vendors: set[int] = frozenset(),
    range_encoding: bool = False,
) -> str:
    """An independent TCF v2 core-segment encoder (spec field table), base64url, no padding."""

    def num(value: int, width: int) -> str:
        assert 0 <= value < (1 << width)
        return format(value, f"0{width}b")

    def flags(ids: set[int], width: int) -> str:
        return "".join("1" if i in ids else "0" for i in range(1, width + 1))

    def letters(two: str) -> str:
        return num(ord(two[0]) - 65, 6) + num(ord(two[1]) - 65, 6)

    max_vendor = max(vendors, default=0)
    bits = (
        num(version, 6)
        + num(created, 36)
        + num(created, 36)
        + num(cmp_id, 12)
        + num(cmp_version, 12)
        + num(1, 6)
        + letters(language)
        + num(vendor_list_version, 12)
        + num(policy_version, 6)
        + "1"  # IsServiceSpecific
        + "0"
        + flags(special_features, 12)
        + flags(purposes, 24)
        + flags(purposes_li, 24)
        + "0"
        + letters(publisher_cc)
        + num(max_vendor, 16)
    )
    if range_encoding:
        ordered = sorted(vendors)
        bits += "1" + num(len(ordered), 12) + "".join("0" + num(v, 16) for v in ordered)
    else:
        bits += "0" + flags(vendors, max_vendor)
    bits += "0" * 16 + "000"  # empty vendor-LI section (MaxVendorId 0, bitfield) + no restrictions
    bits += "0" * (-len(bits) % 8)
    raw = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_real_accept_all_string():
    core = decode_core(ACCEPT_ALL)
    assert core is not None
    assert core.version == 2 and core.cmp_id == 7 and core.policy_version == 5
    assert core.consent_language == "EN"
    assert core.purposes_consent == frozenset(range(1, 12))
    assert core.special_feature_opt_ins == {1, 2}
    assert core.max_vendor_id == 943
    assert core.vendor_consented(755)  # Google
    assert not core.vendor_consented(754)


def test_real_reject_all_string():
    core = decode_core(REJECT_ALL)
    assert core is not None
    assert core.purposes_consent == frozenset()
    assert core.special_feature_opt_ins == frozenset()
    assert core.max_vendor_id == 0 and not core.vendor_consented(755)


def test_standard_base64_alphabet_and_padding_are_accepted():
    translated = ACCEPT_ALL.split(".")[0].replace("-", "+").replace("_", "/")
    core = decode_core(translated + "==")
    assert core is not None and core.purposes_consent == frozenset(range(1, 12))


def test_range_encoded_vendors():
    core = decode_core(encode_core(purposes={1}, vendors={2, 755, 943}, range_encoding=True))
    assert core is not None
    assert core.vendor_consented(755) and core.vendor_consented(2) and not core.vendor_consented(3)


def test_rejects_bad_input():
    assert decode_core("") is None
    assert decode_core("CQbB_cAQbB") is None  # truncated before the purposes
    assert decode_core(ACCEPT_ALL[:40]) is None  # truncated inside the vendor section
    assert decode_core("CQbB_cAQbB_cAAHA BENCFFsAP_gAAAA") is None
    assert decode_core('"' + ACCEPT_ALL + '"') is None
    assert decode_core("A" * (MAX_TC_STRING_LENGTH + 1)) is None
    assert decode_core("\udcff" * 40) is None  # surrogateescape'd non-UTF-8 bytes
    assert decode_core(encode_core(version=1)) is None
    assert decode_core(None) is None  # type: ignore[arg-type]


def test_truncated_range_section_is_rejected():
    full = encode_core(purposes={1}, vendors={5, 6, 7}, range_encoding=True)
    cut = full[:40]
    assert decode_core(full) is not None
    assert decode_core(cut) is None


@settings(max_examples=200)
@given(
    purposes=st.sets(st.integers(1, 24)),
    features=st.sets(st.integers(1, 12)),
    vendors=st.sets(st.integers(1, 1200), max_size=20),
    range_encoding=st.booleans(),
    policy=st.integers(0, 63),
    cmp_id=st.integers(0, 4095),
)
def test_roundtrip_with_independent_encoder(purposes, features, vendors, range_encoding, policy, cmp_id):
    encoded = encode_core(
        purposes=purposes,
        special_features=features,
        vendors=vendors,
        range_encoding=range_encoding,
        policy_version=policy,
        cmp_id=cmp_id,
    )
    core = decode_core(encoded)
    assert core is not None
    assert core.purposes_consent == purposes
    assert core.special_feature_opt_ins == features
    assert core.policy_version == policy and core.cmp_id == cmp_id
    assert core.publisher_cc == "DE"
    for v in range(1, 1201):
        assert core.vendor_consented(v) == (v in vendors)


@given(st.text(max_size=300))
def test_never_raises_on_arbitrary_text(text):
    decode_core(text)
