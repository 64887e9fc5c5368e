import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from consent.signals import gpc_requested, gpc_value_is_on


@pytest.mark.parametrize(
    ("headers", "on"),
    [
        ([], False),
        ([(b"sec-gpc", b"1")], True),
        ([("Sec-GPC", "1")], True),  # names are case-insensitive
        ([(b"SEC-GPC", b"1")], True),
        # RFC 9110 §5.5: surrounding whitespace is not part of the value.
        ([(b"sec-gpc", b" 1\t")], True),
        # GPC spec: anything but exactly "1" is as if the header were absent.
        ([(b"sec-gpc", b"0")], False),
        ([(b"sec-gpc", b"")], False),
        ([(b"sec-gpc", b"true")], False),
        ([(b"sec-gpc", b"01")], False),
        ([(b"sec-gpc", b"1.0")], False),
        ([(b"sec-gpc", b"+1")], False),
        ([(b"sec-gpc", b"1;q=1")], False),
        ([(b"sec-gpc", b"\xef\xbc\x91")], False),  # FULLWIDTH DIGIT ONE
        ([(b"sec-gpc", b"1\x00")], False),
        ([(b"sec-gpc", b"\n1")], False),  # only SP/HTAB are OWS
        # Several headers: any one exactly "1" means on.
        ([(b"sec-gpc", b"0"), (b"sec-gpc", b"1")], True),
        ([(b"sec-gpc", b"1"), (b"sec-gpc", b"0")], True),
        ([(b"sec-gpc", b"0"), (b"sec-gpc", b"yes")], False),
        # RFC 9110 §5.3: an intermediary may have joined them with commas.
        ([(b"sec-gpc", b"0, 1")], True),
        ([(b"sec-gpc", b"0,0")], False),
        # Other headers never count.
        ([(b"dnt", b"1")], False),
        ([(b"sec-gpc-x", b"1")], False),
        ([(b"x-sec-gpc", b"1")], False),
    ],
)
def test_gpc_requested(headers: list[tuple[bytes | str, bytes | str]], on: bool) -> None:
    assert gpc_requested(headers) is on


@given(st.text())
@example("1")
@example(" 1 ")
def test_value_is_on_iff_some_member_is_exactly_one(value: str) -> None:
    members = [m.strip(" \t") for m in value.split(",")]
    assert gpc_value_is_on(value) is ("1" in members)


@given(st.lists(st.binary(max_size=8), max_size=5))
def test_on_iff_some_header_is_on(values: list[bytes]) -> None:
    headers = [(b"sec-gpc", v) for v in values]
    assert gpc_requested(headers) is any(gpc_value_is_on(v) for v in values)
    # A "1" header anywhere switches it on, and order does not matter.
    assert gpc_requested([*headers, (b"Sec-GPC", b"1")]) is True
    assert gpc_requested(list(reversed(headers))) is gpc_requested(headers)
