"""Safe arithmetic for models: an AST evaluator over numbers and operators, never `eval`.

Models are bad at arithmetic and good at writing expressions. The evaluator accepts only number
literals, + - * / // % ** (unary and binary), parentheses, a few math functions and constants,
and rejects resource bombs (giant exponents, huge integers, deep nesting) before computing them.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from mainspring.errors import InvalidArgumentsError
from mainspring.tools.decorator import tool

MAX_EXPRESSION_CHARS = 500
MAX_DEPTH = 40
MAX_RESULT_BITS = 4096

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


class _Evaluator:
    def __init__(self) -> None:
        self.depth = 0

    def eval(self, node: ast.AST) -> Any:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidArgumentsError(f"expression nests deeper than {MAX_DEPTH} levels")
        try:
            return _check_size(self._eval(node))
        finally:
            self.depth -= 1

    def _eval(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return node.value
        if isinstance(node, ast.Name) and node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _UNARY[type(node.op)](self.eval(node.operand))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return _power(self.eval(node.left), self.eval(node.right))
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](self.eval(node.left), self.eval(node.right))
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCTIONS
            and not node.keywords
        ):
            return _FUNCTIONS[node.func.id](*(self.eval(a) for a in node.args))
        raise InvalidArgumentsError(
            f"unsupported element {ast.unparse(node)!r}: use numbers, + - * / // % **, "
            f"parentheses, constants {sorted(_CONSTANTS)} and functions {sorted(_FUNCTIONS)}"
        )


def _power(base: Any, exponent: Any) -> Any:
    # Estimate the result's size before computing it: 9**9**9 must fail fast, not hang.
    if abs(base) > 1 and abs(exponent) * math.log2(abs(base)) > MAX_RESULT_BITS:
        raise InvalidArgumentsError(
            f"{base}**{exponent} is too large to compute (over {MAX_RESULT_BITS} bits)"
        )
    return base**exponent


def _check_size(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_RESULT_BITS:
        raise InvalidArgumentsError(f"intermediate result exceeds {MAX_RESULT_BITS} bits")
    if isinstance(value, complex):
        raise InvalidArgumentsError("the result is a complex number, which is not supported")
    return value


def evaluate(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely; `InvalidArgumentsError` says what is wrong."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise InvalidArgumentsError(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise InvalidArgumentsError(
            f"{expression!r} is not an arithmetic expression ({exc.msg}); write e.g. '17 * 23'"
        ) from None
    try:
        value = _Evaluator().eval(tree)
    except ZeroDivisionError:
        raise InvalidArgumentsError("division by zero") from None
    except (OverflowError, ValueError, TypeError) as exc:
        raise InvalidArgumentsError(f"cannot compute {expression!r}: {exc}") from None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    result: int | float = value
    return result


@tool(timeout=5.0, cache_ttl=3600, idempotent=True)
def calculator(expression: str) -> int | float:
    """Evaluate an arithmetic expression exactly, e.g. '17 * 23' or 'sqrt(2) * (3 + 4)'.

    Args:
        expression: numbers with + - * / // % ** and parentheses; functions sqrt, log, exp,
            sin, cos, tan, abs, round, min, max, floor, ceil; constants pi, e, tau.
    """
    return evaluate(expression)
