"""Inclusion criteria: TRIAL_SPEC.md's small expression language over patient keys.

Grammar (parsed here, never handed to Python's ``eval``)::

    expr       := or
    or         := and ("or" and)*
    and        := not ("and" not)*
    not        := "not" not | atom
    atom       := "(" expr ")" | comparison | KEY          (a bare key must be boolean)
    comparison := operand OP operand                        OP in < <= > >= == !=
    operand    := KEY | NUMBER | WORD | true | false

A condition is compiled once into a function of a table of patient covariates (NumPy arrays),
so a million candidates are screened in one vectorised pass.

>>> rule = parse_condition("bmd_t_score_spine <= -2.5 or prior_fragility_fracture", "c")
>>> import numpy as np
>>> rule({"bmd_t_score_spine": np.array([-3.0, -1.0]),
...       "prior_fragility_fracture": np.array([False, False])}).tolist()
[True, False]
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.core.errors import SpecError

Table = Mapping[str, NDArray[Any]]
Condition = Callable[[Table], NDArray[np.bool_]]

_TOKEN = re.compile(
    r"\s*(?:(?P<number>-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|-?\.\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<op><=|>=|==|!=|<|>)|(?P<paren>[()])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
    "==": np.equal,
    "!=": np.not_equal,
}
_KEYWORDS = frozenset({"and", "or", "not", "true", "false"})


@dataclass(frozen=True)
class _Token:
    kind: str  # number, op, paren, word
    text: str


def _tokens(text: str, field: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].strip()[:20]
            raise SpecError(
                field,
                text,
                f"cannot read {bad!r}: use keys, numbers, words, < <= > >= == !=, and, or, "
                "not, parentheses",
            )
        kind = m.lastgroup or ""
        out.append(_Token(kind, m.group(kind)))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, text: str, field: str, keys: Collection[str] | None) -> None:
        self.text, self.field, self.keys = text, field, keys
        self.tokens = _tokens(text, field)
        self.i = 0

    def fail(self, fix: str) -> SpecError:
        return SpecError(self.field, self.text, fix)

    def peek(self) -> _Token | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise self.fail("the condition ends too early: complete it")
        self.i += 1
        return token

    def at_word(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "word" and token.text == word

    def parse(self) -> Condition:
        if not self.tokens:
            raise self.fail("the condition is empty: write one, e.g. age >= 60")
        rule = self.disjunction()
        if self.peek() is not None:
            raise self.fail(f"unexpected {self.peek().text!r}: join conditions with and/or")  # type: ignore[union-attr]
        return rule

    def disjunction(self) -> Condition:
        parts = [self.conjunction()]
        while self.at_word("or"):
            self.take()
            parts.append(self.conjunction())
        if len(parts) == 1:
            return parts[0]
        return lambda t: np.logical_or.reduce([p(t) for p in parts])

    def conjunction(self) -> Condition:
        parts = [self.negation()]
        while self.at_word("and"):
            self.take()
            parts.append(self.negation())
        if len(parts) == 1:
            return parts[0]
        return lambda t: np.logical_and.reduce([p(t) for p in parts])

    def negation(self) -> Condition:
        if self.at_word("not"):
            self.take()
            inner = self.negation()
            return lambda t: np.logical_not(inner(t))
        return self.atom()

    def atom(self) -> Condition:
        token = self.peek()
        if token is not None and token.kind == "paren" and token.text == "(":
            self.take()
            inner = self.disjunction()
            close = self.peek()
            if close is None or close.text != ")":
                raise self.fail("a parenthesis is not closed: add ')'")
            self.take()
            return inner
        left = self.operand()
        following = self.peek()
        if following is not None and following.kind == "op":
            op = _OPS[self.take().text]
            right = self.operand()
            return lambda t: np.asarray(op(left(t), right(t)), dtype=bool)
        if token is not None and token.kind == "word" and token.text not in _KEYWORDS:
            key = token.text

            def bare(t: Table) -> NDArray[np.bool_]:
                values = t[key]
                if values.dtype != np.bool_:
                    raise SpecError(
                        self.field,
                        self.text,
                        f"{key} is not true/false: compare it, e.g. {key} > 0",
                    )
                return values

            return bare
        raise self.fail("expected a comparison or a true/false key")

    def operand(self) -> Callable[[Table], Any]:
        token = self.take()
        if token.kind == "number":
            value = float(token.text)
            return lambda t: value
        if token.kind == "word":
            if token.text in ("true", "false"):
                flag = token.text == "true"
                return lambda t: flag
            if token.text in _KEYWORDS:
                raise self.fail(f"{token.text!r} cannot stand here: expected a key or a value")
            if self.keys is None or token.text in self.keys:
                key = token.text
                return lambda t: t[key]
            word = token.text  # a category, e.g. thrombophilia == none
            return lambda t: word
        raise self.fail(f"unexpected {token.text!r}: expected a key, a number or a word")


def parse_condition(text: str, field: str, keys: Collection[str] | None = None) -> Condition:
    """Compile one condition; ``keys`` (the patient keys) tells a key from a category word.

    With ``keys`` given, a word that is not a key is a category value (``cyp2d6 == poor``); a
    condition that uses no key at all is an error. Without ``keys``, every word that is not a
    keyword is read as a key.
    """
    if not isinstance(text, str):
        raise SpecError(field, text, 'write the condition as text, e.g. "age >= 60"')
    parser = _Parser(text, field, keys)
    rule = parser.parse()
    if keys is not None:
        used = {t.text for t in parser.tokens if t.kind == "word" and t.text in keys}
        if not used:
            words = [t.text for t in parser.tokens if t.kind == "word" and t.text not in _KEYWORDS]
            fix = (
                f"unknown key {words[0]!r}: use patient keys such as age or bmd_t_score_spine"
                if words
                else "the condition names no patient key"
            )
            raise SpecError(field, text, fix)
        _check_words(parser.tokens, field, text, keys)
    return rule


def _check_words(tokens: list[_Token], field: str, text: str, keys: Collection[str]) -> None:
    """A word that is neither a key nor on the other side of a comparison with a key is
    probably a misspelt key: say so rather than compare against a string."""
    for i, token in enumerate(tokens):
        if token.kind != "word" or token.text in _KEYWORDS or token.text in keys:
            continue
        before = tokens[i - 1] if i > 0 else None
        after = tokens[i + 1] if i + 1 < len(tokens) else None
        beside_op = (before is not None and before.kind == "op") or (
            after is not None and after.kind == "op"
        )
        if not beside_op:
            raise SpecError(field, text, f"unknown key {token.text!r}")
