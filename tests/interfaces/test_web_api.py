"""The HTTP API as a client drives it (FastAPI's TestClient): every endpoint answers with the
same JSON as the library, every user mistake is a 4xx naming the field, and the server keeps
answering after each; the body, size and time limits hold."""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sermsim import DISCLAIMER
from sermsim.interfaces.web import create_app
from sermsim.interfaces.web.guard import BodyLimit
from sermsim.interfaces.web.limits import (
    BODY_SECONDS,
    MAX_BODY_BYTES,
    MAX_TRIAL_PERSON_YEARS,
    Limits,
)
from sermsim.interfaces.web.worker import BusyError, ComputeTimeoutError, ComputeWorker

with warnings.catch_warnings():
    # Starlette now prefers the httpx2 fork; httpx (the dev dependency) works as before.
    warnings.simplefilter("ignore", UserWarning)
    from fastapi.testclient import TestClient

SCHEMAS = Path(__file__).parent.parent / "schemas"
STATIC = Path(__file__).parents[2] / "src" / "sermsim" / "interfaces" / "web" / "static"
WOMAN = {"sex": "female", "age": 55, "menopause": "post", "uterus": True,
         "breast_cancer_5y_risk": 0.03}  # fmt: skip
SMALL_TRIAL = {
    "name": "web_small",
    "seed": 3,
    "duration_years": 1,
    "population": {"sex": "female", "n_per_arm": 200, "age": 60, "menopause": "post"},
    "arms": [
        {"name": "placebo", "regimen": []},
        {"name": "raloxifene", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
    ],
    "endpoints": ["vte", {"name": "bmd_lumbar_spine_pct"}],
    "comparisons": [{"arm": "raloxifene", "reference": "placebo"}],
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        yield c


def answers_a_good_request(client: TestClient) -> None:
    """The server still computes (not only that it is up)."""
    r = client.post("/api/profile", json={"regimen": "raloxifene:60"})
    assert r.status_code == 200, r.text
    assert r.json()["agent"] == "raloxifene"


OPENAPI = create_app().openapi()


def conforms(r: Any) -> None:
    """The answer is one the OpenAPI schema documents: its status for its path (for a path the
    schema has), and its body's schema."""
    path, method = r.request.url.path, r.request.method.lower()
    documented = OPENAPI["paths"].get(path, {}).get(method, {}).get("responses")
    if documented is None:  # an unknown page or method: the errors' one shape
        schema = {"$ref": "#/components/schemas/ErrorResponse"}
    else:
        assert str(r.status_code) in documented, (path, r.status_code, sorted(documented))
        schema = documented[str(r.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(r.json(), {**schema, "components": OPENAPI["components"]})


def check_error(r: Any, status: int, field: str | None, *words: str) -> None:
    assert r.status_code == status, r.text
    conforms(r)
    assert "Traceback" not in r.text and 'File "' not in r.text
    body = r.json()
    assert body["disclaimer"] == DISCLAIMER
    assert body["error"]["field"] == field, body
    message = body["error"]["message"]
    assert "\n" not in message
    for word in words:
        assert word in message, (word, message)


# ------------------------------------------------------------------------------ endpoints


def test_health(client):
    r = client.get("/api/health")
    assert r.status_code == 200
    conforms(r)
    assert r.json()["status"] == "ok" and r.json()["disclaimer"] == DISCLAIMER
    assert r.headers["cache-control"] == "no-store"


def test_openapi_schema_and_docs_are_served(client):
    r = client.get("/openapi.json")
    assert r.status_code == 200
    schema = r.json()
    for path in ("/api/profile", "/api/simulate", "/api/compare", "/api/trial"):
        assert "post" in schema["paths"][path], path
    assert "get" in schema["paths"]["/api/health"]
    compare = schema["components"]["schemas"]["CompareRequest"]
    assert compare["required"] == ["patient"]
    assert compare["properties"]["patient"]["properties"]["sex"]["enum"] == ["female", "male"]
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/docs.js" in docs.text


def test_the_page_and_its_files_load_nothing_from_elsewhere(client):
    page = client.get("/")
    assert page.status_code == 200
    assert "not medical advice" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for name in ("index.html", "docs.html", "app.js", "docs.js", "style.css"):
        r = client.get(f"/static/{name}")
        assert r.status_code == 200, name
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", r.text), name
        assert 'fetch("http' not in r.text and "@import" not in r.text, name
    assert {p.name for p in STATIC.iterdir()} == {
        "index.html",
        "docs.html",
        "app.js",
        "docs.js",
        "style.css",
    }


def test_profile_is_the_cli_json(client):
    r = client.post("/api/profile", json={"regimen": "raloxifene:60"})
    assert r.status_code == 200, r.text
    conforms(r)
    doc = r.json()
    jsonschema.validate(doc, json.loads((SCHEMAS / "profile.schema.json").read_text()))
    assert doc["regimen"] == "raloxifene:60" and doc["disclaimer"] == DISCLAIMER
    from sermsim.agents import load_agents, parse_regimen
    from sermsim.interfaces import render
    from sermsim.selectivity import profile_regimen

    agents = load_agents()
    profile = profile_regimen(parse_regimen("raloxifene:60", agents), agents)
    assert doc == json.loads(render.profile_json([profile], single=True))


def test_simulate_gives_the_summary_and_a_monthly_series(client):
    body = {"patient": WOMAN, "regimen": "raloxifene:60", "years": 1}
    r = client.post("/api/simulate", json=body)
    assert r.status_code == 200, r.text
    conforms(r)
    doc = r.json()
    assert doc["regimen"] == "raloxifene:60" and doc["disclaimer"] == DISCLAIMER
    assert doc["patient"] == "postmenopausal woman aged 55"
    series = doc["series"]
    assert len(series["time_years"]) == 13  # twelve month starts and the last day
    assert series["time_years"][0] == 0.0 and series["time_years"][-1] == pytest.approx(1, abs=0.01)
    for name, entry in doc["biomarkers"].items():
        if "not_applicable" in entry:
            assert series["not_applicable"][name] == entry["not_applicable"]
            continue
        values = series["biomarkers"][name]["values"]
        assert len(values) == 13
        assert values[0] == entry["baseline"] and values[-1] == entry["end"], name
    assert set(series["signal"]) == {"bone", "breast", "endometrium", "liver", "hypothalamus",
                                     "thermoregulation", "vagina"}  # fmt: skip
    assert all(0.0 <= v <= 1.0 for v in series["drug_occupancy"]["breast"])
    assert series["drug_occupancy"]["breast"][-1] > 0.1  # raloxifene holds breast ERα


def test_compare_is_the_library_result(client):
    body = {"patient": WOMAN, "years": 5, "agents": ["raloxifene"], "weights": {"dvt": 1.0}}
    r = client.post("/api/compare", json=body)
    assert r.status_code == 200, r.text
    conforms(r)
    doc = r.json()
    assert [o["key"] for o in doc["options"]] == ["none", "raloxifene"]
    assert doc["weights"]["dvt"] == 1.0 and doc["per"] == 1000
    assert doc["disclaimer"] == DISCLAIMER
    events = [k for k, e in doc["endpoints"].items() if e["kind"] == "event"]
    for option in doc["options"]:
        assert set(events) <= set(option["events"])
    from sermsim.compare import compare
    from sermsim.physiology.patient import patient_from_mapping

    expected = compare(
        patient_from_mapping(WOMAN), years=5, options=["raloxifene"], weights={"dvt": 1.0}
    ).result
    for key in ("options", "weights", "endpoints", "per", "years", "patient"):
        assert doc[key] == expected[key], key


def test_compare_defaults_for_the_form(client):
    r = client.get("/api/compare/defaults")
    assert r.status_code == 200
    conforms(r)
    doc = r.json()
    assert "raloxifene" in doc["options"] and doc["weights"]["invasive_breast_cancer"] == 1.0
    assert doc["limits"]["max_years"] == Limits().max_years


def test_trial_gives_the_result_json(client):
    r = client.post("/api/trial", json={"spec": SMALL_TRIAL})
    assert r.status_code == 200, r.text
    conforms(r)
    doc = r.json()
    jsonschema.validate(doc, json.loads((SCHEMAS / "trial_result.schema.json").read_text()))
    assert set(doc["arms"]) == {"placebo", "raloxifene"}
    assert doc["arms"]["placebo"]["n"] == 200 and doc["disclaimer"] == DISCLAIMER


# ------------------------------------------------------------------------------ mistakes

NOPE = {"agent": "nope", "dose_mg": 60}
TOO_MANY = MAX_TRIAL_PERSON_YEARS  # people per arm: with two arms and a year, twice the limit
BAD_REQUESTS = [
    # (name, path, JSON body, status, field, words in the message)
    ("no patient", "/api/simulate", {"regimen": "none"}, 422, "patient", ["required"]),
    ("no sex", "/api/compare", {"patient": {"age": 55}}, 422, "patient.sex", ["required"]),
    ("no age", "/api/simulate", {"patient": {"sex": "female"}}, 422, "patient.age", ["required"]),
    ("age 300", "/api/compare", {"patient": {**WOMAN, "age": 300}}, 422, "patient.age", ["300"]),
    ("age text", "/api/simulate", {"patient": {**WOMAN, "age": "55"}}, 422, "patient.age", []),
    ("unknown patient key", "/api/simulate", {"patient": {**WOMAN, "agee": 5}}, 422,
     "patient.agee", ["did you mean age"]),
    ("unknown agent", "/api/compare", {"patient": WOMAN, "agents": ["bogusifene"]}, 422,
     "agents", ["bogusifene", "raloxifene"]),
    ("agent not text", "/api/compare", {"patient": WOMAN, "agents": [3]}, 422, "agents[0]", []),
    ("unknown weight", "/api/compare", {"patient": WOMAN, "weights": {"acne": 1}}, 422,
     "weights.acne", ["acne"]),
    ("unknown regimen agent", "/api/profile", {"regimen": "bogusifene:60"}, 422,
     "regimen[0].agent", ["bogusifene"]),
    ("empty regimen", "/api/profile", {"regimen": ""}, 422, "regimen", []),
    ("years over the cap", "/api/compare", {"patient": WOMAN, "years": 500}, 422, "years",
     ["500", "at most"]),
    ("years negative", "/api/simulate", {"patient": WOMAN, "years": -1}, 422, "years", ["-1"]),
    ("years text", "/api/simulate", {"patient": WOMAN, "years": "3"}, 422, "years", ["'3'"]),
    ("unknown top key", "/api/simulate", {"patient": WOMAN, "yeers": 3}, 422, "yeers",
     ["did you mean years"]),
    ("body not an object", "/api/profile", [1, 2], 422, "body", []),
    ("unknown key with a line break", "/api/profile", {"regimen": "raloxifene", "a\nb\r": 1},
     422, "a\\nb\\r", ["unknown key"]),  # found by schemathesis: a two-line message
    ("trial too large", "/api/trial",
     {"spec": {**SMALL_TRIAL, "population": {"sex": "female", "n_per_arm": TOO_MANY}}}, 422,
     "spec.population.n_per_arm", [f"{TOO_MANY}", "at most", "person-years"]),
    ("trial anchors", "/api/trial", {"spec": {**SMALL_TRIAL, "physiology_anchors": 5000}}, 422,
     "spec.physiology_anchors", ["5000"]),
    ("trial without a name", "/api/trial",
     {"spec": {k: v for k, v in SMALL_TRIAL.items() if k != "name"}}, 422, "spec.name",
     ["required"]),
    ("trial no one included", "/api/trial", {"spec": {**SMALL_TRIAL, "inclusion": ["age > 99"]}},
     422, "spec.inclusion", ["age > 99"]),
    ("trial unknown agent", "/api/trial",
     {"spec": {**SMALL_TRIAL, "arms": [{"name": "x", "regimen": [NOPE]}]}}, 422,
     "spec.arms[0].regimen[0].agent", ["nope"]),
]  # fmt: skip


@pytest.mark.parametrize(
    ("path", "body", "status", "field", "words"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
def test_a_mistake_is_a_4xx_naming_the_field_and_the_server_goes_on(
    client, path, body, status, field, words
):
    check_error(client.post(path, json=body), status, field, *words)
    answers_a_good_request(client)


def test_malformed_json_is_422_naming_the_body(client):
    r = client.post(
        "/api/compare", content=b'{"patient": {"sex": "female", ', headers=_JSON_HEADERS
    )
    check_error(r, 422, "body", "not valid JSON")
    answers_a_good_request(client)


def test_a_10_mb_body_is_413_and_the_server_goes_on(client):
    big = b'{"regimen": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    check_error(
        client.post("/api/profile", content=big, headers=_JSON_HEADERS), 413, "body", "at most"
    )
    answers_a_good_request(client)


def test_unknown_page_and_wrong_method_are_json_errors(client):
    check_error(client.get("/api/nothing"), 404, None, "no such page")
    check_error(client.get("/api/compare"), 405, None, "GET")
    answers_a_good_request(client)


_JSON_HEADERS = {"content-type": "application/json"}


# ------------------------------------------------------------------------------ the limits


def _drive(app: Any, messages: Iterator[dict[str, Any]], headers: list[tuple[bytes, bytes]]):
    """Call an ASGI app with the given request messages; return (status, messages read)."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        read += 1
        return next(messages)

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "path": "/api/profile", "headers": headers}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], read, sent


def test_a_streamed_body_is_cut_off_at_the_limit_without_reading_the_rest():
    chunk = b"x" * 1024
    endless = ({"type": "http.request", "body": chunk, "more_body": True} for _ in range(10**6))
    reached: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:  # never reached
        reached.append(True)

    status, read, _ = _drive(BodyLimit(app, MAX_BODY_BYTES, BODY_SECONDS), endless, [])
    assert status == 413 and not reached
    assert read == MAX_BODY_BYTES // len(chunk) + 1  # the limit and one chunk more, no further


def test_a_declared_large_body_is_refused_before_reading_any():
    def never() -> Iterator[dict[str, Any]]:
        raise AssertionError("the body was read")
        yield {}

    headers = [(b"content-length", str(10 * 1024 * 1024).encode())]
    status, read, sent = _drive(
        BodyLimit(lambda *a: None, MAX_BODY_BYTES, BODY_SECONDS), never(), headers
    )
    assert status == 413 and read == 0
    assert json.loads(sent[1]["body"])["error"]["field"] == "body"


def test_a_small_body_is_passed_on_whole():
    parts = iter(
        [
            {"type": "http.request", "body": b'{"a": ', "more_body": True},
            {"type": "http.request", "body": b"1}", "more_body": False},
        ]
    )
    got: list[bytes] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        got.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 200, "headers": []})

    status, _read, _ = _drive(BodyLimit(app, MAX_BODY_BYTES, BODY_SECONDS), parts, [])
    assert status == 200 and got == [b'{"a": 1}']


def test_a_trickled_body_is_408_at_its_time_limit():
    """A client sending its body a byte at a time (to hold a connection) is cut off when the
    body's time passes, not when the body's size does."""
    reached: list[bool] = []
    sent: list[dict[str, Any]] = []

    async def trickle() -> dict[str, Any]:
        await asyncio.sleep(0.01)
        return {"type": "http.request", "body": b" ", "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    async def app(scope: Any, receive: Any, send: Any) -> None:  # never reached
        reached.append(True)

    scope = {"type": "http", "method": "POST", "path": "/api/profile", "headers": []}
    started = time.monotonic()
    asyncio.run(BodyLimit(app, MAX_BODY_BYTES, seconds=0.3)(scope, trickle, send))
    took = time.monotonic() - started
    assert sent[0]["status"] == 408 and not reached
    assert 0.3 <= took < 0.3 + 2.0, took  # at the limit, whatever the machine's load
    assert json.loads(sent[1]["body"])["error"]["field"] == "body"


def test_the_app_serves_again_after_its_lifespan_ends_and_starts():
    """A test client or a schema loader ends the app's lifespan; the next one must still
    compute (the worker thread starts again), not answer 500."""
    app = create_app()
    for _ in range(2):
        with TestClient(app, raise_server_exceptions=False) as c:
            answers_a_good_request(c)


def test_a_request_over_the_time_limit_is_504_and_the_server_goes_on():
    app = create_app(limits=Limits(compute_seconds=0.001))
    with TestClient(app, raise_server_exceptions=False) as slow:
        r = slow.post("/api/profile", json={"regimen": "raloxifene:60"})
        check_error(r, 504, None, "limit of 0.001 s", "command line")
        assert slow.get("/api/health").status_code == 200
        app.state.worker.wait_idle(timeout=300)


def test_computations_run_one_at_a_time_on_one_thread():
    worker = ComputeWorker(max_waiting=4)
    threads: list[int] = []
    running = 0
    overlapped = False
    lock = threading.Lock()

    def work(_deadline: Any) -> int:
        nonlocal running, overlapped
        with lock:
            running += 1
            overlapped |= running > 1
        threads.append(threading.get_ident())
        threading.Event().wait(0.05)
        with lock:
            running -= 1
        return 1

    async def many() -> list[int]:
        return list(await asyncio.gather(*(worker.run(work, 10.0) for _ in range(4))))

    assert asyncio.run(many()) == [1, 1, 1, 1]
    assert not overlapped and len(set(threads)) == 1 and threads[0] != threading.get_ident()
    worker.shutdown()


def test_a_full_line_is_refused_at_once():
    worker = ComputeWorker(max_waiting=0)
    release = threading.Event()

    async def two() -> None:
        first = asyncio.ensure_future(worker.run(lambda _d: release.wait(10), 10.0))
        await asyncio.sleep(0.05)
        with pytest.raises(BusyError):
            await worker.run(lambda _d: None, 10.0)
        release.set()
        assert await first is True

    asyncio.run(two())
    worker.shutdown()


def test_a_computation_that_reports_progress_stops_at_its_deadline():
    worker = ComputeWorker(max_waiting=1)
    steps: list[int] = []

    def long(deadline: Any) -> None:
        for i in range(1000):
            deadline(f"step {i}", i / 1000)  # raises once past the deadline
            steps.append(i)
            threading.Event().wait(0.01)

    with pytest.raises(ComputeTimeoutError):
        asyncio.run(worker.run(long, 1.0))
    worker.wait_idle(timeout=20)
    # It started (the thread had a whole second to pick it up, even on a loaded machine) and
    # stopped soon after 1 s, not after the 10 s its 1,000 steps would take.
    assert 0 < len(steps) < 500
    worker.shutdown()


def test_an_unexpected_error_is_a_500_whose_message_reaches_no_log(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from sermsim.interfaces.web import app as web_app

    def broken(*_: Any) -> dict[str, Any]:
        raise KeyError("patient age 55.0 breast risk 0.031")  # a bug quoting a person

    monkeypatch.setattr(web_app, "_profile", broken)
    with TestClient(create_app(), raise_server_exceptions=True) as c:  # nothing may escape
        r = c.post("/api/profile", json={"regimen": "raloxifene:60"})
        check_error(r, 500, None, "unexpected error", "please report")
        assert "0.031" not in r.text
        monkeypatch.undo()
        answers_a_good_request(c)
    assert "0.031" not in caplog.text and "KeyError" in caplog.text


def test_errors_do_not_echo_a_huge_value(client: TestClient) -> None:
    r = client.post("/api/compare", json={"patient": {**WOMAN, "x" * 60_000: 1}})
    assert r.status_code == 422
    assert len(r.content) < 2_000
    r = client.post("/api/compare", json={"patient": WOMAN, "agents": ["aspirin" * 5_000]})
    assert r.status_code == 422 and len(r.content) < 2_000
    answers_a_good_request(client)
