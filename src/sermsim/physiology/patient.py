"""The patient: one person's public description, a typed record checked at the boundary.

The format is TRIAL_SPEC.md's (section "Patient"): a mapping of ``sex`` and ``age``
(required) and optional keys for menopause, uterus, risk factors, CYP2D6 phenotype, Gail-model
inputs and measured baseline labs. Unknown keys, wrong types and impossible values are
:class:`~sermsim.core.errors.SpecError` naming the key, the value and the fix.

Choices the spec leaves open, made here:

- ``null`` for an optional key is the same as leaving it out (its default applies).
- Women only: ``menopause``, ``years_since_menopause``, ``surgical_menopause: true``,
  ``uterus: true``, ``age_at_menarche``, ``age_at_first_birth``. A man may write
  ``uterus: false`` and ``surgical_menopause: false`` (true of him); after validation his
  ``menopause``, ``years_since_menopause`` and ``uterus`` are ``None``.
- ``surgical_menopause: true`` (bilateral oophorectomy) makes the woman postmenopausal whatever
  her age: ``menopause`` defaults to ``post``, ``pre`` or ``peri`` with it is an error, and
  ``years_since_menopause`` counts the years since the surgery (default, as for everyone,
  ``max(age - 51, 0)``; give it when the surgery date is known).
- ``years_since_menopause`` needs ``menopause: post`` (given, or the default at age >= 52);
  it is never used to infer menopause.
- ``age_at_first_birth: null`` and an absent ``age_at_first_birth`` both read ``None``; the
  Gail model's "nulliparous" versus "unknown" is ``"age_at_first_birth" in
  patient.model_fields_set``.
- Types are strict: ``age: "58"`` and ``smoker: "yes"`` are errors (unquoted YAML ``yes`` is a
  boolean already); whole numbers are accepted where a real number is expected.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails

from sermsim.core.errors import SpecError

Sex = Literal["female", "male"]
Menopause = Literal["pre", "peri", "post"]
Thrombophilia = Literal["none", "factor_v_leiden_het", "factor_v_leiden_hom", "prothrombin_g20210a"]
Cyp2d6Phenotype = Literal["poor", "intermediate", "normal", "ultrarapid"]
Race = Literal["white", "black", "hispanic", "asian", "other"]
LifeStage = Literal["premenopausal", "perimenopausal", "postmenopausal", "male"]

# Defaults stated by TRIAL_SPEC.md ("Patient"): post if age >= 52, years since menopause
# max(age - 51, 0), BMI 27 kg/m2.
POSTMENOPAUSAL_DEFAULT_AGE = 52.0
DEFAULT_MENOPAUSE_AGE = 51.0
DEFAULT_BMI = 27.0

# Input sanity bounds (not science): outside them a value is a typo or a unit slip, not a
# person. Ages 18-100 are TRIAL_SPEC.md's; the rest are this module's choice.
MIN_AGE = 18.0
MAX_AGE = 100.0
MIN_BMI, MAX_BMI = 10.0, 80.0  # kg/m2
MIN_T_SCORE, MAX_T_SCORE = -6.0, 4.0  # SD from the young-adult mean
MIN_MENOPAUSE_AGE = 18.0  # years_since_menopause <= age - 18
MIN_MENARCHE_AGE, MAX_MENARCHE_AGE = 7.0, 20.0
MIN_FIRST_BIRTH_AGE, MAX_FIRST_BIRTH_AGE = 10.0, 60.0
MAX_RELATIVES = 50  # first-degree relatives with breast cancer
MAX_BIOPSIES = 100
# Measured labs from this floor (in each lab's unit): far below any assay's detection limit.
# Found by fuzzing: a man's LH of 1e-305 IU/L made his fitted testis capacity infinite.
MIN_LAB = 1e-3
MAX_ESTRADIOL_PG_ML = 10_000.0  # well above ovarian-stimulation peaks
MAX_TESTOSTERONE_NG_DL = 10_000.0  # well above supraphysiological dosing
MAX_GONADOTROPIN_IU_L = 1_000.0  # LH and FSH

_LIFE_STAGE: dict[str, LifeStage] = {
    "pre": "premenopausal",
    "peri": "perimenopausal",
    "post": "postmenopausal",
}
_WOMEN_ONLY = ("menopause", "years_since_menopause", "age_at_menarche", "age_at_first_birth")


def _real(lo: float, hi: float, *, open_lo: bool = False, open_hi: bool = False) -> Any:
    """An optional finite real in [lo, hi] (or open at an end); ``None`` by default."""
    return Field(
        default=None,
        gt=lo if open_lo else None,
        ge=None if open_lo else lo,
        lt=hi if open_hi else None,
        le=None if open_hi else hi,
        allow_inf_nan=False,
    )


class Patient(BaseModel):
    """One person, as TRIAL_SPEC.md describes; defaults resolved after validation.

    >>> p = Patient(sex="female", age=58)
    >>> (p.menopause, p.years_since_menopause, p.uterus, p.life_stage)
    ('post', 7.0, True, 'postmenopausal')
    >>> Patient(sex="male", age=40).life_stage
    'male'
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    sex: Sex
    age: float = Field(ge=MIN_AGE, le=MAX_AGE, allow_inf_nan=False)  # years
    menopause: Menopause | None = None
    years_since_menopause: float | None = _real(0.0, MAX_AGE - MIN_MENOPAUSE_AGE)
    uterus: bool | None = None
    bmi: float = Field(default=DEFAULT_BMI, ge=MIN_BMI, le=MAX_BMI, allow_inf_nan=False)
    smoker: bool = False
    prior_vte: bool = False
    thrombophilia: Thrombophilia = "none"
    bmd_t_score_spine: float | None = _real(MIN_T_SCORE, MAX_T_SCORE)  # None: age/sex typical
    bmd_t_score_hip: float | None = _real(MIN_T_SCORE, MAX_T_SCORE)  # None: age/sex typical
    prior_fragility_fracture: bool = False
    breast_cancer_5y_risk: float | None = _real(0.0, 1.0, open_lo=True, open_hi=True)
    cyp2d6: Cyp2d6Phenotype = "normal"
    surgical_menopause: bool = False
    # Gail-model (BCRAT) inputs; None: not given.
    race: Race | None = None
    age_at_menarche: float | None = _real(MIN_MENARCHE_AGE, MAX_MENARCHE_AGE)
    age_at_first_birth: float | None = _real(MIN_FIRST_BIRTH_AGE, MAX_FIRST_BIRTH_AGE)
    first_degree_relatives_breast_cancer: int | None = Field(default=None, ge=0, le=MAX_RELATIVES)
    breast_biopsies: int | None = Field(default=None, ge=0, le=MAX_BIOPSIES)
    atypical_hyperplasia: bool | None = None
    # Measured baseline labs; None: not measured.
    estradiol_pg_ml: float | None = _real(MIN_LAB, MAX_ESTRADIOL_PG_ML)
    testosterone_ng_dl: float | None = _real(MIN_LAB, MAX_TESTOSTERONE_NG_DL)
    lh_iu_l: float | None = _real(MIN_LAB, MAX_GONADOTROPIN_IU_L)
    fsh_iu_l: float | None = _real(MIN_LAB, MAX_GONADOTROPIN_IU_L)

    @model_validator(mode="before")
    @classmethod
    def _null_is_left_out(cls, data: Any) -> Any:
        """``null`` for a key with a default is that default (this module's stated choice; a
        ``bmi:`` left empty in YAML was refused before, while a trial's population took it)."""
        if not isinstance(data, Mapping):
            return data
        fields = cls.model_fields

        def defaulted(key: Any) -> bool:
            field = fields.get(key) if isinstance(key, str) else None
            return field is not None and not field.is_required() and field.default is not None

        return {k: v for k, v in data.items() if not (v is None and defaulted(k))}

    @model_validator(mode="after")
    def _resolve(self) -> Patient:
        # A SpecError raised here carries its own field; patient_from_mapping passes it on.
        if self.sex == "male":
            self._check_male()
        else:
            self._resolve_female()
        self._check_gail_ages()
        return self

    def _check_male(self) -> None:
        for key in _WOMEN_ONLY:
            if getattr(self, key) is not None:
                raise SpecError(key, getattr(self, key), "women only: remove it for sex: male")
        if self.surgical_menopause:
            raise SpecError("surgical_menopause", True, "women only: remove it for sex: male")
        if self.uterus:
            raise SpecError("uterus", True, "men have no uterus: remove it for sex: male")
        object.__setattr__(self, "uterus", None)  # frozen: set once, while validating

    def _resolve_female(self) -> None:
        menopause = self.menopause
        if self.surgical_menopause and menopause not in (None, "post"):
            raise SpecError(
                "menopause",
                menopause,
                "surgical_menopause: true (bilateral oophorectomy) means post: "
                "write menopause: post or leave it out",
            )
        if menopause is None:
            post = self.surgical_menopause or self.age >= POSTMENOPAUSAL_DEFAULT_AGE
            menopause = "post" if post else "pre"
        years = self.years_since_menopause
        if menopause != "post":
            if years is not None:
                raise SpecError(
                    "years_since_menopause",
                    years,
                    f"only for menopause: post (this patient is {menopause}): "
                    "add menopause: post or remove years_since_menopause",
                )
        elif years is None:
            years = max(self.age - DEFAULT_MENOPAUSE_AGE, 0.0)
        elif years > self.age - MIN_MENOPAUSE_AGE:
            raise SpecError(
                "years_since_menopause",
                years,
                f"must be at most age - {MIN_MENOPAUSE_AGE:g} = {self.age - MIN_MENOPAUSE_AGE:g}",
            )
        object.__setattr__(self, "menopause", menopause)  # frozen: set once, while validating
        object.__setattr__(self, "years_since_menopause", years)
        object.__setattr__(self, "uterus", True if self.uterus is None else self.uterus)

    def _check_gail_ages(self) -> None:
        menarche, first_birth = self.age_at_menarche, self.age_at_first_birth
        if menarche is not None and menarche > self.age:
            raise SpecError("age_at_menarche", menarche, f"must not exceed age ({self.age:g})")
        if first_birth is not None:
            if first_birth > self.age:
                raise SpecError(
                    "age_at_first_birth", first_birth, f"must not exceed age ({self.age:g})"
                )
            if menarche is not None and first_birth < menarche:
                raise SpecError(
                    "age_at_first_birth",
                    first_birth,
                    f"must not be before age_at_menarche ({menarche:g})",
                )

    @property
    def life_stage(self) -> LifeStage:
        """``premenopausal``, ``perimenopausal``, ``postmenopausal`` or ``male``: the names of
        :data:`sermsim.receptor.exposure.LIFE_STAGES`.

        >>> Patient(sex="female", age=48, menopause="peri").life_stage
        'perimenopausal'
        """
        if self.sex == "male" or self.menopause is None:
            return "male"
        return _LIFE_STAGE[self.menopause]


