import pytest

from consent.language import direction, negotiate_language


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, "en"),
        ("", "en"),
        ("ar", "ar"),
        ("ar-SA,ar;q=0.9,en;q=0.8", "ar"),
        ("th-TH", "th"),
        ("fr-FR, th;q=0.5, ar;q=0.4", "th"),
        ("fr, de", "en"),
        ("ar;q=0, th;q=0.1", "th"),
        ("AR-sa", "ar"),
        ("en;q=0.2, ar;q=0.9", "ar"),
        ("ar;q=abc, th", "th"),
        ("ar;q=2", "en"),
        (" , ,, ", "en"),
        ("*;q=0.5, th;q=0.4", "en"),
        ("ar" + ",x" * 2000, "en"),
    ],
)
def test_negotiate_language(header: str | None, expected: str) -> None:
    assert negotiate_language(header) == expected


def test_direction() -> None:
    assert direction("ar") == "rtl"
    assert direction("th") == "ltr"
    assert direction("en") == "ltr"
