"""JAX set-up shared by every numerical layer.

Concentrations span nine orders of magnitude (pM estradiol to µM ospemifene) and steady states
are found by solving linear systems, so the engine computes in float64. JAX's precision is a
process-wide switch; it is set here, once, when sermsim's numerical layers are imported.
"""

import jax

jax.config.update("jax_enable_x64", True)

__all__ = ["jax"]
