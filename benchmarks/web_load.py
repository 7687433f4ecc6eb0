"""The web API under load (issue 8): `sermsim serve` in a subprocess on loopback, driven by a
local asyncio load generator, bounded in requests and in time.

    .venv/bin/python benchmarks/web_load.py [--out docs/figures/web_load.json] [--quick]

It records, per endpoint and concurrency: the requests, their status codes (200; 503 when the
line for the engine is full or the server holds as many connections as it serves; 504 past
the time limit), latency percentiles and throughput; the server's resident memory during the
run and over a soak of repeated requests; and how the server refuses hostile requests (bodies
over the size limit, declared, chunked or trickled; connections that send nothing; a
computation past its time limit, on a second server started with a short limit). It writes
the figures as JSON and prints them as markdown tables. Timings are this machine's at this
moment (a shared 2-core box here); nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import select
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sermsim.interfaces.web.app import MAX_CONNECTIONS
from sermsim.interfaces.web.limits import BODY_SECONDS, HEAD_SECONDS, MAX_BODY_BYTES, MAX_WAITING

HOST = "127.0.0.1"  # loopback only
ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024

#: Seconds to wait for a started server to answer /api/health (importing JAX and the engine).
START_SECONDS = 180.0
#: Seconds between samples of the server's resident memory.
RSS_EVERY_SECONDS = 0.2
#: The time limit of the second server, for the over-long requests: short enough that a
#: 30-year comparison (about 8 s warm on 2 cores, more while compiling) passes it.
SHORT_COMPUTE_SECONDS = 2.0
#: A client waits this much longer than the server's own limit before giving up on an answer.
CLIENT_GRACE_SECONDS = 30.0
#: Bytes of one chunk of a streamed (chunked) body, and how much a hostile client sends at most.
CHUNK_BYTES = 4096
HOSTILE_MAX_BYTES = 16 * MAX_BODY_BYTES
#: A trickled body: one byte this often, for a body that would take minutes to arrive.
TRICKLE_EVERY_SECONDS = 0.5
TRICKLE_DECLARED_BYTES = 1000
#: How long past the head deadline the probes wait for the server to close a silent connection.
IDLE_WATCH_SECONDS = 5.0

WOMAN = {
    "sex": "female",
    "age": 55,
    "menopause": "post",
    "uterus": True,
    "breast_cancer_5y_risk": 0.03,
}
SMALL_TRIAL = {
    "name": "load_small",
    "seed": 3,
    "duration_years": 1,
    "population": {"sex": "female", "n_per_arm": 200, "age": 60, "menopause": "post"},
    "arms": [
        {"name": "placebo", "regimen": []},
        {"name": "raloxifene", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
    ],
    "endpoints": ["vte", {"name": "bmd_lumbar_spine_pct"}],
}
#: (method, path, body) per endpoint of the mix; compare is the page's default (5 years, every
#: standard option), which the server compiles at start-up.
ENDPOINTS: dict[str, tuple[str, str, dict[str, Any] | None]] = {
    "health": ("GET", "/api/health", None),
    "profile": ("POST", "/api/profile", {"regimen": "raloxifene:60"}),
    "simulate": (
        "POST",
        "/api/simulate",
        {"patient": WOMAN, "regimen": "raloxifene:60", "years": 1},
    ),
    "compare": ("POST", "/api/compare", {"patient": WOMAN, "years": 5}),
    "trial": ("POST", "/api/trial", {"spec": SMALL_TRIAL}),
}
#: Concurrency levels: one client; the engine's line (one running, MAX_WAITING waiting) and
#: past it; the server's connection limit (MAX_CONNECTIONS) and past it.
LEVELS = (1, 8, 32, MAX_CONNECTIONS, MAX_CONNECTIONS + MAX_CONNECTIONS // 2)


@dataclass(frozen=True)
class Plan:
    """How much load: requests per endpoint and level (at least ``per_client`` per client),
    each cell's wall-clock bound, the soak's requests and the horizons probe's."""

    levels: tuple[int, ...]
    endpoints: tuple[str, ...]
    min_requests: dict[str, int]
    per_client: int
    cell_seconds: float
    soak_requests: int
    soak_clients: int
    horizons: int


