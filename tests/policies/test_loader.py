"""`policies.loader`: every error kind lands on its exact FILE:LINE, all errors at once."""

from __future__ import annotations

import hashlib
import os
import string
import tempfile
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from personalization_rules.rules import check_rule_files
from policies import loader
from policies.loader import ConfigError, ConfigInvalid, LoadedConfig, RuleCheck
from policies.models import Config
from policies.rule_files import RuleFile

REPO = Path(__file__).resolve().parents[2]


def load_config(path: Path, overrides: Mapping[str, object] | None = None) -> LoadedConfig:
    """The loader with the rule schema the gateway plugs in (`gateway.wiring`)."""
    return loader.load_config(path, overrides, check_rules=check_rule_files)


# A purpose that passes validation; cases splice one bad field into it.
PURPOSE = """\
  - id: analytics
    names: {en: Analytics, ar: التحليلات, th: การวิเคราะห์}
    descriptions: {en: Counts visits, ar: تحسب الزيارات, th: นับการเข้าชม}
    legal_basis: consent
    data_uses: [analytics.reporting]
"""


def write(directory: Path, files: Mapping[str, str | bytes]) -> Path:
    """Write `files` (name → text) under `directory`; return the path of `policies.yaml`."""
    for name, content in files.items():
        target = directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(textwrap.dedent(content), encoding="utf-8")
    return directory / "policies.yaml"


def errors_of(config: Path, overrides: Mapping[str, object] | None = None) -> list[ConfigError]:
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config, overrides)
    assert caught.value.errors, "ConfigInvalid must carry at least one error"
    return caught.value.errors


def lines_of(errors: list[ConfigError]) -> list[tuple[str, int, str]]:
    return [(e.file.name, e.line, e.message) for e in errors]


