"""Figures the test suite measures about itself, for the README.

Tests take the session-wide ``figures`` fixture and record what they actually did:

    figures.add("hostile inputs tried", len(CASES))
    figures.add("faults injected and survived")
    figures.set_max("concurrent requests under load", 1000)

At the end of the session the collected figures are written to ``build/figures.json`` (only
figures that tests recorded in this run). ``python -m tests.figures --readme`` rewrites the block
between ``<!-- figures:start -->`` and ``<!-- figures:end -->`` in README.md from that file, so
the README's numbers are the suite's numbers, never typed in by hand.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "build" / "figures.json"
START, END = "<!-- figures:start -->", "<!-- figures:end -->"


class Figures:
    """Named counters; sums for `add`, maxima for `set_max`, plain values for `put`."""

    def __init__(self) -> None:
        self.values: dict[str, int | float | str] = {}
        self.kinds: dict[str, str] = {}  # name -> "add" | "max" | "put", to merge workers'

    def add(self, name: str, n: int = 1) -> None:
        current = self.values.get(name, 0)
        assert isinstance(current, int)
        self.values[name] = current + n
        self.kinds[name] = "add"

    def set_max(self, name: str, value: int | float) -> None:
        current = self.values.get(name)
        if not isinstance(current, int | float) or value > current:
            self.values[name] = value
        self.kinds[name] = "max"

    def put(self, name: str, value: int | float | str) -> None:
        self.values[name] = value
        self.kinds[name] = "put"

    def merge(self, values: dict[str, int | float | str], kinds: dict[str, str]) -> None:
        """Fold in what another process (a pytest-xdist worker) recorded."""
        for name, value in values.items():
            kind = kinds.get(name, "put")
            if kind == "add" and isinstance(value, int):
                self.add(name, value)
            elif kind == "max" and isinstance(value, int | float):
                self.set_max(name, value)
            else:
                self.put(name, value)


_FIGURES = Figures()


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    yield _FIGURES


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: object, error: object) -> None:
    """pytest-xdist: a worker finished; fold its figures into the controller's."""
    output = getattr(node, "workeroutput", {})
    if "figures" in output:
        _FIGURES.merge(output["figures"], output["figure_kinds"])


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    worker_output = getattr(session.config, "workeroutput", None)
    if worker_output is not None:  # a pytest-xdist worker: the controller writes the file
        worker_output["figures"] = _FIGURES.values
        worker_output["figure_kinds"] = _FIGURES.kinds
        return
    if not _FIGURES.values:
        return
    OUTPUT.parent.mkdir(exist_ok=True)
    document = {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tests_passed": exitstatus == 0,
        "figures": dict(sorted(_FIGURES.values.items())),
    }
    OUTPUT.write_text(json.dumps(document, indent=2) + "\n")


def readme_block(document: dict[str, object]) -> str:
    figures = document["figures"]
    assert isinstance(figures, dict)
    lines = [
        START,
        f"From the test suite run of {document['generated_at']} "
        f"(all tests passed: {'yes' if document['tests_passed'] else 'no'}); "
        "regenerate with `python -m tests.figures --readme` after a full run "
        '(`python -m pytest -m ""`: the default run leaves out the slow modules).',
        "",
        "| figure | value |",
        "|---|---|",
    ]
    lines += [f"| {name} | {value} |" for name, value in figures.items()]
    lines.append(END)
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", action="store_true", help="rewrite the README block")
    args = parser.parse_args(argv)
    if not OUTPUT.exists():
        print(f"{OUTPUT}: missing; run the test suite first", file=sys.stderr)
        return 1
    block = readme_block(json.loads(OUTPUT.read_text()))
    if not args.readme:
        print(block)
        return 0
    readme = ROOT / "README.md"
    text = readme.read_text()
    if START not in text or END not in text:
        print(f"{readme}: no {START} … {END} block", file=sys.stderr)
        return 1
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(head + block + tail)
    return 0


if __name__ == "__main__":
    sys.exit(main())