FULL = Plan(
    levels=LEVELS,
    endpoints=tuple(ENDPOINTS),
    # a cheap answer takes milliseconds, a comparison seconds: as many as fit the cell's time
    min_requests={"health": 400, "profile": 60, "simulate": 20, "compare": 4, "trial": 12},
    per_client=2,
    cell_seconds=30.0,
    soak_requests=500,
    soak_clients=MAX_WAITING + 1,  # the engine's line, full but never refusing
    horizons=4,
)
QUICK = Plan(
    levels=(1, 8),
    endpoints=("health", "profile"),
    min_requests={"health": 20, "profile": 4},
    per_client=1,
    cell_seconds=10.0,
    soak_requests=20,
    soak_clients=2,
    horizons=0,
)


# ---------------------------------------------------------------------------- the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


_LAUNCH = """
import sys
from sermsim.interfaces.web.app import serve
from sermsim.interfaces.web.limits import Limits
serve(sys.argv[1], int(sys.argv[2]), warm=False, limits=Limits(compute_seconds=float(sys.argv[3])))
"""


@contextlib.contextmanager
def server(*, compute_seconds: float | None = None, warm: bool = True) -> Iterator[Server]:
    """`sermsim serve` on a free loopback port (or, with ``compute_seconds``, the same uvicorn
    server with that time limit: `sermsim serve` has no option for it), stopped on exit."""
    port = free_port()
    if compute_seconds is None:
        sermsim = Path(sys.executable).with_name("sermsim")
        warm_flag = "--warm" if warm else "--no-warm"
        cmd = [str(sermsim), "serve", "--host", HOST, "--port", str(port), warm_flag]
    else:
        cmd = [sys.executable, "-c", _LAUNCH, HOST, str(port), str(compute_seconds)]
    log = open(os.devnull, "wb")  # noqa: SIM115 - the server's log is not the benchmark's
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    srv = Server(proc, f"http://{HOST}:{port}", port)
    try:
        srv.wait_ready()
        yield srv
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    url: str
    port: int
    started: float = field(default_factory=time.monotonic)
    ready_seconds: float = math.nan

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the server exited with {self.proc.returncode}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    self.ready_seconds = time.monotonic() - self.started
                    return
            time.sleep(0.2)
        raise RuntimeError(f"the server did not answer within {START_SECONDS:g} s")


def rss_bytes(pid: int) -> int:
    """The process's resident memory (VmRSS of /proc; psutil is not needed)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


class RssSampler:
    """Samples a process's resident memory in a thread; ``window()`` gives start/peak/end of
    the samples taken within a ``with`` block."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            with contextlib.suppress(OSError, RuntimeError):
                self.samples.append((time.monotonic(), rss_bytes(self.pid)))
            self._stop.wait(RSS_EVERY_SECONDS)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def now(self) -> int:
        return rss_bytes(self.pid)

    def between(self, start: float, end: float) -> dict[str, float]:
        values = [v for t, v in self.samples if start <= t <= end] or [self.now()]
        return {
            "start_mib": round(values[0] / MIB, 1),
            "peak_mib": round(max(values) / MIB, 1),
            "end_mib": round(values[-1] / MIB, 1),
        }


