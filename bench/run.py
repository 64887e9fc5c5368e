"""Side-by-side benchmark: nginx with `sub_filter` (the anchor) vs consentgate.

One command starts, in one run and on loopback:

- a static upstream: nginx (one worker) serving the demo shop's home page padded to ~60 KB, the
  same page padded to ~1 MB, and a 10 MB binary file;
- the anchor: nginx (one worker) as a reverse proxy in front of it, `sub_filter` filling the
  two slots with fixed markup (what nginx can do: no consent, no rules);
- the naive Python ceiling: `bench/stack_candidates.py`'s `naive_app` under granian (one
  worker), which fetches the page with aiohttp, does one `str.replace` (a banner before
  `</body>`) and answers: the most a Python proxy can serve before doing any real work, so
  gateway/naive is what the gateway's features cost;
- consentgate (`consentgate run`, one granian worker) in front of the same upstream with the
  demo's config: consent enforcement, banner, Consent Mode, prior blocking, the demo's rules
  filling `hero-banner` and `recommendations`, SQLite store, audit log.

The upstream also serves a category page shaped like a real shop listing (`category_page`):
~55 KB, 220 product cards with relative images and links, two tracker scripts, Arabic text.

Each scenario is checked once before it is timed (slots filled, banner present or absent), so
an error page is never measured. `wrk` drives load; time to first byte is measured with a raw
socket. Prints one table.

    python bench/run.py                 # full: 10 s per load scenario, 300 s soak
    python bench/run.py --smoke         # a few seconds in all: keeps the harness working

Needs nginx and wrk (Debian: `apt-get install -y nginx-light wrk`).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gateway.demo.shop import create_app  # noqa: E402
from gateway.demo.world import prepare_data_dir, write_config  # noqa: E402

LONDON = "81.2.69.160"
HOST = "127.0.0.1"
HERO = 'data-slot="hero-banner"'
RECS = 'data-slot="recommendations"'
BANNER_ID = 'id="consentgate-banner"'


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


# --- the pages --------------------------------------------------------------------------------


def demo_home() -> str:
    from starlette.testclient import TestClient

    with TestClient(create_app()) as client:
        text: str = client.get("/").text
        return text


def padded(page: str, size: int) -> str:
    """The demo home page with product markup added before `</main>` (or `</body>`) to `size`."""
    card = (
        '<article class="product"><a href="/product/RW-{n:03d}"><img src="/static/p{n}.jpg" '
        'alt="Rain jacket {n}" width="240" height="240"></a><h3>Rain jacket {n}</h3>'
        '<p class="price">EUR 89.00</p><button type="button">Add to cart</button></article>\n'
    )
    anchor = "</main>" if "</main>" in page else "</body>"
    cards: list[str] = []
    n = 0
    while len(page) + sum(map(len, cards)) < size:
        cards.append(card.format(n=n))
        n += 1
    head, tail = page.split(anchor, 1)
    return head + '<section class="grid">\n' + "".join(cards) + "</section>" + anchor + tail


def category_page(hero: str, recs: str) -> str:
    """A shop's category listing, ~55 KB: 220 product cards (each an `<article>` with a relative
    `<img>`, a relative link and a `<button>`), the Google Tag Manager and Facebook pixel scripts
    marked with their purpose, Arabic product text, and the two slots (`hero`, `recs`: the
    demo home page's slot tags, so nginx's `sub_filter` and the demo's rules fill them too)."""
    card = (
        '<article class="card"><a href="/product/CT-{n:03d}">'
        '<img src="/static/ct-{n}.webp" alt="Jacket {n}" width="200" height="200"></a>'
        '<h3>Jacket {n} <span lang="ar">سترة مطر</span></h3><p>EUR {price}.00</p>'
        '<button type="button">Add to cart</button></article>\n'
    )
    cards = "".join(card.format(n=n, price=49 + n % 50) for n in range(220))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Rainwear</title>\n'
        '<script data-consent="analytics" async '
        'src="https://www.googletagmanager.com/gtm.js?id=GTM-X"></script>\n'
        '<script data-consent="marketing" async '
        'src="https://connect.facebook.net/en_US/fbevents.js"></script>\n'
        '</head><body><header><a href="/">Shop</a></header>\n'
        f"{hero}</div>\n<main><h1>Rainwear</h1>\n"
        '<p dir="rtl" lang="ar">ملابس المطر لكل الفصول</p>\n'
        f'<section class="grid">\n{cards}</section>\n{recs}</div>\n</main>'
        "<footer><p>Free returns</p></footer></body></html>\n"
    )


