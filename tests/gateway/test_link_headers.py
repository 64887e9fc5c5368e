"""Link response fields toward a blocked purpose's hosts are dropped (RFC 8288 parsing)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.proxy.link_headers import filter_links, link_values

T = "https://t.example"


def blocked(url: str) -> bool:
    return url.startswith((T, "//t.example"))


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        (f"<{T}/gtm.js>; rel=preload; as=script", None),
        ("</app.css>; rel=preload; as=style", "</app.css>; rel=preload; as=style"),
        (
            f'</a.css>; rel=stylesheet, <{T}/x>; rel="preconnect"; title="a, <b>"',
            "</a.css>; rel=stylesheet",
        ),
        (
            # A comma and a URI inside a quoted-string belong to the param.
            f'<https://ok.example/>; rel=preconnect; title="x, <{T}/>"',
            f'<https://ok.example/>; rel=preconnect; title="x, <{T}/>"',
        ),
        (f'<{T}/a>; rel=preload; title="\\"quoted, \\"", </b>; rel=preload', "</b>; rel=preload"),
        ("<//t.example/dns>; rel=dns-prefetch, </ok>", "</ok>"),
        (f"<{T}/m.js>;rel=modulepreload,<{T}/p>;rel=prerender", None),
        (f"<{T}/d>; rel=compression-dictionary", None),
        (" , ,</ok>; rel=preload,, ", " , ,</ok>; rel=preload,, "),  # untouched: nothing dropped
        ("garbage, </ok>; rel=preload", "</ok>; rel=preload"),  # unparseable: dropped
        (f'</a>; rel="unterminated, <{T}/>', None),
        ("</a>; rel=preload; ; as=style", "</a>; rel=preload; ; as=style"),
        ("<https://ok.example/a,b>; rel=preload", "<https://ok.example/a,b>; rel=preload"),
        (f"<{T}/a> <{T}/b>; rel=preload", None),
        (f"<{T}/x>; rel*=UTF-8''preload", None),
    ],
)
def test_filter_links(value: str, kept: str | None) -> None:
    assert filter_links(value, blocked) == kept


def test_link_values() -> None:
    value = '</a>; rel=preload; title="1,2", <https://b.example/>;rel=preconnect'
    assert list(link_values(value)) == [
        ('</a>; rel=preload; title="1,2"', "/a"),
        ("<https://b.example/>;rel=preconnect", "https://b.example/"),
    ]


_URIS = [f"{T}/a", "//t.example/b", "/ok", "https://ok.example/a,b", "https://ok.example/"]
_PARAMS = [
    "", "; rel=preload", ";rel=preload;as=script", f'; title="a, <{T}/q>"', '; title="\\"q, \\""',
    "; rel*=UTF-8''prefetch", "; ; as=style", ' ; rel="preconnect"',
]  # fmt: skip


@given(
    st.lists(st.tuples(st.sampled_from(_URIS), st.sampled_from(_PARAMS)), min_size=1, max_size=5),
    st.sampled_from([",", ", ", " ,", ",,"]),
)
def test_every_link_toward_a_blocked_host_is_dropped_and_only_those(
    links: list[tuple[str, str]], separator: str
) -> None:
    value = separator.join(f"<{uri}>{params}" for uri, params in links)
    kept = filter_links(value, blocked)
    assert [uri for _, uri in link_values(kept or "")] == [u for u, _ in links if not blocked(u)]
