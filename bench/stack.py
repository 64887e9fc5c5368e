"""Choose the ASGI server and upstream client by measurement.

Starts nginx serving a ~60 KB page, then each candidate (server x client) as a minimal proxy in
front of it, one worker each, and drives it with wrk (32 connections). Prints requests/s and
p99 latency. Needs `nginx` and `wrk` (Debian: apt-get install nginx-light wrk).

    python bench/stack.py [--seconds 10]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def start_nginx(root: Path, port: int) -> subprocess.Popen[bytes]:
    conf = root / "nginx.conf"
    conf.write_text(
        f"""
worker_processes 1; daemon off; pid {root}/nginx.pid; error_log {root}/error.log;
events {{ worker_connections 1024; }}
http {{ access_log off; default_type text/html;
  client_body_temp_path {root}; proxy_temp_path {root}; fastcgi_temp_path {root};
  uwsgi_temp_path {root}; scgi_temp_path {root};
  server {{ listen 127.0.0.1:{port}; root {root}/www; }} }}
"""
    )
    return subprocess.Popen(["nginx", "-c", str(conf), "-p", str(root)])


def wrk(port: int, seconds: int) -> tuple[float, str]:
    out = subprocess.run(
        ["wrk", "-t1", "-c32", f"-d{seconds}s", "--latency", f"http://127.0.0.1:{port}/page.html"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", out).group(1)  # type: ignore[union-attr]
    return rps, p99


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    for tool in ("nginx", "wrk"):
        if not shutil.which(tool):
            print(f"needs {tool}: apt-get install nginx-light wrk")
            return 2
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "www").mkdir()
        (root / "www" / "page.html").write_text(
            "<!doctype html><html><body>" + "<p>product text</p>\n" * 3000 + "</body></html>"
        )
        up = free_port()
        nginx = start_nginx(root, up)
        wait_port(up)
        env = dict(os.environ, BENCH_UPSTREAM=f"http://127.0.0.1:{up}", PYTHONPATH=str(HERE))
        granian = ["granian", "--interface", "asgi", "--loop", "uvloop", "--no-access-log"]
        uvicorn = ["uvicorn", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
        candidates = {
            f"{server[0]} + {client}": [*server, f"stack_candidates:{client}_app"]
            for server in (granian, uvicorn)
            for client in ("aiohttp", "httpx")
        }
        try:
            rps, p99 = wrk(up, args.seconds)
            print(f"{'nginx static (upstream)':24} {rps:10.0f} req/s  p99 {p99}")
            for name, cmd in candidates.items():
                if not shutil.which(cmd[0]):
                    print(f"{name:24} skipped: {cmd[0]} not installed")
                    continue
                port = free_port()
                flag = ["--port", str(port)]
                proc = subprocess.Popen(
                    [*cmd, *flag],
                    env=env,
                    cwd=HERE,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                try:
                    wait_port(port)
                    wrk(port, 2)  # warm-up
                    rps, p99 = wrk(port, args.seconds)
                    print(f"{name:24} {rps:10.0f} req/s  p99 {p99}")
                finally:
                    proc.terminate()
                    proc.wait(10)
        finally:
            nginx.terminate()
            nginx.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
