"""Loaded before any test or doctest imports sermsim: the tests keep JAX's persistent
compilation cache inside the checkout (``.pytest_cache``, git-ignored), not in the user's home,
and every process a test starts (the web server, the CLI) inherits it."""

import os
from pathlib import Path

os.environ.setdefault(
    "SERMSIM_JAX_CACHE", str(Path(__file__).resolve().parent / ".pytest_cache" / "sermsim-jax")
)
