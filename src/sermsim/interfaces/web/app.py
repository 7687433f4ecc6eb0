"""The web app: an HTTP API over sermsim's public functions, and one page that uses it.

Each endpoint validates its body (pydantic, then the function's own checks), calls one public
function on the engine's worker thread (:mod:`.worker`) and returns its JSON. No science here.
A user's mistake is a 4xx JSON ``{"error": {"field", "message"}, "disclaimer"}`` naming the
field; nothing about a person is logged or stored, and every response says sermsim is not
medical advice.
"""

from __future__ import annotations

import difflib
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from sermsim import DISCLAIMER, __version__
from sermsim.core.errors import DataError, NumericalError, SermsimError, SpecError
from sermsim.interfaces.web.guard import BodyLimit, error_body, one_line
from sermsim.interfaces.web.limits import Limits
from sermsim.interfaces.web.schemas import (
    CompareDefaultsResponse,
    CompareRequest,
    CompareResponse,
    ErrorResponse,
    HealthResponse,
    ProfileRequest,
    ProfileResponse,
    SimulateRequest,
    SimulateResponse,
    TrialRequest,
    TrialResponse,
)
from sermsim.interfaces.web.worker import BusyError, ComputeTimeoutError, ComputeWorker, Deadline
from sermsim.physiology.patient import Patient, patient_from_mapping

if TYPE_CHECKING:
    import uvicorn

STATIC = Path(__file__).parent / "static"

#: Open connections uvicorn serves at once; more get 503. The engine runs one computation at
#: a time, so more connections would only wait; 64 leaves room for the page's static files.
MAX_CONNECTIONS = 64

#: Responses about a person are not kept by the browser or a proxy.
_NO_STORE = {"Cache-Control": "no-store"}
#: The page loads only its own files (no CDN, no inline script).
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_SHOWN_CHARS = 60  # a value quoted in an error message is cut to this many characters

log = logging.getLogger("sermsim.web")

#: Each error status the API answers with, and why (the OpenAPI schema's ``responses``).
_ERROR_WHY = {
    400: "the body is not readable as JSON text (not UTF-8), or its Content-Length is not a number",
    408: "the body did not all arrive within this server's time limit",
    413: "the body is larger than this server's limit",
    422: "a mistake in the request: the field, the value and the fix",
    500: "a failure of sermsim, never of the input (please report it)",
    503: "the server is busy: too many computations wait already (JSON, with Retry-After), "
    "or it has as many open connections as it serves (the HTTP server's plain text)",
    504: "the computation passed this server's time limit",
}
#: The body limit, the connection limit and the safety net answer on every path; a
#: computation may also be refused for its input or its time.
_ON_EVERY_PATH = (400, 408, 413, 500, 503)
_ON_A_COMPUTATION = (*_ON_EVERY_PATH, 422, 504)


def _responses(ok: type[BaseModel], errors: tuple[int, ...]) -> dict[int | str, dict[str, Any]]:
    """The documented answers of one route: its success model and its errors' one shape."""
    out: dict[int | str, dict[str, Any]] = {200: {"model": ok}}
    for status in errors:
        out[status] = {"model": ErrorResponse, "description": _ERROR_WHY[status]}
    out[503]["content"] = {"text/plain": {"schema": {"type": "string"}}}  # uvicorn's refusal
    return out


def _json(content: Mapping[str, Any], status: int = 200) -> JSONResponse:
    """A JSON response that carries the disclaimer and is not cached."""
    body = dict(content)
    body.setdefault("disclaimer", DISCLAIMER)
    return JSONResponse(body, status_code=status, headers=_NO_STORE)


def _error(status: int, field: str | None, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        error_body(field, message), status_code=status, headers={**_NO_STORE, **headers}
    )


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _field(loc: tuple[int | str, ...]) -> str:
    """``("body", "patient", "age")`` -> ``patient.age``; list positions as ``agents[0]``."""
    out = ""
    for part in loc[1:] if loc and loc[0] == "body" else loc:
        name = one_line(str(part))  # a key may hold a line break: the message is one line
        out += f"[{part}]" if isinstance(part, int) else (f".{name}" if out else name)
    return out or "body"


_TYPE_FIX = {  # pydantic's error type -> the fix, in the words of the patient's errors
    "float_type": "write a number, unquoted",
    "float_parsing": "write a number, unquoted",
    "finite_number": "write a finite number",
    "int_type": "write a whole number, unquoted",
    "int_from_float": "write a whole number",
    "string_type": "write text, in quotes",
    "list_type": 'write a list, e.g. ["raloxifene"]',
    "dict_type": "write a JSON object of keys and values",
    "model_type": "send a JSON object of the keys in /docs",
    "model_attributes_type": "send a JSON object of the keys in /docs",
}


