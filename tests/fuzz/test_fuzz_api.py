"""Fuzzing of the HTTP API with schemathesis, against the app's own OpenAPI schema, in-process.

Every operation of /openapi.json gets the documented examples, schemathesis's coverage cases
(edges of each field, wrong types, missing keys, other methods) and ``SERMSIM_FUZZ_EXAMPLES``
generated requests (default 20 for ``make test``; ``make fuzz`` runs 1500), valid and invalid.
Each answer must: not be a 5xx; use a status code, content type and body the schema documents
for it (errors included); and refuse a request the schema calls invalid with a 4xx.

The app runs with small limits (:data:`LIMITS`) so that the valid requests it draws compute in
a moment: the limits are what the app enforces, so a request past them is a documented 422.
Counted in the tally of tests/fuzz/tally.py (``make fuzz`` prints it).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import schemathesis
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from sermsim.core.units import DAYS_PER_YEAR
from sermsim.interfaces.web import create_app
from sermsim.interfaces.web.limits import Limits
from tests.fuzz import tally

#: Generated requests per operation (on top of the examples and coverage cases).
EXAMPLES = int(os.environ.get("SERMSIM_FUZZ_EXAMPLES", "20"))
#: The schemathesis seed: the same requests on every run.
SEED = 8
#: The app's limits for fuzzing. One day of simulation: /api/simulate compiles one engine
#: program per number of days, so one day keeps every valid request to one compilation.
#: 3,000 person-years: the trial example of the schema (500 an arm, 2 arms, 3 years) runs.
#: 600 s a computation: compiling the engine for a new kind of person takes up to two minutes
#: on a busy 2-core machine (benchmarks/web_load.py measures the server's own limit); here a
#: 504 is to mean a computation that hangs, not a slow compiler.
LIMITS = Limits(
    max_years=1 / DAYS_PER_YEAR,
    max_trial_person_years=3_000,
    max_trial_anchors=8,
    compute_seconds=600.0,
)
#: Seconds the client waits for an answer: the app's own time limit answers first (504).
CLIENT_TIMEOUT = LIMITS.compute_seconds + 10
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

APP = create_app(limits=LIMITS)
CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
    }
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=CONFIG)


@contextlib.contextmanager
def _counted(test: str) -> Iterator[None]:
    """Count one request, and a failure when its answer breaks a check."""
    tally.TRIED[test] += 1
    try:
        yield
    except BaseException:
        tally.FAILED[test] += 1
        raise


@schema.parametrize()
def test_every_operation_answers_as_its_schema_says(case: schemathesis.Case) -> None:
    with _counted(f"api {case.operation.label}"):
        case.call_and_validate(checks=CHECKS, timeout=CLIENT_TIMEOUT)
