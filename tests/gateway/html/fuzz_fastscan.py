"""Memory-safety fuzzing of the native scanner under AddressSanitizer (not part of pytest).

    python tests/gateway/html/fuzz_fastscan.py [CASES] [SEED]

Builds `gateway/html/_fastscan.c` with `-fsanitize=address,undefined` into a temporary folder,
then runs itself again with the sanitizer runtime preloaded and Python's allocator off
(`PYTHONMALLOC=malloc`), feeding random markup in buffers of exactly its length (ctypes, no
trailing NUL), so a read one byte past a buffer is reported. Needs gcc and libasan (Debian's
gcc ships both). The equivalence with the regexes is tests/gateway/html/test_fastscan.py.
"""

from __future__ import annotations

import ctypes
import os
import random
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[3] / "gateway" / "html" / "_fastscan.c"
PIECES = [
    "<", "</", ">", "/>", "<!--", "-->", "--!>", "<!-", "<!", "<?", "</>", "-", "!", " ", "\n",
    "=", '"', "'", "/", "//", "\\", ",", "img", "IMG", "script", "src", "srcset", "data-consent",
    "a", "svg", "x", "\x00", "\xff",
]  # fmt: skip
NAMES = [b"script", b"img", b"a", b"svg", b"link", b"source", b"div", b"p", b"iframe", b"title"]


def fuzz(module_dir: str, cases: int, seed: int) -> None:
    sys.path.insert(0, module_dir)
    import _fastscan as scan  # the sanitizer build, not the installed one

    rng = random.Random(seed)
    for _ in range(cases):
        data = "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 80))).encode("latin-1")
        n = len(data)
        # Exactly n bytes (small ctypes buffers live inline in the object: use n > 16).
        exact = ctypes.create_string_buffer(data, n) if n > 16 else bytearray(data)
        view = memoryview(exact).cast("B")
        pos, end = rng.randint(-2, n + 2), rng.randint(-2, n + 3)
        scan.skip(view, pos, end, rng.random() < 0.5, rng.random() < 0.5)
        scan.skip(view, 0, n, True, True)
        relative = tuple(rng.sample(NAMES, rng.randint(0, 3)))
        start = None if rng.random() < 0.2 else tuple(rng.sample(NAMES, rng.randint(0, 3)))
        ends = None if rng.random() < 0.2 else tuple(rng.sample(NAMES, rng.randint(0, 3)))
        urls = tuple(rng.sample([b"src", b"href", b"data-src"], 2))
        stops = scan.Stops(start, ends, relative, urls, (b"srcset",), (b"data-consent",))
        stops.find(view, pos)
        stops.find(view, 0)
    print(f"fuzz_fastscan: {cases} cases (seed {seed}) clean under ASan/UBSan")


def main() -> int:
    cases = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    seed = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    if os.environ.get("CG_FUZZ_MODULE_DIR"):
        fuzz(os.environ["CG_FUZZ_MODULE_DIR"], cases, seed)
        return 0
    with tempfile.TemporaryDirectory(prefix="cg-asan-") as tmp:
        target = Path(tmp) / ("_fastscan" + sysconfig.get_config_var("EXT_SUFFIX"))
        subprocess.run(
            [
                "gcc",
                "-shared",
                "-fPIC",
                "-O1",
                "-g",
                "-fno-omit-frame-pointer",
                "-fsanitize=address,undefined",
                "-fno-sanitize-recover=undefined",
                "-I" + sysconfig.get_paths()["include"],
                str(SOURCE),
                "-o",
                str(target),
            ],
            check=True,
        )
        runtime = ":".join(
            subprocess.run(
                ["gcc", f"-print-file-name={lib}"], capture_output=True, text=True, check=True
            ).stdout.strip()
            for lib in ("libasan.so", "libubsan.so")
        )
        env = {
            **os.environ,
            "CG_FUZZ_MODULE_DIR": tmp,
            "LD_PRELOAD": runtime,
            "PYTHONMALLOC": "malloc",
            "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1",
        }
        done = subprocess.run([sys.executable, __file__, str(cases), str(seed)], env=env)
        return done.returncode


if __name__ == "__main__":
    raise SystemExit(main())