def _validation_message(error: Mapping[str, Any], model: type[BaseModel] | None) -> tuple[str, str]:
    """One line naming the field, the value and the fix, as a SpecError's.

    >>> _validation_message({"type": "float_type", "loc": ("body", "years"), "input": "3",
    ...                      "msg": "Input should be a valid number"}, None)
    ('years', "years: '3' is invalid; write a number, unquoted")
    """
    kind = error["type"]
    field = _field(tuple(error["loc"]))
    if kind == "json_invalid":
        reason = (error.get("ctx") or {}).get("error", "not JSON")
        return "body", f"body: the request is not valid JSON ({reason}); send a JSON object"
    if kind == "missing":
        what = "a JSON object" if field == "body" else field
        return field, f"{field}: <missing> is invalid; {what} is required (see /docs)"
    if kind == "extra_forbidden":
        keys = list(model.model_fields) if model is not None else []
        near = difflib.get_close_matches(field, keys, n=1)
        fix = f"did you mean {near[0]}?" if near else f"use one of {', '.join(keys) or '/docs'}"
        return field, f"{field}: {_shown(field)} is invalid; unknown key: {fix}"
    fix = _TYPE_FIX.get(kind) or str(error.get("msg", "see /docs")).removeprefix("Value error, ")
    return field, f"{field}: {_shown(error.get('input'))} is invalid; {fix[:1].lower()}{fix[1:]}"


def _patient(data: Mapping[str, Any]) -> Patient:
    return patient_from_mapping(data, where="patient")


def _check_years(years: float, limits: Limits) -> None:
    if years > limits.max_years:
        raise SpecError(
            "years",
            years,
            f"give at most {limits.max_years:g} years on this server (its limit per request); "
            "the sermsim command line runs longer",
        )


# -------------------------------------------------------------------------- the computations
# Each runs on the worker thread: imported there, so the engine is loaded off the event loop.


def _profile(req: ProfileRequest, deadline: Deadline) -> dict[str, Any]:
    from sermsim.agents import parse_regimen
    from sermsim.interfaces import render
    from sermsim.physiology.simulate import default_engine
    from sermsim.selectivity import profile_regimen

    agents = default_engine().agents
    profile = profile_regimen(parse_regimen(req.regimen, agents), agents)
    result: dict[str, Any] = json.loads(render.profile_json([profile], single=True))
    return result


def _simulate(patient: Patient, req: SimulateRequest, deadline: Deadline) -> dict[str, Any]:
    from sermsim.agents import parse_regimen
    from sermsim.interfaces import simulation_render as sr
    from sermsim.interfaces.web.series import monthly_series
    from sermsim.physiology.simulate import default_engine, simulate

    regimen = parse_regimen(req.regimen, default_engine().agents)
    ds = simulate(patient, regimen, req.years, seed=req.seed)
    return {**sr.summary(ds), "series": monthly_series(ds)}


def _compare(patient: Patient, req: CompareRequest, deadline: Deadline) -> dict[str, Any]:
    from sermsim.compare import compare

    result = compare(
        patient, years=req.years, options=req.agents, weights=req.weights, progress=deadline
    ).result
    return result


def _compare_defaults() -> dict[str, Any]:
    from sermsim.compare import default_options, default_weights

    return {"options": default_options(), "weights": default_weights()}