# --- processes --------------------------------------------------------------------------------


@contextmanager
def process(argv: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[int]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    try:
        yield proc.pid
    finally:
        with_group = os.getpgid(proc.pid)
        os.killpg(with_group, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(with_group, signal.SIGKILL)
            proc.wait()


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"bench: {url} did not answer within {timeout:.0f} s")


NGINX_COMMON = """
worker_processes 1;
daemon off;
pid {dir}/nginx-{name}.pid;
error_log {dir}/nginx-{name}.err warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {dir}/tmp-{name}-body;
  proxy_temp_path {dir}/tmp-{name}-proxy;
  fastcgi_temp_path {dir}/tmp-{name}-fcgi;
  uwsgi_temp_path {dir}/tmp-{name}-uwsgi;
  scgi_temp_path {dir}/tmp-{name}-scgi;
  types {{ text/html html; application/octet-stream bin; }}
  keepalive_requests 1000000;
  {body}
}}
"""

UPSTREAM = """
  server {{
    listen {host}:{port};
    root {www};
    index index.html;
  }}
"""

ANCHOR = """
  upstream shop {{ server {host}:{upstream}; keepalive 64; }}
  server {{
    listen {host}:{port};
    location / {{
      proxy_pass http://shop;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Accept-Encoding "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      sub_filter_once off;
      sub_filter_types text/html;
      sub_filter '{hero_from}' '{hero_to}';
      sub_filter '{recs_from}' '{recs_to}';
    }}
  }}
"""


@contextmanager
def nginx(dir_: Path, name: str, body: str) -> Iterator[int]:
    conf = dir_ / f"nginx-{name}.conf"
    conf.write_text(NGINX_COMMON.format(dir=dir_, name=name, body=body))
    with process(["nginx", "-c", str(conf), "-p", str(dir_)], dir_ / f"{name}.log") as pid:
        yield pid


def rss_kib(root_pid: int) -> int:
    """Resident set of a process and its descendants (granian main + workers), in KiB."""
    total, pending = 0, [root_pid]
    while pending:
        pid = pending.pop()
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            continue
        found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        total += int(found[1]) if found else 0
        pending += [int(c) for c in children]
    return total


# --- load -------------------------------------------------------------------------------------


@dataclass
class Load:
    rps: float
    p50_ms: float
    p99_ms: float
    transfer_mb_s: float
    errors: int


# wrk calls `delay()` before each request on a connection: with it, N connections each wait
# between a response and their next request, which holds the load near a chosen rate. The
# waits are exponential (mean CG_BENCH_DELAY_MS), so arrivals are close to a Poisson stream:
# equal waits keep the connections in step, and their requests arrive in bursts of N.
PACE_LUA = """
local pause = tonumber(os.getenv("CG_BENCH_DELAY_MS") or "0")
math.randomseed(os.time())
function delay() return math.floor(-math.log(1 - math.random()) * pause + 0.5) end
"""


def wrk(
    url: str, seconds: float, connections: int, headers: dict[str, str], delay_ms: float = 0
) -> Load:
    args = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--latency"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    env = None
    if delay_ms > 0:
        script = Path(tempfile.gettempdir()) / "cg-bench-pace.lua"
        script.write_text(PACE_LUA)
        args += ["-s", str(script)]
        env = {**os.environ, "CG_BENCH_DELAY_MS": str(max(1, round(delay_ms)))}
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True, env=env).stdout

    def latency(pct: str) -> float:
        found = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        if not found:
            return float("nan")
        scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]
        return float(found[1]) * scale

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    transfer = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    scale = {"B": 1e-6, "KB": 1e-3, "MB": 1.0, "GB": 1e3}
    mb_s = float(transfer[1]) * scale[transfer[2]] if transfer else float("nan")
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = int(non2xx[1]) if non2xx else 0
    return Load(rps, latency("50"), latency("99"), mb_s, errors)