# (case id, policies.yaml, expected (line, message) pairs in order)
CONFIG_CASES: list[tuple[str, str, list[tuple[int, str]]]] = [
    (
        "unknown key, close to a real one",
        "gateway:\n  upstream: http://shop\n  upstrem: http://x\n",
        [(3, "gateway.upstrem: unknown key 'upstrem', did you mean 'upstream'?")],
    ),
    (
        "unknown top-level key",
        "gateway:\n  upstream: http://shop\n\n\ngatway: {}\n",
        [(5, "gatway: unknown key 'gatway', did you mean 'gateway'?")],
    ),
    (
        "unknown key, nothing close",
        "gateway:\n  upstream: http://shop\n  timeouts:\n    zzz: 1\n",
        [(4, "gateway.timeouts.zzz: unknown key 'zzz'")],
    ),
    (
        "wrong type: string for an integer",
        "gateway:\n  upstream: http://shop\n  port: abc\n",
        [
            (
                3,
                "gateway.port: Input should be a valid integer, unable to parse string as an "
                "integer (got 'abc')",
            )
        ],
    ),
    (
        "wrong type: scalar for a section",
        "gateway:\n  upstream: http://shop\nstorage: 5\n",
        [(3, "storage: expected a mapping (key: value) (got 5)")],
    ),
    (
        "wrong type: string for a list",
        "gateway:\n  upstream: http://shop\n  trusted_proxies: 10.0.0.0/8\n",
        [(3, "gateway.trusted_proxies: expected a list (got '10.0.0.0/8')")],
    ),
    (
        "wrong type: list for a string",
        "gateway:\n  upstream: http://shop\n  host:\n    - a\n",
        [(3, "gateway.host: Input should be a valid string (got a list)")],
    ),
    (
        "out of range",
        "gateway:\n  upstream: http://shop\n  port: 70000\n",
        [(3, "gateway.port: Input should be less than or equal to 65535 (got 70000)")],
    ),
    (
        "missing required key: reported on its parent mapping",
        "# comment\n\ngateway:\n  host: 127.0.0.1\n",
        [(3, "gateway: missing required key 'upstream'")],
    ),
    (
        "missing required section: reported on the document",
        "\n\nstorage: {}\n",
        [(3, "missing required key 'gateway'")],
    ),
    (
        "empty file",
        "",
        [(1, "missing required key 'gateway'")],
    ),
    (
        "top level is a list",
        "\n- gateway\n",
        [(2, "expected a mapping (key: value) (got a list)")],
    ),
    (
        "bad URL",
        "gateway:\n  upstream: ftp://shop\n",
        [
            (
                2,
                "gateway.upstream must be an http:// or https:// URL with a host "
                "(got 'ftp://shop')",
            )
        ],
    ),
    (
        "bad CIDR: host bits set",
        "gateway:\n  upstream: http://shop\n  trusted_proxies:\n    - 10.0.0.0/8\n"
        "    - 10.0.0.1/8\n",
        [
            (
                5,
                "gateway.trusted_proxies[1]: '10.0.0.1/8' is not a CIDR network such as "
                "10.0.0.0/8: 10.0.0.1/8 has host bits set",
            )
        ],
    ),
    (
        "bad CIDR: not an address",
        "gateway:\n  upstream: http://shop\n  trusted_proxies: [10.0.0.0/8, '::1/128', nope]\n",
        [
            (
                3,
                "gateway.trusted_proxies[2]: 'nope' is not a CIDR network such as 10.0.0.0/8: "
                "'nope' does not appear to be an IPv4 or IPv6 network",
            )
        ],
    ),
    (
        "embed origin with a path and a second CSP directive",
        "gateway:\n  upstream: http://shop\n  embed_origins:\n    - https://shop.example\n"
        "    - 'https://a/b; script-src *'\n",
        [
            (
                3,
                "gateway.embed_origins: 'https://a/b; script-src *' is not an origin such as "
                "https://shop.example or self (scheme, host and port only; no path, wildcard or "
                "credentials)",
            )
        ],
    ),
    (
        "embed origin that is a wildcard",
        "gateway:\n  upstream: http://shop\n  embed_origins: ['https://*.shop.example']\n",
        [
            (
                3,
                "gateway.embed_origins: 'https://*.shop.example' is not an origin such as "
                "https://shop.example or self (scheme, host and port only; no path, wildcard or "
                "credentials)",
            )
        ],
    ),
    (
        "wildcard proxy",
        "gateway:\n  upstream: http://shop\n  trusted_proxies: ['*']\n",
        [(3, "gateway.trusted_proxies must list explicit addresses, never '*' or /0")],
    ),
    (
        "bad cookie glob",
        "gateway: {upstream: http://shop}\npurposes:\n" + PURPOSE + "    cookies: ['a b']\n",
        [
            (
                8,
                "purposes[0].cookies: cookie pattern 'a b' may hold only cookie-name "
                "characters and '*'",
            )
        ],
    ),
    (
        "bad host pattern",
        "gateway: {upstream: http://shop}\npurposes:\n" + PURPOSE + "    hosts: ['*.com']\n",
        [(8, "purposes[0].hosts: '*.com' is too broad: '*.' needs a registrable domain after it")],
    ),
    (
        "union: a value neither member accepts is judged once",
        "gateway: {upstream: http://shop}\npurposes:\n" + PURPOSE + "    mechanism: bogus\n",
        [
            (
                8,
                "purposes[0].mechanism: Input should be 'opt_in', 'opt_out' or 'notice_only' "
                "(got 'bogus')",
            )
        ],
    ),
    (
        "union: a mapping is judged as the mapping member",
        "gateway: {upstream: http://shop}\npurposes:\n"
        + PURPOSE
        + "    mechanism:\n      gdpr: opt_in\n      default: sometimes\n",
        [
            (
                10,
                "purposes[0].mechanism.default: Input should be 'opt_in', 'opt_out' or "
                "'notice_only' (got 'sometimes')",
            )
        ],
    ),
    (
        "missing key inside a list item: line of the item",
        "gateway: {upstream: http://shop}\npurposes:\n  - id: x\n    legal_basis: consent\n"
        "    names: {en: a, ar: b, th: c}\n    descriptions: {en: a, ar: b, th: c}\n",
        [(3, "purposes[0]: missing required key 'data_uses'")],
    ),
    (
        "Norway problem",
        "gateway: {upstream: http://shop}\nregimes:\n  default: {}\n  gdpr:\n"
        "    countries: [SE, NO]\n",
        [(5, 'regimes.gdpr.countries: a country code was read as true/false: quote it, e.g. "NO"')],
    ),
    (
        "duplicate key",
        "gateway:\n  upstream: http://shop\n  port: 1\n  host: a\n  port: 2\n",
        [(5, "duplicate key 'port' (first at line 3)")],
    ),
    (
        "duplicate section",
        "gateway:\n  upstream: http://shop\nstorage: {}\ngateway:\n  upstream: http://b\n",
        [(4, "duplicate key 'gateway' (first at line 1)")],
    ),
    (
        "YAML syntax error: line from the parser",
        "gateway:\n  upstream: http://shop\n  port: [1, 2\nstorage: {}\n",
        [
            (
                4,
                "YAML syntax error: while parsing a flow sequence, expected ',' or ']', "
                "but got ':' (started at line 3)",
            )
        ],
    ),
    (
        "YAML syntax error: bad indentation",
        "gateway:\n  upstream: http://shop\n port: 1\n",
        [
            (
                3,
                "YAML syntax error: while parsing a block mapping, expected <block end>, "
                "but found '<block mapping start>' (started at line 1)",
            )
        ],
    ),
    (
        "YAML control character",
        "gateway:\n  upstream: http://shop\n  host: a\x07b\n",
        [(3, "character #x0007: special characters are not allowed")],
    ),
    (
        "explicit tag that cannot be read",
        "gateway:\n  upstream: http://shop\n  port: !!int abc\n",
        [(3, "cannot read 'abc' as !!int")],
    ),
    (
        "two documents",
        "gateway: {upstream: http://shop}\n---\nx: 1\n",
        [
            (
                2,
                "YAML syntax error: expected a single document in the stream, but found another "
                "document (started at line 1)",
            )
        ],
    ),
    (
        "missing file: on the line of the key naming it",
        "gateway: {upstream: http://shop}\ngeo:\n  optional: false\n  database: nope.mmdb\n",
        [(4, "geo.database: not found: {dir}/nope.mmdb")],
    ),
    (
        "missing catalog",
        "gateway: {upstream: http://shop}\n\ncatalog: sub/products.json\n",
        [(3, "catalog: not found: {dir}/sub/products.json")],
    ),
    (
        "missing rules directory that the config names",
        "gateway: {upstream: http://shop}\nrules:\n  directory: my-rules\n",
        [(3, "rules.directory: not found: {dir}/my-rules")],
    ),
    (
        "NUL in a path",
        'gateway: {upstream: http://shop}\ncatalog: "a\\0b"\n',
        [(2, "catalog: a path cannot contain a NUL character")],
    ),
    (
        "offline weather without a file",
        "gateway: {upstream: http://shop}\nweather:\n  provider: offline\n",
        [(3, "weather: provider 'offline' needs weather.offline_file")],
    ),
    (
        "offline weather file missing",
        "gateway: {upstream: http://shop}\nweather:\n  provider: offline\n  offline_file: w.json\n",
        [(4, "weather.offline_file: not found: {dir}/w.json")],
    ),
    (
        "unparseable storage URL",
        "gateway: {upstream: http://shop}\nstorage:\n  url: 'postgresql+asyncpg://u@h:port/db'\n",
        [(3, "storage.url: not a database URL: invalid literal for int() with base 10: 'port'")],
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES]
)
def test_config_errors_name_the_exact_line(
    tmp_path: Path, text: str, expected: list[tuple[int, str]]
) -> None:
    config = write(tmp_path, {"policies.yaml": text})
    found = [(e.line, e.message) for e in errors_of(config)]
    assert found == [(line, m.format(dir=tmp_path)) for line, m in expected]
    assert all(e.file == config for e in errors_of(config))


