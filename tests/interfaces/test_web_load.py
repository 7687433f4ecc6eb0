"""benchmarks/web_load.py's load generator and hostile probes, against the real uvicorn server
of `sermsim serve` (its settings, :func:`server_config`) run in a thread with short deadlines:
cheap requests only, so the script cannot rot and the deadlines are seen to hold."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace

import pytest
import uvicorn

from sermsim.interfaces.web.app import server_config
from sermsim.interfaces.web.limits import MAX_BODY_BYTES, Limits

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 0.5  # the test server's head and body deadlines, in seconds
SLACK = 3.0  # seconds a loaded 2-core machine may add to a deadline


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("web_load", ROOT / "benchmarks" / "web_load.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


web_load = _load()


@pytest.fixture(scope="module")
def srv() -> Iterator[SimpleNamespace]:
    port = web_load.free_port()
    limits = Limits(head_seconds=DEADLINE, body_seconds=DEADLINE)
    config = server_config(web_load.HOST, port, warm=False, limits=limits)
    config.log_level = "warning"
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = time.monotonic()
    while not server.started:
        assert time.monotonic() - started < 30, "the server did not start"
        time.sleep(0.02)
    yield SimpleNamespace(url=f"http://{web_load.HOST}:{port}", port=port)
    server.should_exit = True
    thread.join(timeout=10)


def test_the_load_generator_counts_every_request_and_summarises_them(srv):
    results, wall = asyncio.run(web_load.drive(srv.url, "health", 4, 24, 10.0, 10.0))
    summary = web_load.summarise(results, wall)
    assert summary["count"] == 24 and summary["status"] == {"200": 24}
    lat = summary["latency_ms"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"]


def test_the_load_generator_stops_at_its_time_bound(srv):
    results, wall = asyncio.run(web_load.drive(srv.url, "health", 2, 10**6, 0.3, 10.0))
    assert 0 < len(results) < 10**6 and wall < 0.3 + SLACK


def test_oversize_bodies_are_refused_with_413(srv):
    declared = web_load.declared_oversize(srv)
    assert declared["status"] == 413 and declared["sent_bytes"] == 0
    chunked = web_load.chunked_oversize(srv)
    assert chunked["status"] == 413 and chunked["sent_bytes"] > MAX_BODY_BYTES
    assert web_load.full_oversize(srv)["status"] in (413, "WriteError", "RemoteProtocolError")


def test_a_trickled_body_and_a_trickled_head_are_cut_off_at_their_deadlines(srv):
    body = web_load.trickled_body(srv, DEADLINE)
    assert body["status"] == 408 and DEADLINE <= body["seconds"] < DEADLINE + SLACK
    head = web_load.trickled_head(srv, DEADLINE)
    assert head["status"] == "closed" and head["sent_bytes"] < head["head_bytes"]
    assert DEADLINE <= head["seconds"] < DEADLINE + SLACK


def test_the_server_closes_silent_connections_and_answers_again(srv):
    idle = web_load.idle_connections(srv, DEADLINE)
    assert idle["status"] == 503  # every place held: uvicorn refuses the next client
    assert idle["closed_by_server"] == idle["idle_connections"]
    assert idle["seconds"] < DEADLINE + SLACK and idle["health_after"] == 200


def test_the_memory_probe_reads_this_process():
    assert web_load.rss_bytes(os.getpid()) > 1024 * 1024
