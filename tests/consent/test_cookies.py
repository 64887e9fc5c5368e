import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent.cookies import CookieFilter, cookie_names, deletes_cookie, glob_to_regex
from tests.consent.sample import sample_config

FILTER = CookieFilter.build(sample_config().purposes)
NOTHING: dict[str, bool] = {}
ANALYTICS = {"essential": True, "analytics": True, "marketing": False}


@pytest.mark.parametrize(
    ("header", "names"),
    [
        ("_ga=GA1.1.1; Path=/; Max-Age=63072000", ("_ga",)),
        ("  _ga\t=1", ("_ga",)),  # RFC 6265 §5.2 step 4: trim WSP around the name
        ("_ga", ("", "_ga")),  # no "=": a nameless cookie echoed back as "_ga"
        ("=_ga=1; Path=/", ("", "_ga")),  # empty name: echoed as "_ga=1"
        ("=", ("",)),
        ("; Path=/", ("",)),
        ("a=b=c", ("a",)),  # the name ends at the first "="
        ("sess;ion=1", ("", "sess")),  # the pair ends at the first ";"
    ],
)
def test_cookie_names(header: str, names: tuple[str, ...]) -> None:
    assert cookie_names(header) == names


@pytest.mark.parametrize(
    ("header", "granted", "dropped"),
    [
        ("_ga=GA1.1.1; Path=/", NOTHING, True),
        ("_ga=GA1.1.1; Path=/", ANALYTICS, False),
        ("_ga_ABC123=GS1.1; Path=/", NOTHING, True),  # glob _ga_*
        ("_ga_=x", NOTHING, True),  # '*' matches the empty run too
        ("_gat=1", NOTHING, False),  # not _ga, not _ga_*
        ("_GA=1", NOTHING, False),  # names are case-sensitive
        ("x_ga=1", NOTHING, False),  # anchored
        ("IDE=abc; Domain=.doubleclick.net", ANALYTICS, True),
        ("_fbp=fb.1; Path=/", {"marketing": True}, False),
        ("session=abc; HttpOnly", NOTHING, False),  # the shop's own cookie
        ("cart=1", NOTHING, False),
        # Smuggling a tracker id through a nameless cookie.
        ("_ga", NOTHING, True),
        ("=_ga=GA1.1.1", NOTHING, True),
        ("=_ga=GA1.1.1", ANALYTICS, False),
        ("=session=1", NOTHING, False),
        ("garbage", NOTHING, False),
        # RFC 6265 §5.2.2: Max-Age ≤ 0 deletes; always let a deletion through.
        ("_ga=; Max-Age=0; Path=/", NOTHING, False),
        ("_ga=; max-age=-1", NOTHING, False),
        ("_ga=x; Max-Age=0; Max-Age=100", NOTHING, True),  # §5.3: the last one counts
        ("_ga=x; Max-Age=100; Max-Age=0", NOTHING, False),
        ("_ga=x; Max-Age=abc", NOTHING, True),
        ("_ga=x; Max-Age=-", NOTHING, True),
        ("_ga=x; Max-Age=0x0", NOTHING, True),
        ("_ga=x; Max-Age=０", NOTHING, True),  # FULLWIDTH DIGIT ZERO is no digit
        ("_ga=x; Expires=Thu, 01 Jan 1970 00:00:00 GMT", NOTHING, True),
        # A purpose missing from the map counts as not granted.
        ("_ga=1", {"marketing": True}, True),
    ],
)
def test_should_drop(header: str, granted: dict[str, bool], dropped: bool) -> None:
    assert FILTER.should_drop(header, granted) is dropped


def test_keep_preserves_order() -> None:
    headers = ["a=1", "_ga=2", "b=3", "_fbp=4", "c=5"]
    assert FILTER.keep(headers, {"analytics": True}) == ["a=1", "_ga=2", "b=3", "c=5"]


def test_purposes_for() -> None:
    assert FILTER.purposes_for("_ga_XYZ") == ("analytics",)
    assert FILTER.purposes_for("IDE") == ("marketing",)
    assert FILTER.purposes_for("ide") == ()
    assert [pid for pid, _ in FILTER.patterns] == ["analytics", "marketing"]  # one regex each


def test_regex_metacharacters_are_literal() -> None:
    rx = glob_to_regex(["a.b", "c+*"])
    assert rx is not None
    assert rx.fullmatch("a.b") and not rx.fullmatch("axb")
    assert rx.fullmatch("c+") and rx.fullmatch("c+zz") and not rx.fullmatch("cc")
    assert glob_to_regex([]) is None


name_chars = st.sampled_from("abcXYZ_-.09$")


@given(
    st.lists(st.text(name_chars, min_size=1, max_size=4), min_size=1, max_size=3),
    st.text(name_chars, max_size=8),
)
def test_glob_agrees_with_a_simple_oracle(pieces: list[str], name: str) -> None:
    glob = "*".join(pieces)
    rx = glob_to_regex([glob])
    assert rx is not None
    # An independent oracle: fnmatch, safe here as the alphabet has no '?' or '['.
    assert (rx.fullmatch(name) is not None) is fnmatch.fnmatchcase(name, glob)


def test_deletes_cookie() -> None:
    assert deletes_cookie("a=; Max-Age=0")
    assert not deletes_cookie("a=0")
    assert not deletes_cookie("a=1; Path=/")