def test_optional_geo_database_may_be_missing(tmp_path: Path) -> None:
    text = "gateway: {upstream: http://shop}\ngeo: {database: nope.mmdb, optional: true}\n"
    loaded = load_config(write(tmp_path, {"policies.yaml": text}))
    assert loaded.config.geo.database == tmp_path / "nope.mmdb"


def test_reports_all_errors_at_once_in_line_order(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        {
            "policies.yaml": """\
                version: 1
                gateway:
                  upstrem: http://shop
                  port: -1
                storage:
                  url: mysql://db
                catalog: missing.json
                geo:
                  database: missing.mmdb
                  database: again.mmdb
                """,
            "rules/a.yaml": "rules:\n  - 1\n",
            "rules/b.yaml": "rulez: []\n",
        },
    )
    assert lines_of(errors_of(config)) == [
        ("policies.yaml", 2, "gateway: missing required key 'upstream'"),
        ("policies.yaml", 3, "gateway.upstrem: unknown key 'upstrem', did you mean 'upstream'?"),
        ("policies.yaml", 4, "gateway.port: Input should be greater than or equal to 0 (got -1)"),
        (
            "policies.yaml",
            6,
            "storage.url must start with sqlite+aiosqlite:// or postgresql+asyncpg:// "
            "(got 'mysql://db')",
        ),
        ("policies.yaml", 7, f"catalog: not found: {tmp_path}/missing.json"),
        ("policies.yaml", 10, "duplicate key 'database' (first at line 9)"),
        ("policies.yaml", 10, f"geo.database: not found: {tmp_path}/again.mmdb"),
        ("a.yaml", 2, "rules[0]: expected a mapping"),
        ("b.yaml", 1, "unknown key 'rulez', did you mean 'rules'?"),
        ("b.yaml", 1, "missing required key 'rules'"),
    ]


