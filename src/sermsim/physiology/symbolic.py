"""JAX functions as symbolic expressions: the SBML export writes the equations the engine runs.

:func:`trace` records a pure JAX function with :func:`jax.make_jaxpr` and interprets the
program over NumPy arrays whose elements are :class:`Node` expressions. An equation whose
inputs are all numbers is evaluated by JAX itself (constant folding); the others are rebuilt
element by element: arithmetic and comparisons as nodes, structural operations (slices,
gathers, scatters, broadcasts, concatenations, with constant indices) by applying the primitive
to arrays of element numbers to learn where every element goes, and nested programs (``jit``,
``custom_jvp_call``, ...) by recursion. A :class:`Graph` hash-conses the nodes (one node per
distinct expression, so a subexpression used twice is one node) and simplifies ``x*1``,
``x+0``, ``x*0``, constant conditions and comparisons of an expression with itself (which
assumes no NaN flows through the model, as the engine's own finiteness checks require).

:func:`infix` writes a node in the infix syntax of ``libsbml.parseL3Formula``.

>>> import jax.numpy as jnp, numpy as np
>>> g = Graph()
>>> x = np.array(g.symbol("x"), dtype=object)
>>> (out,) = trace(lambda v: (jnp.exp(2.0 * v) + 0.0,), (x,), graph=g)
>>> infix(out[()])
'exp(2.0 * x)'
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.extend import core as jcore
from numpy.typing import NDArray

from sermsim.core import engine as _engine  # noqa: F401  (float64)

Scalar = float | bool
Value = NDArray[Any]  # a concrete numeric array, or an object array of Node

_BOOLEAN_OPS = frozenset({"lt", "le", "gt", "ge", "eq", "ne", "and", "or", "not", "bool"})
_INFIX = {
    "add": "+",
    "sub": "-",
    "mul": "*",
    "div": "/",
    "pow": "^",
    "lt": "<",
    "le": "<=",
    "gt": ">",
    "ge": ">=",
    "eq": "==",
    "ne": "!=",
    "and": "&&",
    "or": "||",
}
_FUNCTIONS = {
    "exp": "exp",
    "ln": "ln",
    "tanh": "tanh",
    "sqrt": "sqrt",
    "abs": "abs",
    "floor": "floor",
}
_NUMERIC: dict[str, Callable[..., Any]] = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "neg": lambda a: -a,
    "pow": lambda a, b: np.power(a, b),
    "exp": np.exp,
    "ln": np.log,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "floor": np.floor,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "and": lambda a, b: bool(a) and bool(b),
    "or": lambda a, b: bool(a) or bool(b),
    "not": lambda a: not bool(a),
    "select": lambda c, a, b: a if c else b,
}


class Node:
    """One expression: an operation on argument nodes, a number (``const``) or a named input
    (``sym``). Made only by a :class:`Graph`, so equal expressions are the same object."""

    __slots__ = ("args", "boolean", "name", "op", "value")

    def __init__(
        self, op: str, args: tuple[Node, ...], value: Scalar | None = None, name: str = ""
    ) -> None:
        self.op = op
        self.args = args
        self.value = value
        self.name = name
        self.boolean: bool = op in _BOOLEAN_OPS or (op == "select" and args[1].boolean)

    @property
    def is_leaf(self) -> bool:
        return self.op in ("const", "bool", "sym")

    def __repr__(self) -> str:
        return f"Node({infix(self)})"


def _key(value: float) -> bytes:
    return struct.pack("<d", value)  # -0.0 and every NaN payload are distinct keys


class Graph:
    """The hash-consing table of one export: every node is made here, once."""

    def __init__(self) -> None:
        self._table: dict[tuple[Any, ...], Node] = {}

    def _intern(self, key: tuple[Any, ...], make: Callable[[], Node]) -> Node:
        node = self._table.get(key)
        if node is None:
            node = self._table[key] = make()
        return node

    def const(self, value: Scalar | np.generic) -> Node:
        if isinstance(value, bool | np.bool_):
            b = bool(value)
            return self._intern(("bool", b), lambda: Node("bool", (), b))
        v = float(value)
        return self._intern(("const", _key(v)), lambda: Node("const", (), v))

    def symbol(self, name: str) -> Node:
        return self._intern(("sym", name), lambda: Node("sym", (), name=name))

    def apply(self, op: str, *args: Node) -> Node:
        """The node ``op(*args)``, folded and simplified where that is exact."""
        if all(a.is_leaf and a.op != "sym" for a in args):
            with np.errstate(all="ignore"):
                out = _NUMERIC[op](*(a.value for a in args))
            return self.const(out if isinstance(out, bool | np.bool_) else float(out))
        simpler = self._simplify(op, args)
        if simpler is not None:
            return simpler
        return self._intern((op, *map(id, args)), lambda: Node(op, args))

    def _simplify(self, op: str, args: tuple[Node, ...]) -> Node | None:
        def is_const(n: Node, v: float) -> bool:
            return n.op == "const" and n.value == v

        a = args[0]
        b = args[1] if len(args) > 1 else a
        if op == "add":
            return b if is_const(a, 0.0) else a if is_const(b, 0.0) else None
        if op == "sub":
            if is_const(b, 0.0):
                return a
            if is_const(a, 0.0):
                return self.apply("neg", b)
            return self.const(0.0) if a is b else None
        if op == "mul":
            for x, y in ((a, b), (b, a)):
                if is_const(x, 1.0):
                    return y
                if is_const(x, 0.0):
                    return self.const(0.0)
                if is_const(x, -1.0):
                    return self.apply("neg", y)
            return None
        if op == "div":
            return a if is_const(b, 1.0) else self.const(0.0) if is_const(a, 0.0) else None
        if op == "neg":
            return a.args[0] if a.op == "neg" else None
        if op == "pow":
            return a if is_const(b, 1.0) else self.const(1.0) if is_const(b, 0.0) else None
        if op in ("eq", "le", "ge") and a is b:
            return self.const(True)
        if op in ("ne", "lt", "gt") and a is b:
            return self.const(False)
        if op in ("and", "or"):
            for x, y in ((a, b), (b, a)):
                if x.op == "bool":
                    absorbing = op == "or"
                    return self.const(absorbing) if x.value is absorbing else y
            return a if a is b else None
        if op == "not":
            return a.args[0] if a.op == "not" else None
        if op == "select":
            cond, yes, no = args
            if cond.op == "bool":
                return yes if cond.value else no
            if yes is no:
                return yes
            if yes.boolean:  # a boolean choice, as logic (SBML's piecewise is numeric here)
                return self.apply(
                    "or",
                    self.apply("and", cond, yes),
                    self.apply("and", self.apply("not", cond), no),
                )
        return None

    # Derived operations.
    def select(self, cond: Node, yes: Node, no: Node) -> Node:
        return self.apply("select", cond, yes, no)

    def to_number(self, n: Node) -> Node:
        return self.select(n, self.const(1.0), self.const(0.0)) if n.boolean else n

    def to_boolean(self, n: Node) -> Node:
        return n if n.boolean else self.apply("ne", n, self.const(0.0))


# ---------------------------------------------------------------------------------------------
# Interpreting a jaxpr


def _is_symbolic(v: Value) -> bool:
    return isinstance(v, np.ndarray) and v.dtype == object


def _objects(graph: Graph, v: Value) -> Value:
    """An array as an object array of nodes (numbers become constants)."""
    if _is_symbolic(v):
        return v
    arr = np.asarray(v)
    out = np.empty(arr.shape, dtype=object)
    for i, x in np.ndenumerate(arr):
        out[i] = graph.const(x.item())
    return out


def _elementwise(graph: Graph, fn: Callable[..., Node], *values: Value) -> Value:
    arrays = np.broadcast_arrays(*(_objects(graph, v) for v in values))
    out = np.empty(arrays[0].shape, dtype=object)
    for i in np.ndindex(out.shape):
        out[i] = fn(*(a[i] for a in arrays))
    return out


def _unary(op: str) -> Callable[..., Node]:
    def make(g: Graph, x: Node, **_: Any) -> Node:
        return g.apply(op, x)

    return make


def _binary(op: str) -> Callable[..., Node]:
    def make(g: Graph, a: Node, b: Node, **_: Any) -> Node:
        return g.apply(op, g.to_number(a), g.to_number(b))

    return make


def _compare(op: str) -> Callable[..., Node]:
    def make(g: Graph, a: Node, b: Node, **_: Any) -> Node:
        return g.apply(op, g.to_number(a), g.to_number(b))

    return make


def _logic(op: str) -> Callable[..., Node]:
    def make(g: Graph, a: Node, b: Node, **_: Any) -> Node:
        return g.apply(op, g.to_boolean(a), g.to_boolean(b))

    return make


def _select_n(g: Graph, which: Node, *cases: Node, **_: Any) -> Node:
    if len(cases) == 2 and which.boolean:
        return g.select(which, cases[1], cases[0])
    out = cases[-1]
    for k in range(len(cases) - 2, -1, -1):
        out = g.select(g.apply("eq", g.to_number(which), g.const(float(k))), cases[k], out)
    return out


def _convert(g: Graph, x: Node, *, new_dtype: Any, **_: Any) -> Node:
    kind = np.dtype(new_dtype).kind
    if kind == "b":
        return g.to_boolean(x)
    if kind == "f" or x.boolean:
        return g.to_number(x)
    raise NotImplementedError(f"symbolic conversion of a real to {np.dtype(new_dtype)}")


def _integer_pow(g: Graph, x: Node, *, y: int, **_: Any) -> Node:
    return g.apply("pow", x, g.const(float(y)))


_ELEMENTWISE: dict[str, Callable[..., Node]] = {
    "add": _binary("add"),
    "sub": _binary("sub"),
    "mul": _binary("mul"),
    "div": _binary("div"),
    "pow": _binary("pow"),
    "neg": _unary("neg"),
    "exp": _unary("exp"),
    "log": _unary("ln"),
    "tanh": _unary("tanh"),
    "sqrt": _unary("sqrt"),
    "abs": _unary("abs"),
    "floor": _unary("floor"),
    "not": lambda g, x, **_: g.apply("not", g.to_boolean(x)),
    "lt": _compare("lt"),
    "le": _compare("le"),
    "gt": _compare("gt"),
    "ge": _compare("ge"),
    "eq": _compare("eq"),
    "ne": _compare("ne"),
    "and": _logic("and"),
    "or": _logic("or"),
    "log1p": lambda g, x, **_: g.apply("ln", g.apply("add", g.const(1.0), x)),
    "expm1": lambda g, x, **_: g.apply("sub", g.apply("exp", x), g.const(1.0)),
    "exp2": lambda g, x, **_: g.apply("pow", g.const(2.0), x),
    "rsqrt": lambda g, x, **_: g.apply("div", g.const(1.0), g.apply("sqrt", x)),
    "square": lambda g, x, **_: g.apply("mul", x, x),
    "integer_pow": _integer_pow,
    "logistic": lambda g, x, **_: g.apply(
        "div", g.const(1.0), g.apply("add", g.const(1.0), g.apply("exp", g.apply("neg", x)))
    ),
    "max": lambda g, a, b, **_: g.select(g.apply("ge", a, b), a, b),
    "min": lambda g, a, b, **_: g.select(g.apply("le", a, b), a, b),
    "clamp": lambda g, lo, x, hi, **_: g.select(
        g.apply("lt", x, lo), lo, g.select(g.apply("gt", x, hi), hi, x)
    ),
    "sign": lambda g, x, **_: g.select(
        g.apply("gt", x, g.const(0.0)),
        g.const(1.0),
        g.select(g.apply("lt", x, g.const(0.0)), g.const(-1.0), g.const(0.0)),
    ),
    "select_n": _select_n,
    "convert_element_type": _convert,
    "copy": lambda g, x, **_: x,
    "copy_p": lambda g, x, **_: x,
    "reduce_precision": lambda g, x, **_: x,
}

# Structural primitives that only move elements: which operands are data (the others, the
# indices, must be numbers).
_MOVES: dict[str, Callable[[int], Iterable[int]] | None] = {
    "slice": None,
    "squeeze": None,
    "reshape": None,
    "broadcast_in_dim": None,
    "transpose": None,
    "concatenate": None,
    "stack": None,
    "split": None,
    "rev": None,
    "pad": None,
    "expand_dims": None,
    "gather": lambda n: (0,),
    "dynamic_slice": lambda n: (0,),
    "dynamic_update_slice": lambda n: (0, 1),
    "scatter": lambda n: (0, 2),
    "select_n": lambda n: range(1, n),
}
_CALLS = ("jit", "pjit", "closed_call", "core_call", "custom_jvp_call", "custom_vjp_call")
_CALL_JAXPR_PARAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def _bind(eqn: Any, invals: Sequence[Any]) -> list[Any]:
    params = eqn.primitive.get_bind_params(eqn.params)
    out = eqn.primitive.bind(*invals, **params)
    return list(out) if eqn.primitive.multiple_results else [out]


def _moved(graph: Graph, eqn: Any, invals: list[Value]) -> list[Value]:
    """A structural primitive applied to element numbers: where each element goes."""
    name = eqn.primitive.name
    which = _MOVES[name]
    data = set(which(len(invals)) if which else range(len(invals)))
    pool: list[Node] = []
    operands: list[Any] = []
    for k, v in enumerate(invals):
        if k not in data:
            if _is_symbolic(v):
                raise NotImplementedError(f"{name}: an index that depends on the inputs")
            operands.append(v)
            continue
        objects = _objects(graph, v)
        ids = np.arange(len(pool) + 1, len(pool) + 1 + objects.size, dtype=np.float64)
        pool.extend(objects.ravel())
        operands.append(ids.reshape(objects.shape))
    if name == "select_n":
        operands[0] = np.asarray(operands[0])
    outs = _bind(eqn, operands)
    result = []
    for out in outs:
        arr = np.asarray(out, dtype=np.float64)
        obj = np.empty(arr.shape, dtype=object)
        for i, x in np.ndenumerate(arr):
            obj[i] = pool[int(x) - 1] if math.isfinite(x) and x >= 1 else graph.const(math.nan)
        result.append(obj)
    return result


def _linear(graph: Graph, eqn: Any, invals: list[Value], data: Sequence[int]) -> Value:
    """A primitive linear in its ``data`` operands (scatter-add): its Jacobian with numbers,
    then each output as the weighted sum of the elements it depends on."""
    objects = [_objects(graph, invals[k]) for k in data]
    pool = [n for o in objects for n in o.ravel()]
    sizes = np.cumsum([0, *[o.size for o in objects]])

    def f(u: jax.Array) -> jax.Array:
        ops: list[Any] = [jnp.asarray(v) if k not in data else None for k, v in enumerate(invals)]
        for j, k in enumerate(data):
            ops[k] = u[sizes[j] : sizes[j + 1]].reshape(objects[j].shape)
        return _bind(eqn, ops)[0]

    jac = np.asarray(jax.jacfwd(f)(jnp.zeros(len(pool))))
    shape = jac.shape[:-1]
    jac = jac.reshape(-1, len(pool))
    out = np.empty(jac.shape[0], dtype=object)
    for o in range(jac.shape[0]):
        total = graph.const(0.0)
        for k in np.flatnonzero(jac[o]):
            total = graph.apply("add", total, graph.apply("mul", graph.const(jac[o, k]), pool[k]))
        out[o] = total
    return out.reshape(shape)


def _reduce(graph: Graph, x: Value, axes: Sequence[int], op: str) -> Value:
    x = _objects(graph, x)
    keep = [d for d in range(x.ndim) if d not in axes]
    moved = np.transpose(x, [*keep, *axes]).reshape(*[x.shape[d] for d in keep], -1)
    out = np.empty(moved.shape[:-1], dtype=object)
    combine = _ELEMENTWISE[op]
    identity = {"add": 0.0, "max": -math.inf, "min": math.inf}[op]
    for i in np.ndindex(out.shape):
        items = moved[i]
        acc = items[0] if len(items) else graph.const(identity)
        for n in items[1:]:
            acc = combine(graph, acc, n)
        out[i] = acc
    return out


def _dot_general(graph: Graph, lhs: Value, rhs: Value, dimension_numbers: Any) -> Value:
    (lc, rc), (lb, rb) = dimension_numbers
    lhs, rhs = _objects(graph, lhs), _objects(graph, rhs)
    lfree = [d for d in range(lhs.ndim) if d not in lc and d not in lb]
    rfree = [d for d in range(rhs.ndim) if d not in rc and d not in rb]
    batch = [lhs.shape[d] for d in lb]
    nb, nc = math.prod(batch), math.prod(lhs.shape[d] for d in lc)
    L = np.transpose(lhs, [*lb, *lfree, *lc]).reshape(nb, -1, nc)
    R = np.transpose(rhs, [*rb, *rc, *rfree]).reshape(nb, nc, -1)
    out = np.empty((nb, L.shape[1], R.shape[2]), dtype=object)
    for b, i, j in np.ndindex(out.shape):
        acc = graph.const(0.0)
        for c in range(nc):
            acc = graph.apply("add", acc, graph.apply("mul", L[b, i, c], R[b, c, j]))
        out[b, i, j] = acc
    return out.reshape(*batch, *[lhs.shape[d] for d in lfree], *[rhs.shape[d] for d in rfree])


def _symbolic_eqn(graph: Graph, eqn: Any, invals: list[Value]) -> list[Value]:
    name = eqn.primitive.name
    params = dict(eqn.params)
    if name in _CALLS:
        inner = next(params[k] for k in _CALL_JAXPR_PARAMS if k in params)
        if isinstance(inner, jcore.ClosedJaxpr):
            return _interpret(graph, inner.jaxpr, inner.consts, invals)
        return _interpret(graph, inner, [], invals)
    if name == "select_n" and not _is_symbolic(invals[0]):
        return _moved(graph, eqn, invals)
    if name in _MOVES and name != "select_n":
        return _moved(graph, eqn, invals)
    if name in _ELEMENTWISE:
        rule = _ELEMENTWISE[name]
        return [_elementwise(graph, lambda *xs: rule(graph, *xs, **params), *invals)]
    if name in ("reduce_sum", "reduce_max", "reduce_min"):
        op = {"reduce_sum": "add", "reduce_max": "max", "reduce_min": "min"}[name]
        return [_reduce(graph, invals[0], params["axes"], op)]
    if name == "dot_general":
        return [_dot_general(graph, invals[0], invals[1], params["dimension_numbers"])]
    if name == "scatter-add":
        if _is_symbolic(invals[1]):
            raise NotImplementedError("scatter-add: an index that depends on the inputs")
        return [_linear(graph, eqn, invals, (0, 2))]
    raise NotImplementedError(f"no symbolic rule for the JAX primitive {name!r}")


def _interpret(graph: Graph, jaxpr: Any, consts: Sequence[Any], args: Sequence[Value]) -> list:
    env: dict[Any, Value] = {}

    def read(v: Any) -> Value:
        if isinstance(v, jcore.Literal):
            return np.asarray(v.val)
        return env[v]

    for var, c in zip(jaxpr.constvars, consts, strict=True):
        env[var] = np.asarray(c)
    for var, a in zip(jaxpr.invars, args, strict=True):
        env[var] = a
    for eqn in jaxpr.eqns:
        invals = [read(v) for v in eqn.invars]
        if any(_is_symbolic(v) for v in invals):
            outs = _symbolic_eqn(graph, eqn, invals)
        else:
            outs = [np.asarray(o) for o in _bind(eqn, invals)]
        for var, out in zip(eqn.outvars, outs, strict=True):
            if not isinstance(var, jcore.DropVar):
                env[var] = out
    return [read(v) for v in jaxpr.outvars]


def trace(fn: Callable[..., Any], inputs: Sequence[Any], *, graph: Graph) -> Any:
    """``fn(*inputs)`` with the object arrays among ``inputs`` (pytrees allowed) as symbolic
    inputs: the same pytree of outputs, each an object array of nodes (a number that does
    not depend on the inputs is a constant node)."""
    leaves, tree = jax.tree_util.tree_flatten(inputs)
    example = [
        np.zeros(np.shape(x)) if _is_symbolic(np.asarray(x)) else np.asarray(x) for x in leaves
    ]
    closed, shapes = jax.make_jaxpr(
        lambda *flat: fn(*jax.tree_util.tree_unflatten(tree, flat)), return_shape=True
    )(*example)
    outs = _interpret(graph, closed.jaxpr, closed.consts, [np.asarray(x) for x in leaves])
    out_tree = jax.tree_util.tree_structure(shapes)
    return jax.tree_util.tree_unflatten(out_tree, [_objects(graph, o) for o in outs])


# ---------------------------------------------------------------------------------------------
# Using the expressions


def postorder(roots: Iterable[Node]) -> list[Node]:
    """Every node reachable from ``roots``, each after its arguments (no recursion)."""
    seen: set[int] = set()
    order: list[Node] = []
    for root in roots:
        stack: list[tuple[Node, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            if done:
                order.append(node)
                continue
            if id(node) in seen:
                continue
            seen.add(id(node))
            stack.append((node, True))
            stack.extend((a, False) for a in reversed(node.args) if id(a) not in seen)
    return order


def shared(roots: Sequence[Node]) -> list[Node]:
    """The numeric, non-leaf nodes used more than once (by other nodes or as roots), in
    dependency order: the subexpressions worth a name."""
    uses: dict[int, int] = {}
    order = postorder(roots)
    for node in order:
        for a in node.args:
            uses[id(a)] = uses.get(id(a), 0) + 1
    for r in roots:
        uses[id(r)] = uses.get(id(r), 0) + 1
    return [n for n in order if uses.get(id(n), 0) > 1 and not n.is_leaf and not n.boolean]


def evaluate(roots: Sequence[Node], values: Mapping[str, float]) -> list[Scalar]:
    """Every root's number with the symbols set to ``values`` (float64, as NumPy computes)."""
    memo: dict[int, Any] = {}
    with np.errstate(all="ignore"):
        for node in postorder(roots):
            if node.op == "sym":
                memo[id(node)] = float(values[node.name])
            elif node.is_leaf:
                memo[id(node)] = node.value
            else:
                memo[id(node)] = _NUMERIC[node.op](*(memo[id(a)] for a in node.args))
    return [memo[id(r)] for r in roots]