class _Shown(str):
    """Text shown as is in a SpecError, without the quotes of ``repr``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return str(self)


_MISSING = _Shown("<missing>")
_REQUIRED_FIX = {
    "sex": "sex is required: add sex: female (or male)",
    "age": "age is required: add age in years, 18-100, e.g. age: 58",
}
_TYPE_FIX = {
    "bool_type": "write true or false, unquoted",
    "float_type": "write a number, unquoted",
    "int_type": "write a whole number, unquoted",
    "finite_number": "write a finite number",
}


def _shown(value: object, limit: int = 60) -> object:
    """The value itself, or a shortened one-line stand-in when its repr is long."""
    text = repr(value)
    return value if len(text) <= limit else _Shown(text[: limit - 3] + "...")


def _error_order(error: ErrorDetails) -> int:
    # An unknown key first: a typo ('sexx') also makes the real key look missing.
    return {"extra_forbidden": 0, "missing": 1}.get(error["type"], 2)


def _key_text(part: object) -> str:
    """A key as an error shows it: as written, or quoted when blank or not printable (a key
    '\\r' must not break the one-line message)."""
    text = str(part)
    return text if text.strip() and text.isprintable() else repr(text)


def _spec_error_from(exc: ValidationError, where: str) -> SpecError:
    error = min(exc.errors(), key=_error_order)
    kind = error["type"]
    if kind == "value_error":
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, SpecError):
            return SpecError(f"{where}.{cause.field}", _shown(cause.value), cause.fix)
    loc = ".".join(_key_text(p) for p in error["loc"])
    field = f"{where}.{loc}" if loc else where
    if kind == "missing":
        return SpecError(field, _MISSING, _REQUIRED_FIX.get(loc, f"{loc} is required"))
    if kind == "extra_forbidden":
        near = difflib.get_close_matches(loc, list(Patient.model_fields), n=3)
        fix = (
            f"unknown key: did you mean {' or '.join(near)}?"
            if near
            else f"unknown key: use one of {', '.join(Patient.model_fields)}"
        )
        return SpecError(field, _Shown(loc), fix)
    fix = _TYPE_FIX.get(kind, error["msg"].replace("Value error, ", "").lower())
    return SpecError(field, _shown(error.get("input")), fix)


def patient_from_mapping(data: Mapping[str, Any], where: str = "patient") -> Patient:
    """Build a :class:`Patient` from a mapping of TRIAL_SPEC.md's keys.

    Errors are :class:`SpecError` naming ``where`` and the key, e.g. ``patient.age``.

    >>> patient_from_mapping({"sex": "female", "age": 45}).menopause
    'pre'
    >>> try:
    ...     patient_from_mapping({"sex": "male", "age": 17})
    ... except SpecError as err:
    ...     print(err)
    patient.age: 17 is invalid; input should be greater than or equal to 18
    """
    if not isinstance(data, Mapping):
        raise SpecError(
            where, _shown(data), "give a mapping of patient keys, e.g. {sex: female, age: 58}"
        )
    try:
        return Patient.model_validate(data)
    except ValidationError as exc:
        raise _spec_error_from(exc, where) from None


def load_patient(path: Path, *, where: str = "patient") -> Patient:
    """Read a patient from a YAML or JSON file (JSON is YAML).

    A file that is missing, unreadable, not YAML, empty or not a mapping is a
    :class:`SpecError` naming ``where`` and the path.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     path = Path(tmp) / "p.yaml"
    ...     _ = path.write_text("sex: female\\nage: 58\\n", encoding="utf-8")
    ...     load_patient(path).life_stage
    'postmenopausal'
    """
    shown = _Shown(repr(str(path)))
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(where, shown, "no such file: check the path") from None
    except IsADirectoryError:
        raise SpecError(where, shown, "is a directory: give a YAML or JSON file") from None
    except UnicodeDecodeError:
        raise SpecError(where, shown, "cannot be read as UTF-8 text: save it as UTF-8") from None
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise SpecError(where, shown, f"cannot be read ({reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SpecError(where, shown, _yaml_fix(exc)) from None
    if data is None:
        raise SpecError(where, shown, "the file is empty: give at least sex and age")
    if not isinstance(data, Mapping):
        raise SpecError(
            where,
            shown,
            f"the top level is a {type(data).__name__}, not a mapping: "
            "write key: value lines, e.g. sex: female",
        )
    return patient_from_mapping(data, where)


def _yaml_fix(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
    return f"not valid YAML{where} ({' '.join(str(problem).split())}): fix the syntax"


__all__ = [
    "Cyp2d6Phenotype",
    "LifeStage",
    "Menopause",
    "Patient",
    "Race",
    "Sex",
    "Thrombophilia",
    "load_patient",
    "patient_from_mapping",
]
