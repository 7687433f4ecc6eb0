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
import typing
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from sermsim.core.errors import SpecError
from sermsim.physiology.patient import Patient

Table = Mapping[str, NDArray[Any]]
Condition = Callable[[Table], NDArray[np.bool_]]

# Input sanity bounds (not science). Parentheses and ``not`` nest at most this deep: no
# condition a person writes goes near it, and it keeps the recursive parser (four Python
# frames a parenthesis) and the compiled rule far inside Python's recursion limit (1000).
MAX_DEPTH = 50
SHOWN_CHARS = 120  # a long condition is cut to this in an error message (kept one line)

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
_BLANK = re.compile(r"\s*\Z")
_SAID = {
    "number": "is a number",
    "bool": "is true/false",
    "word": "is a category",
    "text": "is a word",
}
_ORDERING = frozenset({"<", "<=", ">", ">="})


def _kind(annotation: Any) -> str:
    """``bool``, ``word`` (a category) or ``number``: what a patient key's values are."""
    if annotation in (bool, bool | None):
        return "bool"
    for arg in (annotation, *typing.get_args(annotation)):
        values = typing.get_args(arg)
        if values and all(isinstance(v, str) for v in values):
            return "word"
    return "number"


# The patient keys' kinds, so that a comparison that cannot hold (a number with a word, an
# order of categories) is refused when the condition is read, not when people are screened.
KINDS: dict[str, str] = {k: _kind(f.annotation) for k, f in Patient.model_fields.items()}
# The words a categorical key takes (a misspelt one would silently match nobody).
WORDS: dict[str, tuple[str, ...]] = {
    k: tuple(
        v
        for a in (f.annotation, *typing.get_args(f.annotation))
        for v in typing.get_args(a)
        if isinstance(v, str)  # Menopause | None: the Literal's words, not the Literal
    )
    for k, f in Patient.model_fields.items()
    if KINDS[k] == "word"
}


def _cut(text: str) -> str:
    """The condition as an error shows it: cut when long."""
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 3] + "..."


@dataclass(frozen=True)
class _Token:
    kind: str  # number, op, paren, word
    text: str


def _tokens(text: str, field: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        if _BLANK.match(text, pos):  # not text[pos:].strip(): that is quadratic in the length
            break
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            bad = text[pos:].strip()[:20]
            raise SpecError(
                field,
                _cut(text),
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
        self.depth = 0

    def fail(self, fix: str) -> SpecError:
        return SpecError(self.field, _cut(self.text), fix)

    def deeper(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"nests parentheses and not deeper than {MAX_DEPTH}: simplify it")

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
            self.deeper()
            inner = self.negation()
            self.depth -= 1
            return lambda t: np.logical_not(inner(t))
        return self.atom()

    def atom(self) -> Condition:
        token = self.peek()
        if token is not None and token.kind == "paren" and token.text == "(":
            self.take()
            self.deeper()
            inner = self.disjunction()
            self.depth -= 1
            close = self.peek()
            if close is None or close.text != ")":
                raise self.fail("a parenthesis is not closed: add ')'")
            self.take()
            return inner
        left = self.operand()
        following = self.peek()
        if following is not None and following.kind == "op":
            op_text = self.take().text
            right_token = self.peek()
            right = self.operand()
            assert token is not None and right_token is not None  # operand() took them
            self.check_comparison(token, op_text, right_token)
            return self.comparison(_OPS[op_text], left, right)
        if token is not None and token.kind == "word" and token.text not in _KEYWORDS:
            key = token.text
            fix = f"{key} is not true/false: compare it, e.g. {key} > 0"
            if self.keys is not None and KINDS.get(key, "bool") != "bool":
                raise self.fail(fix)

            def bare(t: Table) -> NDArray[np.bool_]:
                values = t[key]
                if values.dtype != np.bool_:
                    raise self.fail(fix)
                return values

            return bare
        raise self.fail("expected a comparison or a true/false key")

    def kind(self, token: _Token) -> str | None:
        """What an operand is: a number, true/false, a word, or None (a key of unknown kind)."""
        if token.kind == "number":
            return "number"
        if token.text in ("true", "false"):
            return "bool"
        if self.keys is not None and token.text in self.keys:
            return KINDS.get(token.text)
        return "word"

    def check_comparison(self, left: _Token, op: str, right: _Token) -> None:
        """Refuse, when read, a comparison that can never be evaluated or never hold."""
        if self.keys is None:
            return
        left_kind, right_kind = self.kind(left), self.kind(right)
        if left_kind is None or right_kind is None:
            return
        kinds = (left_kind, right_kind)
        words = "word" in kinds
        if words and kinds != ("word", "word"):
            keys = self.keys

            def said(token: _Token, kind: str) -> str:  # a category key, or a mere word
                plain_word = kind == "word" and token.text not in keys
                return f"{token.text} {_SAID['text' if plain_word else kind]}"

            both = f"{said(left, left_kind)} and {said(right, right_kind)}"
            raise self.fail(f"{both}: compare a key with a value of its kind, e.g. cyp2d6 == poor")
        if words and op in _ORDERING:
            raise self.fail(f"categories compare with == or != only, not {op}")
        for key, word in ((left.text, right.text), (right.text, left.text)):
            allowed = WORDS.get(key)
            if allowed and word not in allowed and word not in self.keys:
                raise self.fail(f"{word!r} is not a value of {key}: use {', '.join(allowed)}")

    def comparison(
        self, op: Callable[[Any, Any], Any], left: Callable[[Table], Any], right: Any
    ) -> Condition:
        def compare(t: Table) -> NDArray[np.bool_]:
            try:
                return np.asarray(op(left(t), right(t)), dtype=bool)
            except TypeError:  # a number with a word, where the keys' kinds were not known
                raise self.fail("compares values that cannot be compared") from None

        return compare

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
                f"unknown key {_cut(words[0])!r}: use patient keys such as age or bmd_t_score_spine"
                if words
                else "the condition names no patient key"
            )
            raise SpecError(field, _cut(text), fix)
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
            raise SpecError(field, _cut(text), f"unknown key {_cut(token.text)!r}")
