"""Conditions: the small expression language of a step's ``if:``.

Grammar (one ``${{ … }}`` holding the whole condition)::

    condition  := or
    or         := and (("or" | "||") and)*
    and        := not (("and" | "&&") not)*
    not        := ("not" | "!") not | comparison
    comparison := operand (("==" | "!=" | "<" | "<=" | ">" | ">=" | "in" | "not in") operand)?
    operand    := literal | name | "(" or ")" | "[" (operand ("," operand)*)? "]"
    literal    := 12 | -1.5 | 'text' | "text" | true | false | null
    name       := params.NAME | steps.ID.outputs.NAME | run.id | run.date | env.NAME

Design decisions:

- A hand-written tokenizer and recursive-descent parser, never Python's ``eval``:
  the only things a condition can do are read the names above (through
  :mod:`~nbflow.manifest.expressions`, which owns what each name means) and
  compare them. Step ids may hold ``-``, which Python's own parser would read as a
  subtraction; there is no arithmetic, so a name is read as one dotted token.
- No chained comparisons (``1 < x < 3``): write ``1 < x and x < 3``.
- Truthiness is Python's and JSON's: ``false``, ``null``, ``0``, ``''``, ``[]``
  and ``{}`` are false. ``==`` never equates a boolean with a number.
  ``<``/``>`` compare two numbers or two strings (ISO dates compare as text, which
  orders them); anything else is an error, not a silent ``false``.
- ``secrets.X`` and ``item`` are refused: a condition is decided once per step,
  before any item, and its values are shown in the step's record.
- Every error carries the offset of its cause in the condition's text, so
  ``nbflow validate`` can point at the column.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from nbflow.manifest import expressions
from nbflow.manifest.expressions import Context, ExpressionError, Reference
from nbflow.manifest.values import jsonable

__all__ = ["Condition", "ConditionError", "evaluate", "parse_condition", "shown_values"]

_WRAPPED = re.compile(r"\s*\$\{\{(.*)\}\}\s*", re.DOTALL)
_TOKEN = re.compile(
    r"""(?P<space>\s+)
    |(?P<number>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)
    |(?P<string>'[^']*'|"[^"]*")
    |(?P<op>==|!=|<=|>=|&&|\|\||[<>!()\[\],])
    |(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_][A-Za-z0-9_-]*)*)""",
    re.VERBOSE,
)
_WORDS = {"and": "&&", "or": "||", "not": "!"}
_CONSTANTS = {"true": True, "false": False, "null": None, "True": True, "False": False}
_CONSTANTS["None"] = None
_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=", "in", "not in")
_ORDER = {"<": operator.lt, "<=": operator.le, ">": operator.gt, ">=": operator.ge}
_ALLOWED = ("params", "steps", "run", "env")
_SHOWN_CHARS = 60


class ConditionError(ExpressionError):
    """A condition that does not parse or cannot be evaluated; ``offset`` is where in
    its text (0-based), when known."""

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class _Token:
    kind: str  # number, string, op, name, end
    text: str
    offset: int


@dataclass(frozen=True)
class _Node:
    """One node of a parsed condition: ``op`` is "literal", "name", "list", "!",
    "&&", "||" or a comparison; ``value`` a literal's value or a name's Reference."""

    op: str
    args: tuple[_Node, ...] = ()
    value: Any = None


@dataclass(frozen=True)
class Condition:
    """A parsed ``if:``: its text, its tree, and the names it reads (in order)."""

    text: str
    tree: _Node
    references: tuple[Reference, ...]


def parse_condition(text: str) -> Condition:
    """Parse an ``if:`` value, ``"${{ … }}"``; ConditionError (with offset) if bad."""
    wrapped = _WRAPPED.fullmatch(text)
    if wrapped is None or "}}" in wrapped.group(1) or "${{" in wrapped.group(1):
        raise ConditionError(
            f"condition '{text}' is not one ${{{{ … }}}} expression; "
            'write it as "${{ params.full_refresh }}" or "${{ steps.ID.outputs.N > 0 }}"',
            0,
        )
    parser = _Parser(list(_tokens(wrapped.group(1), wrapped.start(1))))
    tree = parser.condition()
    return Condition(text, tree, tuple(parser.references))


def evaluate(condition: Condition, context: Context) -> bool:
    """Whether ``condition`` holds in ``context``; ConditionError when a name is
    missing or two values cannot be compared."""
    return _truth(_value(condition.tree, context))


def shown_values(condition: Condition, context: Context) -> str:
    """``steps.check.outputs.rows = 0, params.x = 'eu'``: what the names read, for
    the reason a step was skipped."""
    shown: dict[str, str] = {}
    for ref in condition.references:
        try:
            value = repr(jsonable(expressions.lookup(ref, context)))
        except ExpressionError:
            value = "(not set)"
        if len(value) > _SHOWN_CHARS:
            value = value[: _SHOWN_CHARS - 1] + "…"
        shown[ref.text] = value
    return ", ".join(f"{name} = {value}" for name, value in shown.items())


# -- tokens and parsing ---------------------------------------------------------------


def _tokens(body: str, start: int) -> Iterator[_Token]:
    position = 0
    while position < len(body):
        match = _TOKEN.match(body, position)
        if match is None:
            raise ConditionError(f"unexpected character {body[position]!r}", start + position)
        kind = match.lastgroup or ""
        if kind != "space":
            word = _WORDS.get(match.group()) if kind == "name" else None
            yield _Token("op" if word else kind, word or match.group(), start + position)
        position = match.end()
    yield _Token("end", "", start + len(body))


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.position = 0
        self.references: list[Reference] = []

    @property
    def current(self) -> _Token:
        return self.tokens[self.position]

    def _take(self, *texts: str) -> _Token | None:
        token = self.current
        if token.kind == "op" and token.text in texts:
            self.position += 1
            return token
        return None

    def condition(self) -> _Node:
        if self.current.kind == "end":
            raise ConditionError("empty condition", self.current.offset)
        tree = self._or()
        if self.current.kind != "end":
            raise self._unexpected("'and', 'or' or the end of the condition")
        return tree

    def _or(self) -> _Node:
        node = self._and()
        while self._take("||"):
            node = _Node("||", (node, self._and()))
        return node

    def _and(self) -> _Node:
        node = self._not()
        while self._take("&&"):
            node = _Node("&&", (node, self._not()))
        return node

    def _not(self) -> _Node:
        token = self.current
        if self._take("!"):
            if self.current.kind == "name" and self.current.text == "in":
                raise ConditionError("'not in' needs a value before it", token.offset)
            return _Node("!", (self._not(),))
        return self._comparison()

    def _comparison(self) -> _Node:
        left = self._operand()
        op = self._comparison_op()
        if op is None:
            return left
        node = _Node(op, (left, self._operand()))
        if self._comparison_op(peek=True):
            raise ConditionError(
                "comparisons cannot be chained; write 'a < b and b < c'", self.current.offset
            )
        return node

    def _comparison_op(self, *, peek: bool = False) -> str | None:
        token = self.current
        if token.kind == "op" and token.text in _COMPARISONS:
            op = token.text
        elif token.kind == "name" and token.text == "in":
            op = "in"
        elif token.text == "!" and self.tokens[self.position + 1].text == "in":
            op = "not in"
        else:
            return None
        if not peek:
            self.position += 2 if op == "not in" else 1
        return op

    def _operand(self) -> _Node:
        token = self.current
        if self._take("("):
            node = self._or()
            if not self._take(")"):
                raise self._unexpected("')'")
            return node
        if self._take("["):
            return self._list(token)
        self.position += 1
        if token.kind == "number":
            number = float(token.text)
            value = int(token.text) if re.fullmatch(r"-?\d+", token.text) else number
            return _Node("literal", value=value)
        if token.kind == "string":
            return _Node("literal", value=token.text[1:-1])
        if token.kind == "name":
            if token.text in _CONSTANTS:
                return _Node("literal", value=_CONSTANTS[token.text])
            return _Node("name", value=self._reference(token))
        self.position -= 1
        raise self._unexpected("a value, a name or '('")

    def _list(self, opening: _Token) -> _Node:
        items: list[_Node] = []
        if not self._take("]"):
            items.append(self._operand())
            while self._take(","):
                items.append(self._operand())
            if not self._take("]"):
                raise self._unexpected("',' or ']'")
        return _Node("list", tuple(items))

    def _reference(self, token: _Token) -> Reference:
        try:
            ref = expressions.parse_reference(token.text)
        except ExpressionError:
            kinds = ", ".join(_ALLOWED)
            raise ConditionError(
                f"unknown name '{token.text}'; a name starts with one of {kinds} "
                "(text is quoted: 'eu')",
                token.offset,
            ) from None
        if ref.kind not in _ALLOWED:
            why = {
                "secrets": "a condition cannot read secrets (its values are shown in the record)",
                "item": "a condition is decided once for the whole step, before its items",
            }
            raise ConditionError(f"'{token.text}': {why[ref.kind]}", token.offset)
        self.references.append(ref)
        return ref

    def _unexpected(self, expected: str) -> ConditionError:
        token = self.current
        found = f"'{token.text}'" if token.kind != "end" else "the end of the condition"
        return ConditionError(f"expected {expected}, found {found}", token.offset)


# -- evaluation -------------------------------------------------------------------------


def _value(node: _Node, context: Context) -> Any:
    if node.op == "literal":
        return node.value
    if node.op == "name":
        return jsonable(expressions.lookup(node.value, context))
    if node.op == "list":
        return [_value(arg, context) for arg in node.args]
    if node.op == "!":
        return not _truth(_value(node.args[0], context))
    if node.op == "&&":
        return _truth(_value(node.args[0], context)) and _truth(_value(node.args[1], context))
    if node.op == "||":
        return _truth(_value(node.args[0], context)) or _truth(_value(node.args[1], context))
    return _compare(node.op, _value(node.args[0], context), _value(node.args[1], context))


def _truth(value: Any) -> bool:
    return bool(value)


def _compare(op: str, left: Any, right: Any) -> bool:
    if op in ("==", "!="):
        same = isinstance(left, bool) == isinstance(right, bool) and left == right
        return same if op == "==" else not same
    if op in ("in", "not in"):
        if not isinstance(right, list | str | dict):
            raise ConditionError(f"'{op}' needs a list or a text on its right, got {right!r}")
        if isinstance(right, str) and not isinstance(left, str):
            raise ConditionError(f"'{op}' a text needs a text on its left, got {left!r}")
        found = left in right
        return found if op == "in" else not found
    if not (_is_number(left) and _is_number(right)) and not (
        isinstance(left, str) and isinstance(right, str)
    ):
        raise ConditionError(f"cannot compare {left!r} {op} {right!r}: not two numbers or texts")
    return bool(_ORDER[op](left, right))


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
