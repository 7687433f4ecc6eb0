"""Calibration and uncertainty: the free parameters, fitting them to the calibration targets,
the parameter ensemble, global sensitivity and the PEtab export."""