RULE_FILE_CASES: list[tuple[str, str | bytes, list[tuple[int, str]]]] = [
    ("not a mapping", "- a\n", [(1, "a rule file must be a mapping with a 'rules:' list")]),
    ("empty", "# nothing yet\n", [(1, "a rule file must be a mapping with a 'rules:' list")]),
    ("rules not a list", "\nrules: {a: 1}\n", [(2, "rules: expected a list of rules")]),
    ("rules null", "rules:\n", [(1, "rules: expected a list of rules")]),
    (
        "item not a mapping",
        "rules:\n  - slot: a\n  - just text\n",
        [(3, "rules[1]: expected a mapping")],
    ),
    (
        "duplicate key in a rule",
        "rules:\n  - a: 1\n    a: 2\n",
        [(3, "duplicate key 'a' (first at line 2)")],
    ),
    (
        "syntax error",
        "rules:\n  - a: 'open\n",
        [
            (
                3,
                "YAML syntax error: while scanning a quoted scalar, found unexpected end of "
                "stream (started at line 2)",
            )
        ],
    ),
    ("not UTF-8", b"rules:\n  - a: \xff\n", [(2, "not valid UTF-8 text (invalid start byte)")]),
]


@pytest.mark.parametrize(
    ("text", "expected"), [c[1:] for c in RULE_FILE_CASES], ids=[c[0] for c in RULE_FILE_CASES]
)
def test_rule_file_errors_name_the_exact_line(
    tmp_path: Path, text: str | bytes, expected: list[tuple[int, str]]
) -> None:
    config = write(
        tmp_path,
        {"policies.yaml": "gateway: {upstream: http://shop}\n", "rules/hero.yaml": text},
    )
    errors = errors_of(config)
    assert [(e.line, e.message) for e in errors] == expected
    assert all(e.file == tmp_path / "rules" / "hero.yaml" for e in errors)


