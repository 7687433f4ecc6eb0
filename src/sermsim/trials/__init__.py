"""Population and trials layer: virtual populations, trial specs, virtual trials, validation."""