def _trial(req: TrialRequest, limits: Limits, deadline: Deadline) -> dict[str, Any]:
    from sermsim.physiology.simulate import default_engine
    from sermsim.trials.run import run_trial
    from sermsim.trials.spec import parse_trial

    try:
        spec = parse_trial(req.spec, default_engine().agents)
    except SpecError as exc:
        raise _in_spec(exc) from None
    person_years = spec.n_per_arm * len(spec.arms) * spec.duration_years
    if person_years > limits.max_trial_person_years:
        most = int(limits.max_trial_person_years // (len(spec.arms) * spec.duration_years))
        raise SpecError(
            "spec.population.n_per_arm",
            spec.n_per_arm,
            f"give at most {most:,} people per arm for {len(spec.arms)} arms over "
            f"{spec.duration_years:g} year(s): this server runs up to "
            f"{limits.max_trial_person_years:,.0f} person-years a request "
            "(run bigger trials with `sermsim trial run`)",
        )
    if spec.anchors > limits.max_trial_anchors:
        raise SpecError(
            "spec.physiology_anchors",
            spec.anchors,
            f"give at most {limits.max_trial_anchors} on this server "
            "(run more with `sermsim trial run`)",
        )
    try:  # a spec can parse and still ask the impossible (an inclusion no one meets)
        result: dict[str, Any] = run_trial(spec, progress=deadline).result
    except SpecError as exc:
        raise _in_spec(exc) from None
    return result


def _in_spec(exc: SpecError) -> SpecError:
    """A trial spec's error, named as the request's field: ``spec.<field>``."""
    return SpecError(f"spec.{exc.field}", exc.value, exc.fix)


# -------------------------------------------------------------------------- the app


def _warm_up() -> None:
    """Compile the engine for the page's default comparison (a typical 55-year-old woman, every
    standard option, 5 years) so that the first person to ask does not wait for it."""
    from sermsim.compare import compare
    from sermsim.physiology.patient import Patient

    try:
        compare(Patient(sex="female", age=55), years=5)
    except Exception as exc:  # the server still serves; the first request compiles instead
        log.error("warm-up failed: %s", type(exc).__name__)


def create_app(*, limits: Limits | None = None, warm: bool = False) -> FastAPI:
    """The sermsim web app: the page at ``/``, the API under ``/api``, its schema at
    ``/openapi.json`` and a page describing it at ``/docs``.

    >>> app = create_app()
    >>> sorted(r.path for r in app.routes if r.path.startswith("/api/"))[:3]
    ['/api/compare', '/api/compare/defaults', '/api/health']
    """
    limits = limits or Limits()
    worker = ComputeWorker(limits.max_waiting)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if warm:
            worker.start(_warm_up)
        yield
        worker.shutdown()

    app = FastAPI(
        title="sermsim",
        version=__version__,
        description=f"A QSP simulator of selective estrogen receptor modulators. {DISCLAIMER}",
        docs_url=None,  # FastAPI's docs pages load from a CDN; ours is served from static/
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.limits = limits
    app.state.worker = worker
    app.add_middleware(BodyLimit, max_bytes=limits.max_body_bytes, seconds=limits.body_seconds)
    models: dict[str, type[BaseModel]] = {
        "/api/profile": ProfileRequest,
        "/api/simulate": SimulateRequest,
        "/api/compare": CompareRequest,
        "/api/trial": TrialRequest,
    }
    _add_error_handlers(app, models)

    async def compute(work: Callable[[Deadline], dict[str, Any]]) -> JSONResponse:
        return _json(await worker.run(work, limits.compute_seconds))

    @app.post(
        "/api/profile",
        summary="Tissue-selectivity profile of a regimen",
        responses=_responses(ProfileResponse, _ON_A_COMPUTATION),
    )
    async def profile(req: ProfileRequest) -> JSONResponse:
        """Intrinsic activity and net change of the tissue signal per tissue, post- and
        premenopausal (as sermsim profile REGIMEN --json)."""
        return await compute(lambda d: _profile(req, d))

    @app.post(
        "/api/simulate",
        summary="One person on one regimen",
        responses=_responses(SimulateResponse, _ON_A_COMPUTATION),
    )
    async def simulate(req: SimulateRequest) -> JSONResponse:
        """The summary of sermsim simulate --json and a monthly series of the biomarkers,
        tissue signals and ERα drug occupancy."""
        patient = _patient(req.patient)
        _check_years(req.years, limits)
        return await compute(lambda d: _simulate(patient, req, d))

    @app.post(
        "/api/compare",
        summary="Benefit and harm of every option for one person",
        responses=_responses(CompareResponse, _ON_A_COMPUTATION),
    )
    async def compare(req: CompareRequest) -> JSONResponse:
        """Expected events per 1,000 people like this one with 95% intervals, the net-benefit
        index, suitability flags and tissue signals (as sermsim compare --json)."""
        patient = _patient(req.patient)
        _check_years(req.years, limits)
        return await compute(lambda d: _compare(patient, req, d))

    @app.get(
        "/api/compare/defaults",
        summary="The standard options and weights",
        responses=_responses(CompareDefaultsResponse, _ON_EVERY_PATH),
    )
    def compare_defaults() -> JSONResponse:
        """The options and net-benefit weights /api/compare uses when none are given, and
        this server's limits (for the page's form)."""
        return _json({**_compare_defaults(), "limits": {"max_years": limits.max_years}})

    @app.post(
        "/api/trial",
        summary="A virtual trial (TRIAL_SPEC.md)",
        responses=_responses(TrialResponse, _ON_A_COMPUTATION),
    )
    async def trial(req: TrialRequest) -> JSONResponse:
        """The result of sermsim trial run --json for the spec, within this server's size
        limit (people per arm × arms × years)."""
        return await compute(lambda d: _trial(req, limits, d))

    @app.get(
        "/api/health",
        summary="Is the server up",
        responses=_responses(HealthResponse, _ON_EVERY_PATH),
    )
    async def health() -> JSONResponse:
        return _json({"status": "ok", "sermsim_version": __version__})

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=_PAGE_HEADERS)

    @app.get("/docs", include_in_schema=False)
    async def docs() -> FileResponse:
        return FileResponse(STATIC / "docs.html", headers=_PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app


def _add_error_handlers(app: FastAPI, models: Mapping[str, type[BaseModel]]) -> None:
    """Every error as ``{"error": {"field", "message"}, "disclaimer"}``; never a traceback."""

    @app.exception_handler(SpecError)
    async def spec_error(_: Request, exc: SpecError) -> Response:
        return _error(422, exc.field, str(exc))

    @app.exception_handler(NumericalError)
    async def numerical_error(_: Request, exc: NumericalError) -> Response:
        return _error(500, None, f"{exc} (a failure of the model, not of your input)")

    @app.exception_handler(DataError)
    async def data_error(_: Request, exc: DataError) -> Response:
        log.error("data error: %s", exc)
        return _error(500, None, "a data file shipped with sermsim is invalid; please report")

    @app.exception_handler(SermsimError)
    async def sermsim_error(_: Request, exc: SermsimError) -> Response:
        return _error(422, getattr(exc, "field", None), str(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> Response:
        order = {"json_invalid": 0, "extra_forbidden": 1, "missing": 2}
        error = min(exc.errors(), key=lambda e: order.get(e["type"], 3))
        field, message = _validation_message(error, models.get(request.url.path))
        return _error(422, field, message)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:
            message = f"{request.url.path}: no such page; see /docs for the API"
        elif exc.status_code == 405:
            message = f"{request.url.path}: {request.method} is not allowed here; see /docs"
        elif exc.status_code == 400:  # FastAPI could not decode the body (not UTF-8 text)
            detail = str(exc.detail)
            message = f"body: {detail[:1].lower()}{detail[1:]}; send a JSON object as UTF-8 text"
            return _error(400, "body", message)
        else:
            message = str(exc.detail)
        return _error(exc.status_code, None, message)

    @app.exception_handler(ComputeTimeoutError)
    async def overrun(_: Request, exc: ComputeTimeoutError) -> Response:
        return _error(
            504,
            None,
            f"{exc}: ask for fewer years, options or people, or run it with the sermsim "
            "command line",
        )

    @app.exception_handler(BusyError)
    async def busy(_: Request, exc: BusyError) -> Response:
        return _error(
            503,
            None,
            "the server is busy with other computations; try again in a minute",
            **{"Retry-After": "60"},
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected %s", type(exc).__name__)  # no message: it may quote a person
        return _error(500, None, "an unexpected error in sermsim; please report it")


def server_config(
    host: str = "127.0.0.1", port: int = 8000, *, warm: bool = True, limits: Limits | None = None
) -> uvicorn.Config:
    """uvicorn's settings for the app: no access log (requests about a person are not written
    anywhere), at most :data:`MAX_CONNECTIONS` connections, and a deadline for each request's
    head (:mod:`.connections`). With ``warm``, the engine compiles for the default comparison
    as the server starts (requests line up behind it)."""
    import uvicorn

    from sermsim.interfaces.web.connections import head_deadline_protocol

    limits = limits or Limits()
    return uvicorn.Config(
        create_app(limits=limits, warm=warm),
        host=host,
        port=port,
        access_log=False,
        server_header=False,
        limit_concurrency=MAX_CONNECTIONS,
        http=head_deadline_protocol(limits.head_seconds),
        log_level="info",
    )


def serve(
    host: str = "127.0.0.1", port: int = 8000, *, warm: bool = True, limits: Limits | None = None
) -> None:
    """Serve the web app with uvicorn (:func:`server_config`) until interrupted."""
    import uvicorn

    uvicorn.Server(server_config(host, port, warm=warm, limits=limits)).run()