CATALOG_CASES: list[tuple[str, str, str, list[tuple[int, str]]]] = [
    (
        "bad JSON",
        "c.json",
        '{\n  "a": 1,\n}\n',
        [(3, "invalid JSON: Expecting property name enclosed in double quotes (column 1)")],
    ),
    (
        "CSV row too long",
        "c.csv",
        "id,name\n1,a\n2,b,c\n",
        [(3, "CSV row has 3 fields, the header has 2")],
    ),
    ("CSV stray quote", "c.csv", 'id,name\n1,"a\n', [(2, "invalid CSV: unexpected end of data")]),
    ("CSV empty", "c.csv", "", [(1, "CSV catalog is empty (a header row is required)")]),
    ("unknown format", "c.xml", "<a/>", [(0, "a catalog must be a .json or .csv file")]),
]


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [c[1:] for c in CATALOG_CASES],
    ids=[c[0] for c in CATALOG_CASES],
)
def test_catalog_errors_name_the_exact_line(
    tmp_path: Path, name: str, text: str, expected: list[tuple[int, str]]
) -> None:
    config = write(
        tmp_path,
        {"policies.yaml": f"gateway: {{upstream: http://shop}}\ncatalog: {name}\n", name: text},
    )
    errors = errors_of(config)
    assert [(e.line, e.message) for e in errors] == expected
    assert all(e.file == tmp_path / name for e in errors)


def test_missing_config_file_is_one_error_on_line_0(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    errors = errors_of(missing)
    assert [str(e) for e in errors] == [f"{missing}:0: config file not found"]


def test_config_path_that_is_a_directory(tmp_path: Path) -> None:
    [error] = errors_of(tmp_path)
    assert (error.file, error.line) == (tmp_path, 0)
    assert error.message.startswith("cannot read config file: ")


def test_config_not_utf8_names_the_line(tmp_path: Path) -> None:
    config = write(tmp_path, {"policies.yaml": b"gateway:\n  upstream: http://\xc3(\n"})
    assert lines_of(errors_of(config)) == [
        ("policies.yaml", 2, "not valid UTF-8 text (invalid continuation byte)")
    ]


def test_utf16_with_bom_is_read(tmp_path: Path) -> None:
    text = "gateway: {upstream: http://shop}\n"
    config = write(tmp_path, {"policies.yaml": b"\xff\xfe" + text.encode("utf-16-le")})
    assert load_config(config).config.gateway.upstream == "http://shop"


def test_error_str_is_file_line_message(tmp_path: Path) -> None:
    config = write(tmp_path, {"policies.yaml": "gateway:\n  upstream: http://shop\n  port: x\n"})
    with pytest.raises(ConfigInvalid) as caught:
        load_config(config)
    assert str(caught.value).startswith(f"{config}:3: gateway.port: ")
    assert "\n" not in str(caught.value)


# --- overrides ------------------------------------------------------------------------------


def test_overrides_replace_config_values(tmp_path: Path) -> None:
    config = write(tmp_path, {"policies.yaml": "gateway:\n  upstream: http://shop\n  port: 1\n"})
    loaded = load_config(
        config, {"upstream": "https://other:8443/", "port": 9000, "host": None, "workers": 2}
    )
    settings = loaded.config.gateway
    assert (settings.upstream, settings.port, settings.host, settings.workers) == (
        "https://other:8443",
        9000,
        "127.0.0.1",
        2,
    )


def test_override_fills_a_missing_required_key(tmp_path: Path) -> None:
    config = write(tmp_path, {"policies.yaml": "storage: {}\n"})
    loaded = load_config(config, {"upstream": "http://shop"})
    assert loaded.config.gateway.upstream == "http://shop"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"upstream": "ftp://shop"},
            "--upstream must be an http:// or https:// URL with a host (got 'ftp://shop')",
        ),
        ({"port": 70000}, "--port: Input should be less than or equal to 65535 (got 70000)"),
        ({"workers": 0}, "--workers: Input should be greater than or equal to 1 (got 0)"),
        ({"prefix": "/x"}, "--prefix: cannot be overridden"),
    ],
)
def test_invalid_override_names_the_flag(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    config = write(tmp_path, {"policies.yaml": "gateway:\n  upstream: http://shop\n"})
    assert [(e.line, e.message) for e in errors_of(config, overrides)] == [(0, message)]


# --- resolution and fingerprint -------------------------------------------------------------


def test_relative_paths_resolve_against_the_config_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    write(
        site,
        {
            "policies.yaml": """\
                gateway: {upstream: http://shop}
                storage: {url: "sqlite+aiosqlite:///data/../gw.db"}
                geo: {database: geo/city.mmdb}
                weather: {provider: offline, offline_file: weather.json}
                rules: {directory: my-rules}
                catalog: ../shared/catalog.csv
                """,
            "geo/city.mmdb": b"",
            "weather.json": "{}",
            "my-rules/hero.yaml": "rules: []\n",
        },
    )
    write(tmp_path, {"shared/catalog.csv": "id,name\n1,a\n"})
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(Path("../site/policies.yaml"))
    c = loaded.config
    assert c.storage.url == f"sqlite+aiosqlite:///{site}/gw.db"
    assert c.geo.database == site / "geo" / "city.mmdb"
    assert c.weather.offline_file == site / "weather.json"
    assert c.rules.directory == site / "my-rules"
    assert c.catalog == tmp_path / "shared" / "catalog.csv"
    assert [f.path for f in loaded.rule_files] == [site / "my-rules" / "hero.yaml"]
    assert loaded.rule_files[0].rules == []
    assert loaded.path == Path("../site/policies.yaml")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (None, "sqlite+aiosqlite:///{dir}/consentgate.db"),  # the default names a relative file
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
        ("postgresql+asyncpg://u@db/test", "postgresql+asyncpg://u@db/test"),
        ("sqlite+aiosqlite:///:memory:", "sqlite+aiosqlite:///:memory:"),  # the store refuses it
    ],
)
def test_storage_url_resolution(tmp_path: Path, url: str | None, expected: str) -> None:
    storage = "" if url is None else f"storage: {{url: '{url}'}}\n"
    config = write(tmp_path, {"policies.yaml": "gateway: {upstream: http://shop}\n" + storage})
    assert load_config(config).config.storage.url == expected.format(dir=tmp_path)


