"""JAX set-up shared by every numerical layer.

Concentrations span nine orders of magnitude (pM estradiol to µM ospemifene) and steady states
are found by solving linear systems, so the engine computes in float64. JAX's precision is a
process-wide switch; it is set here, once, when sermsim's numerical layers are imported.

Compiled programs are kept in JAX's persistent compilation cache, so that a second process
(the next `sermsim compare`, a test's subprocess, the web server after a restart) loads them
instead of compiling again: compiling one regimen's engine takes seconds, loading it a fraction
of that. The cache lives in ``$SERMSIM_JAX_CACHE`` (default ``~/.cache/sermsim/jax``); set
``SERMSIM_JAX_CACHE=off`` to compile afresh every time. JAX keys each entry by the program and
the backend, so a stale entry is never used for a changed program. The cache is bounded
(:data:`_CACHE_MAX_BYTES`, least recently used entries go first; JAX locks it with filelock),
since every new shape (a web user's new horizon, say) adds an entry.
"""

import os
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)

# Programs that compile faster than this are not worth a disk entry (JAX's own setting).
_CACHE_MIN_COMPILE_SECONDS = 0.5
# The cache's size bound: an entry is 0.1-0.3 MB and the whole test suite writes about 40 MB,
# so 512 MB keeps every program a user runs often (an engineering setting, not science).
_CACHE_MAX_BYTES = 512 * 1024 * 1024


def _cache_dir() -> str | None:
    where = os.environ.get("SERMSIM_JAX_CACHE", "")
    if where.strip().lower() == "off":
        return None
    path = Path(where) if where else Path.home() / ".cache" / "sermsim" / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:  # a read-only home: compile every time, as without the cache
        return None
    return str(path)


_where = _cache_dir()
if _where is not None:
    jax.config.update("jax_compilation_cache_dir", _where)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", _CACHE_MIN_COMPILE_SECONDS)
    jax.config.update("jax_compilation_cache_max_size", _CACHE_MAX_BYTES)

__all__ = ["jax"]
