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