# ---------------------------------------------------------------------------- the load


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation, as numpy's default.

    >>> percentile([1.0, 2.0, 3.0, 4.0], 50)
    2.5
    >>> percentile([5.0], 99)
    5.0
    """
    xs = sorted(values)
    if not xs:
        return math.nan
    k = (len(xs) - 1) * q / 100
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def summarise(results: list[tuple[str, float]], seconds: float) -> dict[str, Any]:
    """Count, status tally, latency percentiles (ms, of every answer and of the 200s) and
    throughput of one cell's ``(status, seconds)`` results.

    >>> s = summarise([("200", 0.1), ("200", 0.3), ("503", 0.001)], 1.0)
    >>> s["count"], s["status"], s["ok_per_s"], s["latency_ms"]["max"]
    (3, {'200': 2, '503': 1}, 2.0, 300.0)
    """
    ms = [t * 1000 for _, t in results]
    ok = [t * 1000 for s, t in results if s == "200"]

    def pct(xs: list[float]) -> dict[str, float]:
        return {
            "p50": round(percentile(xs, 50), 1),
            "p90": round(percentile(xs, 90), 1),
            "p99": round(percentile(xs, 99), 1),
            "max": round(max(xs), 1) if xs else math.nan,
        }

    return {
        "count": len(results),
        "status": dict(sorted(Counter(s for s, _ in results).items())),
        "seconds": round(seconds, 2),
        "per_s": round(len(results) / seconds, 2) if seconds > 0 else math.nan,
        "ok_per_s": round(len(ok) / seconds, 2) if seconds > 0 else math.nan,
        "latency_ms": pct(ms),
        "ok_latency_ms": pct(ok),
    }


async def drive(
    url: str, endpoint: str, clients: int, requests: int, seconds: float, timeout: float
) -> tuple[list[tuple[str, float]], float]:
    """``clients`` concurrent clients send ``endpoint``'s request, each again as soon as it is
    answered, until ``requests`` are sent or ``seconds`` have passed (no new request after
    that). Returns each request's status (or the client error's name) and latency, and the
    wall time."""
    method, path, body = ENDPOINTS[endpoint]
    results: list[tuple[str, float]] = []
    left = requests
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    started = time.monotonic()
    stop_at = started + seconds
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def one_client() -> None:
            nonlocal left
            while left > 0 and time.monotonic() < stop_at:
                left -= 1
                t0 = time.monotonic()
                try:
                    r = await client.request(method, path, json=body)
                    status = str(r.status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                results.append((status, time.monotonic() - t0))

        await asyncio.gather(*(one_client() for _ in range(clients)))
    return results, time.monotonic() - started


def run_cell(
    srv: Server, rss: RssSampler, endpoint: str, clients: int, plan: Plan, timeout: float
) -> dict[str, Any]:
    requests = max(plan.min_requests[endpoint], plan.per_client * clients)
    t0 = time.monotonic()
    results, wall = asyncio.run(
        drive(srv.url, endpoint, clients, requests, plan.cell_seconds, timeout)
    )
    cell = summarise(results, wall)
    cell.update(endpoint=endpoint, clients=clients, rss=rss.between(t0, time.monotonic()))
    return cell


def warm_up(srv: Server, endpoints: tuple[str, ...], timeout: float) -> dict[str, float]:
    """One request of each kind, one at a time: the first compiles (its latency is kept)."""
    out: dict[str, float] = {}
    for name in endpoints:
        method, path, body = ENDPOINTS[name]
        t0 = time.monotonic()
        r = httpx.request(method, srv.url + path, json=body, timeout=timeout)
        if r.status_code != 200:
            raise RuntimeError(f"warm-up {name}: {r.status_code} {r.text[:200]}")
        out[name] = round(time.monotonic() - t0, 2)
    return out


def soak(srv: Server, rss: RssSampler, plan: Plan, timeout: float) -> dict[str, Any]:
    """Many requests of the cheap and the engine's kinds (simulations with a new seed each: the
    same compiled program, new numbers), in rounds; the server's memory after each round."""
    rounds = 5
    per_round = max(1, plan.soak_requests // rounds)
    names = [n for n in ("profile", "simulate", "health") if n in plan.endpoints] or ["health"]
    after: list[float] = [round(rss.now() / MIB, 1)]
    statuses: Counter[str] = Counter()
    seed = 0

    async def one_round() -> None:
        nonlocal seed
        limits = httpx.Limits(max_connections=plan.soak_clients)
        async with httpx.AsyncClient(base_url=srv.url, limits=limits, timeout=timeout) as c:
            queue = list(range(per_round))

            async def client() -> None:
                nonlocal seed
                while queue:
                    i = queue.pop()
                    method, path, body = ENDPOINTS[names[i % len(names)]]
                    if path == "/api/simulate" and body is not None:
                        seed += 1
                        body = {**body, "seed": seed}
                    try:
                        statuses[str((await c.request(method, path, json=body)).status_code)] += 1
                    except httpx.HTTPError as exc:
                        statuses[type(exc).__name__] += 1

            await asyncio.gather(*(client() for _ in range(plan.soak_clients)))

    t0 = time.monotonic()
    for _ in range(rounds):
        asyncio.run(one_round())
        after.append(round(rss.now() / MIB, 1))
    return {
        "requests": per_round * rounds,
        "clients": plan.soak_clients,
        "endpoints": names,
        "status": dict(sorted(statuses.items())),
        "seconds": round(time.monotonic() - t0, 1),
        "rss_mib_after_each_round": after,
        "growth_mib_last_round": round(after[-1] - after[-2], 1),
    }


def horizons(srv: Server, rss: RssSampler, n: int, timeout: float) -> dict[str, Any]:
    """Simulations of one person, each with a horizon one day longer: how long each takes and
    the server's memory after each (does every new horizon compile, and keep, a program?)."""
    rows = []
    for k in range(n):
        years = 2.0 + (k + 1) / 365.25
        body = {**ENDPOINTS["simulate"][2], "years": years}  # type: ignore[dict-item]
        t0 = time.monotonic()
        r = httpx.post(srv.url + "/api/simulate", json=body, timeout=timeout)
        rows.append(
            {
                "years": round(years, 4),
                "status": r.status_code,
                "seconds": round(time.monotonic() - t0, 2),
                "rss_mib": round(rss.now() / MIB, 1),
            }
        )
    return {"requests": rows}


# ---------------------------------------------------------------------------- hostile requests


def _connect(srv: Server) -> socket.socket:
    return socket.create_connection((HOST, srv.port), timeout=60)


def _read_status(sock: socket.socket) -> tuple[int | None, bytes]:
    """The status code and the head of the response (None when the server closed first)."""
    data = b""
    with contextlib.suppress(OSError):
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    try:
        return int(data.split(b" ", 2)[1]), data
    except (IndexError, ValueError):
        return None, data


def _head(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {HOST}", "Content-Type: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def declared_oversize(srv: Server) -> dict[str, Any]:
    """A Content-Length over the limit: refused from the headers, before any body byte."""
    size = 16 * MAX_BODY_BYTES
    t0 = time.monotonic()
    with _connect(srv) as s:
        s.sendall(_head("/api/profile", {"Content-Length": str(size)}))
        status, _ = _read_status(s)
    return {
        "declared_bytes": size,
        "sent_bytes": 0,
        "status": status,
        "seconds": round(time.monotonic() - t0, 3),
    }


def chunked_oversize(srv: Server) -> dict[str, Any]:
    """A chunked body with no Content-Length, sent until the server answers: refused once the
    bytes received pass the limit."""
    sent = 0
    t0 = time.monotonic()
    with _connect(srv) as s:
        s.sendall(_head("/api/profile", {"Transfer-Encoding": "chunked"}))
        while sent < HOSTILE_MAX_BYTES and not select.select([s], [], [], 0)[0]:
            try:
                s.sendall(f"{CHUNK_BYTES:x}\r\n".encode() + b"x" * CHUNK_BYTES + b"\r\n")
            except OSError:
                break  # the server answered and closed
            sent += CHUNK_BYTES
        status, _ = _read_status(s)
    return {
        "limit_bytes": MAX_BODY_BYTES,
        "sent_bytes": sent,
        "status": status,
        "seconds": round(time.monotonic() - t0, 3),
    }


def full_oversize(srv: Server) -> dict[str, Any]:
    """A whole 1 MiB body with its Content-Length, as an ordinary client sends it."""
    t0 = time.monotonic()
    body = b'{"regimen": "' + b"x" * MIB + b'"}'
    try:
        r = httpx.post(
            srv.url + "/api/profile",
            content=body,
            timeout=30,
            headers={"content-type": "application/json"},
        )
        status: int | str = r.status_code
    except httpx.HTTPError as exc:  # the server answered 413 and closed mid-upload
        status = type(exc).__name__
    return {"body_bytes": len(body), "status": status, "seconds": round(time.monotonic() - t0, 3)}


def trickled_body(srv: Server, body_seconds: float) -> dict[str, Any]:
    """A body sent a byte at a time: cut off when the body's time limit passes."""
    sent = 0
    t0 = time.monotonic()
    give_up = t0 + 3 * body_seconds
    with _connect(srv) as s:
        s.sendall(_head("/api/profile", {"Content-Length": str(TRICKLE_DECLARED_BYTES)}))
        s.settimeout(TRICKLE_EVERY_SECONDS)
        while time.monotonic() < give_up and sent < TRICKLE_DECLARED_BYTES:
            try:
                s.sendall(b" ")
                sent += 1
                if s.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                continue
            except OSError:
                break
        s.settimeout(10)
        status, _ = _read_status(s)
    return {
        "declared_bytes": TRICKLE_DECLARED_BYTES,
        "sent_bytes": sent,
        "status": status,
        "seconds": round(time.monotonic() - t0, 2),
        "limit_seconds": body_seconds,
    }


def idle_connections(srv: Server, head_seconds: float) -> dict[str, Any]:
    """As many connections as the server serves, each sending nothing: a new client is refused
    while they are held (503), until the server closes them at the head deadline; then it is
    answered again."""
    socks = [_connect(srv) for _ in range(MAX_CONNECTIONS)]
    t0 = time.monotonic()
    time.sleep(head_seconds / 5)  # the server has taken them all in, and not yet closed them
    try:
        r = httpx.get(srv.url + "/api/health", timeout=10)
        while_held: int | str = r.status_code
    except httpx.HTTPError as exc:
        while_held = type(exc).__name__
    closed = 0
    deadline = t0 + head_seconds + IDLE_WATCH_SECONDS
    for s in socks:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        with contextlib.suppress(OSError):
            if s.recv(1) == b"":
                closed += 1
    all_closed = round(time.monotonic() - t0, 2)
    after = httpx.get(srv.url + "/api/health", timeout=10).status_code
    for s in socks:
        s.close()
    return {
        "status": while_held,
        "seconds": all_closed,
        "idle_connections": MAX_CONNECTIONS,
        "closed_by_server": closed,
        "limit_seconds": head_seconds,
        "health_after": after,
    }


def trickled_head(srv: Server, head_seconds: float) -> dict[str, Any]:
    """A request head sent a byte at a time: the connection is closed at the head deadline."""
    head = _head("/api/profile", {"Content-Length": "2"})
    sent = 0
    t0 = time.monotonic()
    closed = False
    with _connect(srv) as s:
        s.settimeout(TRICKLE_EVERY_SECONDS)
        while time.monotonic() < t0 + head_seconds + IDLE_WATCH_SECONDS and sent < len(head):
            try:
                s.sendall(head[sent : sent + 1])
                sent += 1
                if s.recv(1) == b"":
                    closed = True
                    break
            except TimeoutError:
                continue
            except OSError:
                closed = True
                break
    return {
        "status": "closed" if closed else "open",
        "seconds": round(time.monotonic() - t0, 2),
        "head_bytes": len(head),
        "sent_bytes": sent,
        "limit_seconds": head_seconds,
    }


def over_long(plan_full: bool) -> dict[str, Any]:
    """A second server whose time limit is SHORT_COMPUTE_SECONDS: a 30-year comparison and a
    trial at the person-years limit pass it and are answered 504 at the limit; the server then
    answers a cheap request again."""
    out: dict[str, Any] = {"compute_seconds": SHORT_COMPUTE_SECONDS}
    requests = {
        "compare_30_years": ("/api/compare", {"patient": WOMAN, "years": 30}),
        "trial_250000_person_years": (
            "/api/trial",
            {
                "spec": {
                    **SMALL_TRIAL,
                    "duration_years": 5,
                    "population": {**SMALL_TRIAL["population"], "n_per_arm": 25_000},
                }
            },  # type: ignore[dict-item]
        ),
    }
    if not plan_full:
        requests = dict(list(requests.items())[:1])
    with server(compute_seconds=SHORT_COMPUTE_SECONDS) as srv:
        out["ready_seconds"] = round(srv.ready_seconds, 1)
        for name, (path, body) in requests.items():
            t0 = time.monotonic()
            r = httpx.post(srv.url + path, json=body, timeout=SHORT_COMPUTE_SECONDS + 60)
            out[name] = {
                "status": r.status_code,
                "seconds": round(time.monotonic() - t0, 2),
                "message": r.json()["error"]["message"] if r.status_code >= 400 else None,
            }
        t0 = time.monotonic()
        r = httpx.get(srv.url + "/api/health", timeout=10)
        out["health_after"] = {"status": r.status_code, "seconds": round(time.monotonic() - t0, 3)}
    return out


# ---------------------------------------------------------------------------- the report


def markdown(doc: dict[str, Any]) -> str:
    lines = [
        "| endpoint | clients | requests | 200 | 503 | 504 | other | p50 ms | p90 ms | p99 ms "
        "| max ms | ok/s | RSS start/peak/end MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for c in doc["cells"]:
        st = c["status"]
        other = sum(v for k, v in st.items() if k not in ("200", "503", "504"))
        lat, rss = c["latency_ms"], c["rss"]
        lines.append(
            f"| {c['endpoint']} | {c['clients']} | {c['count']} | {st.get('200', 0)} "
            f"| {st.get('503', 0)} | {st.get('504', 0)} | {other} | {lat['p50']:g} "
            f"| {lat['p90']:g} | {lat['p99']:g} | {lat['max']:g} | {c['ok_per_s']:g} "
            f"| {rss['start_mib']:g}/{rss['peak_mib']:g}/{rss['end_mib']:g} |"
        )
    lines += ["", "| hostile request | answer | seconds | detail |", "|---|---|---:|---|"]
    for name, h in doc["hostile"].items():
        detail = ", ".join(f"{k} {v}" for k, v in h.items() if k not in ("status", "seconds"))
        lines.append(f"| {name} | {h.get('status')} | {h.get('seconds')} | {detail} |")
    if "over_long" in doc:
        o = doc["over_long"]
        for name, h in o.items():
            if isinstance(h, dict):
                lines.append(
                    f"| {name} (limit {o['compute_seconds']:g} s) | {h['status']} "
                    f"| {h['seconds']} | |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "figures" / "web_load.json")
    parser.add_argument("--quick", action="store_true", help="a few requests (a smoke test)")
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    from sermsim.interfaces.web.limits import COMPUTE_SECONDS

    timeout = COMPUTE_SECONDS + CLIENT_GRACE_SECONDS
    doc: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "limits": {
            "max_connections": MAX_CONNECTIONS,
            "max_waiting": MAX_WAITING,
            "max_body_bytes": MAX_BODY_BYTES,
            "body_seconds": BODY_SECONDS,
            "compute_seconds": COMPUTE_SECONDS,
        },
        "plan": {
            "levels": list(plan.levels),
            "cell_seconds": plan.cell_seconds,
            "min_requests": plan.min_requests,
        },
    }
    t_all = time.monotonic()
    with server(warm=not args.quick) as srv, RssSampler(srv.proc.pid) as rss:
        doc["server"] = {
            "ready_seconds": round(srv.ready_seconds, 1),
            "rss_mib_ready": round(rss.now() / MIB, 1),
        }
        doc["warm_up_seconds"] = warm_up(srv, plan.endpoints, timeout)
        doc["server"]["rss_mib_warm"] = round(rss.now() / MIB, 1)
        cells = []
        for endpoint in plan.endpoints:
            for clients in plan.levels:
                cell = run_cell(srv, rss, endpoint, clients, plan, timeout)
                cells.append(cell)
                print(
                    f"{endpoint:>8} x{clients:<3} {cell['status']} "
                    f"p50 {cell['latency_ms']['p50']:g} ms",
                    file=sys.stderr,
                )
        doc["cells"] = cells
        doc["soak"] = soak(srv, rss, plan, timeout)
        if plan.horizons:
            doc["horizons"] = horizons(srv, rss, plan.horizons, timeout)
        doc["hostile"] = {
            "declared_oversize": declared_oversize(srv),
            "chunked_oversize": chunked_oversize(srv),
            "full_oversize": full_oversize(srv),
            "trickled_body": trickled_body(srv, BODY_SECONDS),
            "trickled_head": trickled_head(srv, HEAD_SECONDS),
            "idle_connections": idle_connections(srv, HEAD_SECONDS),
        }
        doc["server"]["rss_mib_end"] = round(rss.now() / MIB, 1)
        doc["server"]["rss_mib_peak"] = round(max(v for _, v in rss.samples) / MIB, 1)
    doc["over_long"] = over_long(plan is FULL)
    doc["seconds"] = round(time.monotonic() - t_all, 1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    print(markdown(doc))
    print(f"\nfigures: {args.out} ({doc['seconds']:g} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
