"""Physiology: the tissue signals of the selectivity layer turned into biomarkers over years."""
