"""Charset detection and round-trips of non-UTF-8 pages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gateway.html import HtmlRewriter, SlotFill
from gateway.html.charset import (
    charset_from_content_type,
    codec_for_label,
    is_scannable,
    prescan_meta,
    sniff_bom,
)
from gateway.stages.prior_blocking import PriorBlocking
from policies.models import Purpose
from policies.purposes import HostIndex

ARABIC = "عرض خاص: مظلة"  # "special offer: umbrella"

_BASE = Path(__file__).parents[3] / "gateway" / "demo" / "policies.base.yaml"
HOSTS = HostIndex.build(
    [Purpose.model_validate(p) for p in yaml.safe_load(_BASE.read_text())["purposes"]]
)


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("text/html; charset=UTF-8", "UTF-8"),
        ('text/html;charset="windows-1256"', "windows-1256"),
        ("text/html; q=1; CHARSET = latin1 ", "latin1"),
        ("text/html", None),
        ("text/html; charset", None),
    ],
)
def test_charset_from_content_type(content_type: str, expected: str | None) -> None:
    assert charset_from_content_type(content_type) == expected


@pytest.mark.parametrize(
    ("label", "codec", "scannable"),
    [
        ("utf-8", "utf-8", True),
        ("UTF8", "utf-8", True),
        # WHATWG Encoding §4.2: latin1 / iso-8859-1 / ascii all mean windows-1252.
        ("ISO-8859-1", "cp1252", True),
        ("latin1", "cp1252", True),
        ("us-ascii", "cp1252", True),
        ("windows-1256", "cp1256", True),
        ("iso-8859-6", "iso8859-6", True),
        ("koi8-r", "koi8-r", True),
        ("shift_jis", "cp932", True),
        ("euc-kr", "cp949", True),
        ("gb2312", "gb18030", True),
        ("big5", "big5hkscs", True),
        # Not ASCII-compatible at the byte level: pass through.
        ("utf-16", "utf-16", False),
        ("utf-16le", "utf-16-le", False),
        ("utf-32", "utf-32", False),
        ("utf-7", "utf-7", False),
        ("iso-2022-jp", "iso2022_jp", False),
        ("cp037", "cp037", False),  # EBCDIC
        ("no-such-charset", None, False),
        ("", None, False),
    ],
)
def test_labels(label: str, codec: str | None, scannable: bool) -> None:
    assert codec_for_label(label) == codec
    assert (codec is not None and is_scannable(codec)) is scannable


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'<meta charset="windows-1256">', "cp1256"),
        (b"<META CHARSET=ISO-8859-1>", "cp1252"),
        (b'<meta http-equiv="Content-Type" content="text/html; charset=koi8-r">', "koi8-r"),
        (b"<meta content='text/html;charset=\"utf-8\"' http-equiv=content-type>", "utf-8"),
        # HTML §13.2.3.2: a <meta> declaring UTF-16 means UTF-8.
        (b'<meta charset="utf-16">', "utf-8"),
        # Declarations inside comments or without http-equiv do not count.
        (b'<!-- <meta charset="koi8-r"> --><meta charset=cp1256>', "cp1256"),
        (b'<meta content="text/html; charset=koi8-r">', None),
        # An unknown label is skipped; a later valid one is taken.
        (b"<meta charset=bogus><meta charset=utf-8>", "utf-8"),
        (b'<title>x</title><meta name="a" content="b">', None),
        (b"<!doctype html><html lang=ar><head><meta charset=windows-1256>", "cp1256"),
        # Past the first 1024 bytes the prescan does not look.
        (b"<!--" + b"x" * 1100 + b'--><meta charset="koi8-r">', None),
    ],
)
def test_prescan_meta(head: bytes, expected: str | None) -> None:
    assert prescan_meta(head) == expected


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"\xef\xbb\xbf<html>", "utf-8"),
        (b"\xff\xfe<\x00", "utf-16-le"),
        (b"\xfe\xff\x00<", "utf-16-be"),
        (b"<html>", None),
    ],
)
def test_sniff_bom(prefix: bytes, expected: str | None) -> None:
    assert sniff_bom(prefix) == expected


def _rewrite(doc: bytes, charset: str | None, contents: dict[str, str]) -> bytes:
    r = HtmlRewriter([SlotFill(contents)], charset=charset)
    out = b"".join(r.feed(doc[i : i + 7]) for i in range(0, len(doc), 7))
    return out + r.close()


def _page(codec: str, meta: bool) -> bytes:
    head = f'<meta charset="{codec}">' if meta else ""
    title, price = ("سوق", "9,50 €") if codec == "windows-1256" else ("Café", "9,50 £")
    return (
        f"<!doctype html><html><head>{head}<title>{title}</title></head><body>"
        f'<p>Prix: {price}</p><div data-slot="hero">ancien</div><p>fin</p></body></html>'
    ).encode(codec)


@pytest.mark.parametrize("meta", [False, True])
def test_windows_1256_page_gets_arabic_in_its_own_charset(meta: bool) -> None:
    page = _page("windows-1256", meta)
    out = _rewrite(page, None if meta else "cp1256", {"hero": ARABIC})
    # windows-1256 can encode Arabic: the bytes are the page's own, no character references.
    assert b"&#" not in out
    assert out.decode("cp1256") == page.decode("cp1256").replace("ancien", ARABIC)


@pytest.mark.parametrize("meta", [False, True])
def test_latin1_page_gets_arabic_as_character_references(meta: bool) -> None:
    page = _page("latin-1", meta)
    out = _rewrite(page, None if meta else "cp1252", {"hero": ARABIC})
    # Latin-1 cannot encode Arabic: numeric character references, which the browser decodes.
    assert out.decode("latin-1") == page.decode("latin-1").replace(
        "ancien", ARABIC.encode("ascii", "xmlcharrefreplace").decode()
    )
    # Every other byte of the page, é and £ included, is untouched.
    assert out.replace(ARABIC.encode("ascii", "xmlcharrefreplace"), b"ancien") == page


def test_non_ascii_slot_name_is_decoded_in_the_page_charset() -> None:
    page = '<div data-slot="عروض">x</div>'.encode("cp1256")
    assert _rewrite(page, "cp1256", {"عروض": "ok"}) == '<div data-slot="عروض">ok</div>'.encode(
        "cp1256"
    )


def test_unknown_charset_inserts_pure_ascii() -> None:
    page = b"<html><body><div data-slot=hero>x</div>\xe9</body></html>"
    out = _rewrite(page, None, {"hero": "é"})
    assert out == b"<html><body><div data-slot=hero>&#233;</div>\xe9</body></html>"


def test_bom_overrides_the_header_and_utf16_is_rewritten_as_utf8() -> None:
    page = "\ufeff<div data-slot=hero>x</div>☔".encode("utf-16-le")
    r = HtmlRewriter([SlotFill({"hero": "y"})], charset="utf-8")
    out = r.feed(page[:5]) + r.feed(page[5:]) + r.close()
    assert out == "\ufeff<div data-slot=hero>y</div>☔".encode()
    assert r.transcoded


@pytest.mark.parametrize(
    ("header", "codec"),
    [
        ("utf-16", "utf-16-le"),
        ("utf-16-le", "utf-16-le"),
        ("utf-16-be", "utf-16-be"),
        ("iso2022_jp", "iso2022_jp"),
    ],
)
def test_unscannable_charsets_are_rewritten_as_utf8_led_by_a_bom(header: str, codec: str) -> None:
    # Fail closed: prior blocking must see the tracker whatever the page's charset. Fed one
    # byte at a time, so multi-byte characters and escape sequences straddle every cut.
    text = "<p>雨の日</p><script src=https://www.googletagmanager.com/gtag/js></script>"
    page = text.encode(codec)
    stage = PriorBlocking({}, HOSTS)
    r = HtmlRewriter([stage], charset=header)
    out = b"".join(r.feed(page[i : i + 1]) for i in range(len(page))) + r.close()
    assert r.transcoded
    assert out.startswith(b"\xef\xbb\xbf")
    decoded = out[3:].decode("utf-8")
    assert "<p>雨の日</p>" in decoded
    assert 'data-consentgate="blocked"' in decoded and " src=" not in decoded
    assert [b.tag for b in stage.blocked] == ["script"]


def test_utf8_bom_page_is_rewritten() -> None:
    page = "\ufeff<div data-slot=hero>x</div>".encode()
    assert _rewrite(page, "cp1252", {"hero": "é"}) == "\ufeff<div data-slot=hero>é</div>".encode()


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        # Nothing declared, UTF-8 bytes: read (and sent) as UTF-8, letters kept.
        ("<p>Caf\u00e9 \u0e44\u0e17\u0e22</p>".encode(), "<p>Caf\u00e9 \u0e44\u0e17\u0e22</p>"),
        # Nothing declared, not UTF-8: windows-1252, the standard's default.
        (b"<p>Caf\xe9</p>", "<p>Caf\u00e9</p>"),
    ],
)
def test_an_undeclared_page_is_read_as_utf8_when_it_is_utf8(page: bytes, expected: str) -> None:
    rewriter = HtmlRewriter([], to_utf8=True)
    out = rewriter.feed(page) + rewriter.close()
    assert out.decode("utf-8").lstrip("\ufeff") == expected
