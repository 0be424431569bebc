"""Constant expressions: what a default, a setting or a condition can fold to.

Shared by name resolution (record field defaults), the checker and, later,
the constant-folding pass.
"""
from __future__ import annotations

from .. import ast


def is_constant(expr: ast.Expr) -> bool:
    """Whether the expression is a literal, or a list or record of constants."""
    if isinstance(expr, ast.Literal):
        return True
    if isinstance(expr, ast.ListLit):
        return all(is_constant(i) for i in expr.items)
    if isinstance(expr, ast.RecordLit):
        return all(is_constant(v) for _, v in expr.entries)
    return False


def is_member_ref(expr: ast.Expr) -> bool:
    """`red` or `Color.red`: how an enum member is written as a value."""
    return isinstance(expr, ast.Name) or (isinstance(expr, ast.GetAttr) and isinstance(expr.obj, ast.Name))


def constant_value(expr: ast.Expr):
    """The value of a constant (enum member references give the member's name)."""
    if isinstance(expr, ast.Literal):
        return expr.value
    if isinstance(expr, ast.Name):
        return expr.name
    if isinstance(expr, ast.GetAttr):
        return expr.attr.name
    if isinstance(expr, ast.ListLit):
        return [constant_value(i) for i in expr.items]
    if isinstance(expr, ast.RecordLit):
        return {k.name: constant_value(v) for k, v in expr.entries}
    raise ValueError("not a constant")


def truth_of(expr: ast.Expr) -> bool | None:
    """The truth value of a condition when it is constant, else None."""
    if isinstance(expr, ast.Literal):
        return bool(expr.value)
    if isinstance(expr, ast.Not):
        inner = truth_of(expr.operand)
        return None if inner is None else not inner
    if isinstance(expr, (ast.ListLit, ast.RecordLit)) and is_constant(expr):
        return bool(constant_value(expr))
    return None
