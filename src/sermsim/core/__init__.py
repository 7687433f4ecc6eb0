"""Core: errors, units and sourced parameters. Every other layer stands on this one."""

from sermsim.core.errors import DataError, NumericalError, SermsimError, SpecError
from sermsim.core.params import Param, load_yaml, parameters_sha256

__all__ = [
    "DataError",
    "NumericalError",
    "Param",
    "SermsimError",
    "SpecError",
    "load_yaml",
    "parameters_sha256",
]
