"""Selectivity layer: coregulator recruitment turns occupancy into a signal per tissue."""

from sermsim.selectivity.profile import (
    PROFILE_STAGES,
    Context,
    Profile,
    TissueProfile,
    classify,
    neutral_band,
    profile_all,
    profile_regimen,
    standard_regimens,
    steady_state_plasma,
)
from sermsim.selectivity.signal import (
    TissueParams,
    complex_engagement,
    tissue_params,
    tissue_signal,
)
from sermsim.selectivity.timecourse import SignalTimecourse, signal_timecourse

__all__ = [
    "PROFILE_STAGES",
    "Context",
    "Profile",
    "SignalTimecourse",
    "TissueParams",
    "TissueProfile",
    "classify",
    "complex_engagement",
    "neutral_band",
    "profile_all",
    "profile_regimen",
    "signal_timecourse",
    "standard_regimens",
    "steady_state_plasma",
    "tissue_params",
    "tissue_signal",
]