def paced(url: str, seconds: float, connections: int, headers: dict[str, str], rate: float) -> Load:
    """wrk held near `rate` req/s: each connection pauses between requests (closed loop, so
    the pause is tuned on two short runs; the Load says what rate was reached)."""
    delay_ms = connections / rate * 1000
    for _ in range(2):
        probe = wrk(url, 1 if seconds <= 3 else 2, connections, headers, delay_ms)
        # Each connection does one request per (latency + pause): shorten the pause by the
        # time the requests themselves took.
        cycle_ms = connections / max(probe.rps, 1) * 1000
        delay_ms = max(1.0, delay_ms + connections / rate * 1000 - cycle_ms)
    return wrk(url, seconds, connections, headers, delay_ms)


def ttfb_ms(port: int, path: str, headers: dict[str, str], n: int) -> float:
    """Median time from sending a GET to the first response byte, fresh connection each."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    request = f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\n{extra}Connection: close\r\n\r\n".encode()
    samples = []
    for _ in range(n):
        with socket.create_connection((HOST, port), timeout=10) as s:
            started = time.perf_counter()
            s.sendall(request)
            s.recv(1)
            samples.append((time.perf_counter() - started) * 1000)
            while s.recv(1 << 16):
                pass
    return statistics.median(samples)


# --- the run ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few seconds per scenario")
    parser.add_argument("--duration", type=float, default=10, help="seconds per load scenario")
    parser.add_argument("--soak-seconds", type=float, default=300)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1, help="gateway workers")
    parser.add_argument(
        "--serve",
        action="store_true",
        help="start the three servers, print their URLs and wait (for profiling); Ctrl-C stops",
    )
    args = parser.parse_args(argv)
    missing = [tool for tool in ("nginx", "wrk") if shutil.which(tool) is None]
    if missing:
        print(f"bench: needs {' and '.join(missing)}: apt-get install -y nginx-light wrk")
        return 1
    duration = 2.0 if args.smoke else args.duration
    soak = 3.0 if args.smoke else args.soak_seconds
    ttfb_n = 10 if args.smoke else 200

    with tempfile.TemporaryDirectory(prefix="cg-bench-") as tmp:
        work = Path(tmp)
        work.chmod(0o755)  # nginx's workers drop root and must read the pages
        www = work / "www"
        www.mkdir()
        home = demo_home()
        assert HERO in home and RECS in home, "the demo home page lost its slots"
        (www / "index.html").write_text(padded(home, 60_000), encoding="utf-8")
        (www / "big.html").write_text(padded(home, 1_000_000), encoding="utf-8")
        (www / "file.bin").write_bytes(os.urandom(10 * 1024 * 1024))
        hero_from = re.search(r"<[^>]*" + HERO + r"[^>]*>", home)[0]  # type: ignore[index]
        recs_from = re.search(r"<[^>]*" + RECS + r"[^>]*>", home)[0]  # type: ignore[index]
        category = category_page(hero_from, recs_from)
        (www / "category.html").write_text(category, encoding="utf-8")

        up, anchor_port, gate_port = free_port(), free_port(), free_port()
        naive_port = free_port()
        anchor_body = ANCHOR.format(
            host=HOST,
            port=anchor_port,
            upstream=up,
            hero_from=hero_from,
            hero_to=hero_from + "<h2>Rain or shine: free returns</h2>",
            recs_from=recs_from,
            recs_to=recs_from + '<ul><li><a href="/product/RW-001">Rain jacket</a></li></ul>',
        )

        paths = prepare_data_dir(work / "gateway")
        config = write_config(paths, gate_port, up)
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        gate_argv = [
            sys.executable,
            "-m",
            "gateway",
            "run",
            "--config",
            str(config),
            "--workers",
            str(args.workers),
        ]
        naive_argv = [
            *("granian", "--interface", "asgi", "--loop", "uvloop", "--workers", "1"),
            *("--no-access-log", "--host", HOST, "--port", str(naive_port)),
            "stack_candidates:naive_app",
        ]
        naive_env = {**os.environ, "PYTHONPATH": str(ROOT / "bench")}
        naive_env["BENCH_UPSTREAM"] = f"http://{HOST}:{up}"
        with (
            nginx(work, "upstream", UPSTREAM.format(host=HOST, port=up, www=www)),
            nginx(work, "anchor", anchor_body),
            process(naive_argv, work / "naive.log", naive_env),
            process(gate_argv, work / "gateway.log", env) as gate_pid,
        ):
            anchor = f"http://{HOST}:{anchor_port}"
            naive = f"http://{HOST}:{naive_port}"
            gate = f"http://{HOST}:{gate_port}"
            for url in (
                f"http://{HOST}:{up}/",
                anchor + "/",
                naive + "/",
                gate + "/_privacy/healthz",
            ):
                wait_for(url)
            if args.serve:
                return serve(anchor, gate, gate_pid)
            return run_scenarios(
                args,
                work,
                anchor,
                naive,
                gate,
                anchor_port,
                gate_port,
                gate_pid,
                duration,
                soak,
                ttfb_n,
            )


def serve(anchor: str, gate: str, gate_pid: int) -> int:
    chose = httpx.post(
        gate + "/_privacy/consent",
        json={"action": "accept_all"},
        headers={"X-Forwarded-For": LONDON, "Origin": gate},
    )
    chose.raise_for_status()
    print(f"anchor {anchor}/  gateway {gate}/  gateway pid {gate_pid}", flush=True)
    print(f"consented: -H 'X-Forwarded-For: {LONDON}' -H 'Cookie: cg_id={chose.cookies['cg_id']}'")
    stop = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop)
    signal.sigwait(stop)  # then the context managers stop the servers and remove the files
    return 0


def run_scenarios(
    args: argparse.Namespace,
    work: Path,
    anchor: str,
    naive: str,
    gate: str,
    anchor_port: int,
    gate_port: int,
    gate_pid: int,
    duration: float,
    soak: float,
    ttfb_n: int,
) -> int:
    london = {"X-Forwarded-For": LONDON, "Accept": "text/html"}
    chose = httpx.post(
        gate + "/_privacy/consent",
        json={"action": "accept_all"},
        headers={**london, "Origin": gate},
    )
    chose.raise_for_status()
    consented = {**london, "Cookie": f"cg_id={chose.cookies['cg_id']}"}

    # Sanity: what each scenario serves is the real thing, not an error page.
    page = httpx.get(gate + "/", headers=consented)
    assert page.status_code == 200, f"consented page: {page.status_code}"
    cards = httpx.get(anchor + "/").text.count('<article class="product">')
    assert page.text.count('<article class="product">') == cards, "consented: page mangled"
    big = httpx.get(gate + "/big.html", headers=consented).text
    assert big.count('<article class="product">') == httpx.get(anchor + "/big.html").text.count(
        '<article class="product">'
    ), "1 MB page mangled"
    assert BANNER_ID not in page.text, "consented: the banner is still shown"
    assert re.search(HERO + r"[^>]*>\s*<", page.text), "consented: hero slot empty"
    fresh = httpx.get(gate + "/", headers=london)
    assert fresh.status_code == 200 and BANNER_ID in fresh.text, "no choice: no banner"
    nginx_page = httpx.get(anchor + "/")
    assert "Rain or shine" in nginx_page.text, "anchor: sub_filter did not fill the slot"
    assert len(httpx.get(gate + "/file.bin", headers=consented).content) == 10 * 1024 * 1024
    check_category(anchor, naive, gate, london, consented)
    assert "naive-banner" in httpx.get(naive + "/").text, "naive proxy: no banner"

    c = args.connections
    rows: list[tuple[str, ...]] = []

    def compare(label: str, path: str, headers: dict[str, str], conns: int) -> tuple[Load, Load]:
        n = wrk(anchor + path, duration, conns, headers)
        p = wrk(naive + path, duration, conns, headers)
        g = wrk(gate + path, duration, conns, headers)
        assert n.errors == p.errors == g.errors == 0, f"{label}: non-2xx responses under load"
        rows.append(
            (
                label,
                f"{n.rps:,.0f} req/s",
                f"{p.rps:,.0f} req/s",
                f"{g.rps:,.0f} req/s",
                f"{g.rps / n.rps:.0%}",
                f"{g.rps / p.rps:.0%}",
                f"{n.p50_ms:.2f}/{n.p99_ms:.2f} ms vs {p.p50_ms:.2f}/{p.p99_ms:.2f} ms"
                f" vs {g.p50_ms:.2f}/{g.p99_ms:.2f} ms",
            )
        )
        return n, g

    na, ga = compare("(a) 60 KB, consented, 2 slots", "/", consented, c)
    nb, gb = compare("(b) 60 KB, gdpr no choice, banner", "/", london, c)
    compare("(f) 55 KB category, consented, 2 slots", "/category.html", consented, c)
    compare("(g) 55 KB category, gdpr no choice, banner", "/category.html", london, c)
    # Half of the gateway's peak, the same rate for both (wrk paced by a Lua delay).
    half = gb.rps / 2
    nh = paced(anchor + "/", duration, c, london, half)
    gh = paced(gate + "/", duration, c, london, half)
    assert nh.errors == 0 and gh.errors == 0, "(b) half load: non-2xx responses"
    rows.append(
        (
            f"(b) at half its peak ({half:,.0f} req/s)",
            f"{nh.rps:,.0f} req/s",
            "",
            f"{gh.rps:,.0f} req/s",
            f"p99 +{gh.p99_ms - nh.p99_ms:.2f} ms",
            "",
            f"{nh.p50_ms:.2f}/{nh.p99_ms:.2f} ms vs {gh.p50_ms:.2f}/{gh.p99_ms:.2f} ms",
        )
    )
    n_ttfb = ttfb_ms(anchor_port, "/big.html", consented, ttfb_n)
    g_ttfb = ttfb_ms(gate_port, "/big.html", consented, ttfb_n)
    rows.append(
        (
            "(c) 1 MB HTML, median TTFB",
            f"{n_ttfb:.2f} ms",
            "",
            f"{g_ttfb:.2f} ms",
            f"+{g_ttfb - n_ttfb:.2f} ms",
            "",
            "",
        )
    )
    nd = wrk(anchor + "/file.bin", duration, 4, consented)
    gd = wrk(gate + "/file.bin", duration, 4, consented)
    rows.append(
        (
            "(d) 10 MB download, throughput",
            f"{nd.transfer_mb_s:,.0f} MB/s",
            "",
            f"{gd.transfer_mb_s:,.0f} MB/s",
            f"{gd.transfer_mb_s / nd.transfer_mb_s:.0%}",
            "",
            "",
        )
    )
    # Soak at 80 % of (a)'s peak (paced as above).
    start_rss = rss_kib(gate_pid)
    ge = paced(gate + "/", soak, c, consented, 0.8 * ga.rps)
    end_rss = rss_kib(gate_pid)
    assert ge.errors == 0, "(e) soak: non-2xx responses"
    rows.append(
        (
            f"(e) soak {soak:.0f} s at 80 % of (a)",
            "",
            "",
            f"{ge.rps:,.0f} req/s ({ge.rps / ga.rps:.0%} of a)",
            f"RSS {start_rss / 1024:.0f} -> {end_rss / 1024:.0f} MiB",
            "",
            f"{(end_rss - start_rss) / start_rss:+.1%}",
        )
    )

    header = (
        "scenario",
        "nginx",
        "naive python",
        "consentgate",
        "vs nginx",
        "vs naive",
        "p50/p99 nginx vs naive vs consentgate",
    )
    width = [max(len(r[i]) for r in rows) for i in range(len(header))]
    width = [max(w, len(h)) for w, h in zip(width, header, strict=True)]
    for row in (header, tuple("-" * w for w in width), *rows):
        print(" | ".join(cell.ljust(w) for cell, w in zip(row, width, strict=True)))
    print()
    verdicts = [
        ("(a) >= 60 % of nginx req/s", ga.rps / na.rps >= 0.6),
        ("(b) >= 60 % of nginx req/s", gb.rps / nb.rps >= 0.6),
        ("(b) p99 added <= 3 ms at half the gateway's peak", gh.p99_ms - nh.p99_ms <= 3),
        ("(c) TTFB within 1 ms of nginx", g_ttfb - n_ttfb <= 1),
        ("(d) >= 80 % of nginx throughput", gd.transfer_mb_s / nd.transfer_mb_s >= 0.8),
        ("(e) RSS growth <= 10 %", (end_rss - start_rss) / start_rss <= 0.1),
    ]
    for name, ok in verdicts:
        print(f"{'met   ' if ok else 'MISSED'} {name}")
    print()
    return check_correctness(gate, work, consented)


def check_category(
    anchor: str, naive: str, gate: str, london: dict[str, str], consented: dict[str, str]
) -> None:
    """The category page arrives whole from all three, with the slots filled for a consented
    visitor and the banner and blocked trackers for a visitor who has not chosen."""
    path = "/category.html"
    for name, url in (("anchor", anchor), ("naive proxy", naive), ("gateway", gate)):
        page = httpx.get(url + path, headers=consented)
        assert page.status_code == 200, f"category via {name}: {page.status_code}"
        assert page.text.count("<article") == 220, f"category via {name}: cards mangled"
        assert "مطر" in page.text, f"category via {name}: Arabic text mangled"
    page = httpx.get(gate + path, headers=consented).text
    assert re.search(HERO + r"[^>]*>\s*<", page), "category, consented: hero slot empty"
    assert BANNER_ID not in page, "category, consented: the banner is still shown"
    fresh = httpx.get(gate + path, headers=london).text
    assert BANNER_ID in fresh, "category, no choice: no banner"
    assert fresh.count('data-consentgate="blocked"') >= 2, "category, no choice: trackers live"


def check_correctness(gate: str, work: Path, consented: dict[str, str]) -> int:
    """After the load: a choice made through one worker holds on the next requests, whichever
    worker serves them (`--workers N`), and the audit chain verifies. Exit status 1 if not."""
    failures = []
    pages = [httpx.get(gate + "/", headers=consented).text for _ in range(20)]
    if any(BANNER_ID in p or 'data-consentgate="blocked"' in p for p in pages):
        failures.append("a consented visitor saw the banner or blocked trackers")
    withdrawn = httpx.post(
        gate + "/_privacy/consent",
        json={"action": "reject_all"},
        headers={**consented, "Origin": gate},
    )
    if withdrawn.status_code != 200:
        failures.append(f"withdrawal answered {withdrawn.status_code}")
    pages = [httpx.get(gate + "/", headers=consented).text for _ in range(20)]
    if not all('data-consentgate="blocked"' in p for p in pages):
        failures.append("a tracker loaded on a request after the withdrawal")
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "audit",
            "verify",
            "--config",
            str(work / "gateway" / "policies.yaml"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    if verify.returncode != 0:
        failures.append("audit verify: " + (verify.stdout + verify.stderr).strip()[-300:])
    for failure in failures:
        print(f"FAILED correctness: {failure}")
    if not failures:
        print("correct: consent held on 20 + 20 requests across workers; audit verify: intact")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
