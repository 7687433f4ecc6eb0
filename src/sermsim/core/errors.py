"""The error hierarchy. Messages name the field, the value and the fix, in one line."""


class SermsimError(Exception):
    """Root of every error sermsim raises on purpose."""


class SpecError(SermsimError, ValueError):
    """A user's input (regimen, patient, trial spec, CLI argument) is invalid."""

    def __init__(self, field: str, value: object, fix: str) -> None:
        self.field = field
        self.value = value
        self.fix = fix
        super().__init__(f"{field}: {value!r} is invalid; {fix}")


class DataError(SermsimError, ValueError):
    """A shipped data file is malformed (a developer's error, not a user's)."""


class NumericalError(SermsimError, ArithmeticError):
    """A computation produced a non-finite number: reported, never passed on silently."""