def _number(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "INF" if v > 0 else "-INF"
    return repr(float(v))


def infix(root: Node, names: Mapping[int, str] | None = None) -> str:
    """``root`` in libSBML's L3 infix syntax; a node whose ``id`` is in ``names`` (other than
    the root itself) is written as that name."""
    names = names or {}
    text: dict[int, str] = {}
    atomic: dict[int, bool] = {}
    for node in postorder([root]):
        key = id(node)
        if key in names and node is not root:
            text[key], atomic[key] = names[key], True
            continue
        op = node.op
        if op == "const":
            assert isinstance(node.value, float)
            s = _number(node.value)
            text[key], atomic[key] = s, not s.startswith("-")
            continue
        if op == "bool":
            text[key], atomic[key] = ("true" if node.value else "false"), True
            continue
        if op == "sym":
            text[key], atomic[key] = node.name, True
            continue

        args = [text[id(a)] if atomic[id(a)] else f"({text[id(a)]})" for a in node.args]
        if op in _INFIX:
            s, is_atomic = f"{args[0]} {_INFIX[op]} {args[1]}", False
        elif op == "neg":
            s, is_atomic = f"-{args[0]}", False
        elif op == "not":
            s, is_atomic = f"!{args[0]}", False
        elif op == "select":
            parts = [text[id(a)] for a in node.args]
            s, is_atomic = f"piecewise({parts[1]}, {parts[0]}, {parts[2]})", True
        else:
            s, is_atomic = f"{_FUNCTIONS[op]}({text[id(node.args[0])]})", True
        text[key], atomic[key] = s, is_atomic
    return text[id(root)]
