"""The jaxpr interpreter behind the SBML export: every rule against JAX itself at random
points, the expressions in libSBML's infix syntax, and the simplifications."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import libsbml
import numpy as np
import pytest

from sermsim.physiology import symbolic as sy

SEED = 20260  # seeded randomness only
EXACT = 1e-12  # relative: float64 rounding of the same arithmetic in another order


def _symbols(g: sy.Graph, name: str, n: int) -> np.ndarray:
    out = np.empty(n, dtype=object)
    for i in range(n):
        out[i] = g.symbol(f"{name}{i}")
    return out


K = np.array([[0.5, -1.0, 0.0], [2.0, 0.25, 3.0]])  # a constant matrix
CASES: dict[str, Callable[[jax.Array, jax.Array], jax.Array]] = {
    "arithmetic": lambda x, y: x * y - x / (1.0 + y**2) + (-x) ** 3,
    "functions": lambda x, y: jnp.exp(-x) + jnp.log(1.0 + y**2) + jnp.tanh(x) + jnp.sqrt(y**2),
    "log1p_expm1": lambda x, y: jnp.log1p(jnp.abs(x)) + jnp.expm1(y / 10.0),
    "softplus_logistic": lambda x, y: jax.nn.softplus(x) * jax.nn.sigmoid(y),
    "pow": lambda x, y: jnp.abs(x) ** y + jnp.abs(y) ** 2.5,
    "where_clip": lambda x, y: jnp.where(x > y, jnp.clip(x, -0.5, 0.5), y),
    "max_min_sign": lambda x, y: jnp.maximum(x, y) - jnp.minimum(x, 0.0) + jnp.sign(y),
    "logic": lambda x, y: (
        jnp.where(jnp.logical_and(x > 0, jnp.logical_not(y > 0)), 1.0, x)
        + (jnp.logical_or(x < -1, y >= 1)).astype(x.dtype)
    ),
    "constant_matmul": lambda x, y: jnp.asarray(K) @ x + y[:2],
    "symbolic_matmul": lambda x, y: jnp.outer(x, y) @ y,
    "reductions": lambda x, y: jnp.sum(jnp.outer(x, y), axis=0) + jnp.max(x) - jnp.min(y),
    "structure": lambda x, y: jnp.concatenate([x[::-1], y.reshape(3, 1).T[0], x[1:2]]),
    "take_and_set": lambda x, y: (
        x.at[jnp.array([0, 2])].set(y[1]) + jnp.take(y, jnp.array([2, 0, 1]))
    ),
    "scatter_add": lambda x, y: x.at[jnp.array([0, 0, 2])].add(y),
    "stack_transpose": lambda x, y: jnp.stack([x, y]).T.reshape(-1)[:3],
    "jit_inside": lambda x, y: jax.jit(lambda a, b: a * jnp.exp(b))(x, y),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_traced_expressions_evaluate_as_jax_does(name):
    fn = CASES[name]
    g = sy.Graph()
    x, y = _symbols(g, "x", 3), _symbols(g, "y", 3)
    (out,) = sy.trace(lambda a, b: (fn(a, b),), (x, y), graph=g)
    roots = list(np.ravel(out))
    rng = np.random.default_rng(SEED)
    for _ in range(5):
        xv, yv = rng.normal(size=3), rng.normal(size=3)
        env = {**{f"x{i}": xv[i] for i in range(3)}, **{f"y{i}": yv[i] for i in range(3)}}
        got = np.array(sy.evaluate(roots, env), dtype=float)
        want = np.ravel(np.asarray(fn(jnp.asarray(xv), jnp.asarray(yv)), dtype=float))
        np.testing.assert_allclose(got, want, rtol=EXACT, atol=EXACT)


@pytest.mark.parametrize("name", sorted(CASES))
def test_every_expression_is_valid_l3_infix(name):
    g = sy.Graph()
    x, y = _symbols(g, "x", 3), _symbols(g, "y", 3)
    (out,) = sy.trace(lambda a, b: (CASES[name](a, b),), (x, y), graph=g)
    roots = list(np.ravel(out))
    names = {id(n): f"e_{k}" for k, n in enumerate(sy.shared(roots))}
    for node in [*sy.shared(roots), *roots]:
        formula = sy.infix(node, names)
        assert libsbml.parseL3Formula(formula) is not None, formula


def test_simplifications_and_sharing():
    g = sy.Graph()
    x = g.symbol("x")
    one, zero = g.const(1.0), g.const(0.0)
    assert g.apply("mul", x, one) is x
    assert g.apply("add", zero, x) is x
    assert g.apply("mul", x, zero) is zero
    assert g.apply("sub", x, x) is zero
    assert g.select(g.apply("gt", x, x), one, x) is x  # a constant condition picks its branch
    e = g.apply("exp", x)
    assert g.apply("exp", x) is e  # hash-consed: one node per expression
    total = g.apply("add", g.apply("mul", e, e), e)
    assert sy.shared([total]) == [e]
    assert sy.infix(total, {id(e): "e_0"}) == "(e_0 * e_0) + e_0"


def test_numbers_fold_and_unknown_primitives_say_so():
    g = sy.Graph()
    x = np.array(g.symbol("x"), dtype=object)
    (out,) = sy.trace(lambda v: (v * (jnp.exp(0.0) * 2.0 - 1.0),), (x,), graph=g)
    assert out[()] is g.symbol("x")
    with pytest.raises(NotImplementedError, match="cumsum"):
        sy.trace(lambda v: (jnp.cumsum(v),), (_symbols(g, "v", 3),), graph=g)
