"""The HTTP API's request bodies (pydantic: the boundary), as the OpenAPI schema shows them.

A patient travels as a plain mapping and is checked by
:func:`sermsim.physiology.patient.patient_from_mapping` (its errors name ``patient.<key>``);
its JSON schema is the :class:`~sermsim.physiology.patient.Patient` record's, for the docs.
A trial spec is checked by :func:`sermsim.trials.spec.parse_trial` (TRIAL_SPEC.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from sermsim.physiology.patient import Patient

#: The longest regimen text accepted (a few combined doses fit in 100 characters).
MAX_REGIMEN_CHARS = 500

PatientMapping = Annotated[
    dict[str, Any],
    WithJsonSchema(
        {
            **{k: v for k, v in Patient.model_json_schema().items() if k != "description"},
            "description": "A person, as TRIAL_SPEC.md's Patient: sex and age required.",
        }
    ),
]
Regimen = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_REGIMEN_CHARS,
        description="AGENT[:DOSE[@INTERVAL_H]] joined by '+', or none",
        examples=["raloxifene:60"],
    ),
]
_EXAMPLE_PATIENT = {
    "sex": "female",
    "age": 55,
    "menopause": "post",
    "uterus": True,
    "breast_cancer_5y_risk": 0.03,
}


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ProfileRequest(_Request):
    """The tissue-selectivity profile of one regimen."""

    regimen: Regimen


class SimulateRequest(_Request):
    """Daily physiology of one person on one regimen (answered with a summary and a monthly
    series)."""

    patient: PatientMapping = Field(examples=[_EXAMPLE_PATIENT])
    regimen: Regimen = "none"
    years: float = Field(default=3.0, gt=0, allow_inf_nan=False, description="years to simulate")
    seed: int = Field(default=0, ge=0, lt=2**63, description="seed for missed doses")


class CompareRequest(_Request):
    """Every option against no treatment for one person (`sermsim compare`)."""

    patient: PatientMapping = Field(examples=[_EXAMPLE_PATIENT])
    years: float = Field(default=5.0, gt=0, allow_inf_nan=False, description="horizon in years")
    agents: list[Regimen] | None = Field(
        default=None,
        description="regimens to compare with no treatment; null: the standard set",
        examples=[["raloxifene", "tamoxifen:20"]],
    )
    weights: dict[str, float] | None = Field(
        default=None,
        description="endpoint -> weight in the net-benefit index, overriding the defaults",
        examples=[{"dvt": 0.5}],
    )


class TrialRequest(_Request):
    """A virtual trial (TRIAL_SPEC.md's trial spec, as JSON)."""

    spec: dict[str, Any] = Field(
        description="the trial spec mapping of TRIAL_SPEC.md",
        examples=[
            {
                "name": "example",
                "seed": 7,
                "duration_years": 3,
                "population": {"sex": "female", "n_per_arm": 500, "age": 66},
                "arms": [
                    {"name": "placebo", "regimen": []},
                    {"name": "raloxifene", "regimen": [{"agent": "raloxifene", "dose_mg": 60}]},
                ],
                "endpoints": ["invasive_breast_cancer", "vte"],
            }
        ],
    )


# ------------------------------------------------------------------------------ responses
# What each endpoint answers, as the OpenAPI schema documents it (and schemathesis checks it).
# A success's top level is fixed here; its inner tables are the library's JSON (the CLI's
# --json, TRIAL_SPEC.md), open to keys added there.


_ONE_LINE = r"^[^\r\n]*$"  # an error message is one line


class _Response(BaseModel):
    model_config = ConfigDict(extra="allow")

    disclaimer: str = Field(description="sermsim is not medical advice")


class ErrorDetail(BaseModel):
    """The field at fault (``patient.age``, ``body``; null when none is) and one line naming
    the value and the fix."""

    model_config = ConfigDict(extra="forbid")

    field: str | None
    message: str = Field(pattern=_ONE_LINE)


class ErrorResponse(BaseModel):
    """Every refusal and failure: one field, one line; never a traceback."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail
    disclaimer: str


class HealthResponse(_Response):
    """The server is up."""

    model_config = ConfigDict(extra="forbid")

    status: str
    sermsim_version: str


class ServerLimits(BaseModel):
    """The limits the page's form keeps to."""

    model_config = ConfigDict(extra="allow")

    max_years: float


class CompareDefaultsResponse(_Response):
    """The options and weights of /api/compare when none are given."""

    options: list[str]
    weights: dict[str, float]
    limits: ServerLimits


class ProfileResponse(_Response):
    """``sermsim profile REGIMEN --json``."""

    agent: str
    regimen: str
    tissues: dict[str, dict[str, Any]]
    plasma_nM: dict[str, float]


class Series(BaseModel):
    """One point a month: biomarkers, tissue signals and ERα drug occupancy (null: no value)."""

    model_config = ConfigDict(extra="allow")

    time_years: list[float]
    biomarkers: dict[str, Any]
    not_applicable: dict[str, str]
    signal: dict[str, list[float | None]] | None = None
    drug_occupancy: dict[str, list[float | None]] | None = None


class SimulateResponse(_Response):
    """``sermsim simulate --json``'s summary and a monthly series."""

    patient: str
    regimen: str
    years: float
    biomarkers: dict[str, Any]
    series: Series


class CompareResponse(_Response):
    """``sermsim compare --json``."""

    patient: dict[str, Any]
    years: float
    per: int
    weights: dict[str, float]
    endpoints: dict[str, Any]
    options: list[dict[str, Any]]
    provenance: dict[str, Any]


class TrialResponse(_Response):
    """``sermsim trial run --json`` (TRIAL_SPEC.md's result)."""

    name: str
    arms: dict[str, Any]
    comparisons: list[Any]
    provenance: dict[str, Any]