def _framed(label: str, data: bytes) -> bytes:
    return label.encode() + b"\0" + len(data).to_bytes(8, "big") + data


RULE_A = "rules: [{id: a, slot: hero-banner, then: {banner: {template: a}}}]\n"


def test_sha256_covers_config_rule_files_and_catalog_as_documented(tmp_path: Path) -> None:
    text = "gateway: {upstream: http://shop}\ncatalog: c.json\n"
    config = write(
        tmp_path,
        {
            "policies.yaml": text,
            "c.json": "[]",
            "rules/b.yaml": "rules: []\n",
            "rules/a.yaml": RULE_A,
            "rules/.a.yaml": "editor backup: skipped\n",
            "rules/notes.txt": "not a rule file",
        },
    )
    expected = hashlib.sha256(
        _framed("config", text.encode())
        + _framed("rules/a.yaml", RULE_A.encode())
        + _framed("rules/b.yaml", b"rules: []\n")
        + _framed("catalog", b"[]")
    ).hexdigest()
    first = load_config(config)
    assert first.sha256 == expected
    (tmp_path / "rules" / "b.yaml").write_text(RULE_A.replace("id: a", "id: b"))
    assert load_config(config).sha256 != expected


def test_sha256_of_a_lone_config(tmp_path: Path) -> None:
    text = "gateway: {upstream: http://shop}\n"
    config = write(tmp_path, {"policies.yaml": text})
    assert (
        load_config(config).sha256 == hashlib.sha256(_framed("config", text.encode())).hexdigest()
    )


class _NoEnvironment(dict[str, str]):
    def __getitem__(self, key: str) -> str:
        raise AssertionError(f"load_config read ${key}")

    def get(self, key: str, default: object = None) -> str:
        raise AssertionError(f"load_config read ${key}")

    def __contains__(self, key: object) -> bool:
        raise AssertionError(f"load_config looked for ${key}")


