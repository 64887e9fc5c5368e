"""`consentgate` commands as real processes: `python -m gateway ARGS` from the repository, with
the repository on PYTHONPATH (`procs.env`), output captured as text."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests import procs


def consentgate(
    *args: str,
    config: Path | str | None = None,
    input: str | None = None,
    cwd: Path = procs.REPO,
    timeout: float = 120,
    extra_env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the command and return it, whatever its exit status (the test asserts on that).

    `config` appends `--config CONFIG`. Without `input` stdin is closed, so a command that
    prompts fails at once instead of hanging the suite."""
    argv = [sys.executable, "-m", "gateway", *args]
    if config is not None:
        argv += ["--config", str(config)]
    feed: dict[str, Any] = {"stdin": subprocess.DEVNULL} if input is None else {"input": input}
    return subprocess.run(
        argv,
        cwd=cwd,
        env=procs.env(extra_env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **feed,
    )


def succeeded(*args: str, **options: Any) -> str:
    """`consentgate(*args, **options)`, which must exit 0; its standard output."""
    done = consentgate(*args, **options)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout
