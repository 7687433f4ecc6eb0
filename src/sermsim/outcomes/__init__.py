"""Outcomes layer: baseline risks of clinical events and the hazards the physiology drives."""