def test_does_not_read_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = write(
        tmp_path,
        {"policies.yaml": "gateway: {upstream: http://shop}\n", "rules/a.yaml": "rules: []"},
    )
    # Swapped only around the call: pytest itself reads the environment between phases.
    real = os.environ
    os.environ = _NoEnvironment()  # type: ignore[assignment]  # noqa: B003
    try:
        loaded = load_config(config)
    finally:
        os.environ = real  # noqa: B003
    assert loaded.config.gateway.upstream == "http://shop"


def test_the_example_policies_yaml_loads() -> None:
    loaded = load_config(REPO / "policies.yaml")
    assert isinstance(loaded, LoadedConfig)
    assert loaded.config.gateway.upstream == "http://127.0.0.1:8081"
    assert loaded.config.storage.url.startswith("sqlite+aiosqlite:////")
    assert loaded.config.geo.optional is True
    assert loaded.config.rules.directory == REPO / "rules"
    assert loaded.rule_files, "the example rules/ folder holds at least one rule file"


# --- never anything but ConfigInvalid -------------------------------------------------------


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as directory:
        yield Path(directory)


YAML_CHARS = string.ascii_letters + string.digits + " \n\t:-[]{},'\"#&*!|>%@`?.<=\\/\x00\x07é"
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
keys = st.sampled_from(
    [
        "gateway",
        "upstream",
        "port",
        "storage",
        "url",
        "geo",
        "database",
        "rules",
        "directory",
        "catalog",
        "purposes",
        "regimes",
        "trusted_proxies",
        "policy",
        "version",
        "id",
        "x",
    ]
)
trees = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5)
)


def _outcome(config: Path) -> None:
    try:
        load_config(config)
    except ConfigInvalid as exc:
        for error in exc.errors:
            assert isinstance(error.line, int) and error.line >= 0
            assert error.message


@given(st.text(alphabet=YAML_CHARS, max_size=300))
@example("a: &a [*a]")  # recursive alias
@example("a: " + "[" * 5000)  # composer recursion
@example("port: 2020-13-45")  # impossible timestamp
@example("gateway: {upstream: !!binary aGk=}")
@example("? [a]\n: b")  # a list as a mapping key
@example("a: !!timestamp x")
def test_garbage_text_only_raises_config_invalid(scratch: Path, text: str) -> None:
    config = scratch / "garbage.yaml"
    config.write_text(text, encoding="utf-8", errors="surrogatepass")
    _outcome(config)


@given(trees)
@example({"catalog": "\x00"})  # a NUL in a path made read_bytes raise ValueError
def test_random_yaml_trees_only_raise_config_invalid(scratch: Path, tree: object) -> None:
    config = scratch / "tree.yaml"
    config.write_text(yaml.safe_dump({"gateway": tree} if isinstance(tree, list) else tree))
    _outcome(config)


@given(st.binary(max_size=200))
def test_random_bytes_only_raise_config_invalid(scratch: Path, raw: bytes) -> None:
    config = scratch / "bytes.yaml"
    config.write_bytes(raw)
    _outcome(config)


def test_embed_origins_are_normalised(tmp_path: Path) -> None:
    text = "gateway:\n  upstream: http://shop\n  embed_origins: [HTTPS://Shop.Example:8443, self]\n"
    loaded = load_config(write(tmp_path, {"policies.yaml": text}))
    assert loaded.config.gateway.embed_origins == ["https://shop.example:8443", "'self'"]


def test_the_rule_check_is_the_callers_and_runs_on_a_valid_config(tmp_path: Path) -> None:
    seen: list[tuple[str, ...]] = []

    def check(files: Sequence[RuleFile], config: Config) -> list[ConfigError]:
        seen.append(tuple(f.path.name for f in files))
        return [ConfigError(files[0].path, 7, "checked")]

    checker: RuleCheck = check
    config = write(
        tmp_path,
        {"policies.yaml": "gateway: {upstream: http://shop}\n", "rules/a.yaml": "rules: []\n"},
    )
    with pytest.raises(ConfigInvalid) as caught:
        loader.load_config(config, check_rules=checker)
    assert seen == [("a.yaml",)]
    assert [(e.file.name, e.line, e.message) for e in caught.value.errors] == [
        ("a.yaml", 7, "checked")
    ]
