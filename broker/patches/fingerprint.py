"""Fingerprints of a dependency's private code, so a patch runs only on the code it was written for.

A version string says nothing about a backported or locally patched build. What a patch of
private code relies on is the text of the functions it replaces, imitates or calls, and of
every function that writes the attributes it reads or writes: if any of them changes, the
patch's reasoning no longer holds. This module computes that set and a digest of each
member from the installed source; comparing against a recorded table is the caller's job.
Pure: source text in, digests out.
"""

from __future__ import annotations

import ast
import hashlib
from collections.abc import Iterable, Mapping

MUTATORS = frozenset(
    {"append", "extend", "insert", "pop", "popleft", "remove", "clear", "update", "setdefault"}
)
"""Method names that change the container they are called on (``self._buf.append(...)``)."""


def digest(text: str) -> str:
    """A short digest of ``text`` (64 bits of SHA-256: enough to notice a change, not a proof)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _written(node: ast.AST, attrs: frozenset[str]) -> bool:
    """True if ``node`` (a method) assigns, deletes or mutates an attribute named in ``attrs``."""
    for sub in ast.walk(node):
        if isinstance(sub, ast.Attribute) and sub.attr in attrs:
            if isinstance(sub.ctx, ast.Store | ast.Del):
                return True
        elif isinstance(sub, ast.Subscript) and isinstance(sub.ctx, ast.Store | ast.Del):
            if isinstance(sub.value, ast.Attribute) and sub.value.attr in attrs:
                return True
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and sub.func.attr in MUTATORS
            and isinstance(sub.func.value, ast.Attribute)
            and sub.func.value.attr in attrs
        ):
            return True
    return False


def methods(
    module: str, source: str, classes: Iterable[str]
) -> dict[str, ast.FunctionDef | ast.AsyncFunctionDef]:
    """The methods defined in the body of each named class of a module, by full name.

    A class is found wherever it is defined at module level, also inside an ``if``.
    """
    wanted = set(classes)
    found: dict[str, ast.FunctionDef | ast.AsyncFunctionDef] = {}
    pending = list(ast.parse(source).body)
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If | ast.Try):
            pending += [*node.body, *node.orelse]
        elif isinstance(node, ast.ClassDef) and node.name in wanted:
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    found[f"{module}.{node.name}.{item.name}"] = item
    return found


def fingerprint(
    sources: Mapping[str, str],
    classes: Mapping[str, Iterable[str]],
    relied_on: Iterable[str],
    attrs: frozenset[str],
) -> dict[str, str]:
    """Digests of the methods a patch depends on, by full name (``module.Class.method``).

    Args:
        sources: Source text by module name.
        classes: Class names to scan, by module name.
        relied_on: Full names of the methods the patch replaces, imitates or calls. A name
            that no scanned class defines gets the digest ``"missing"``.
        attrs: Attribute names the patch reads or writes; every method of the scanned
            classes that assigns, deletes or mutates one of them is included too.
    """
    found: dict[str, str] = {}
    written: set[str] = set()
    for module, names in classes.items():
        lines = sources[module].splitlines(keepends=True)
        for name, node in methods(module, sources[module], names).items():
            found[name] = digest("".join(lines[node.lineno - 1 : node.end_lineno]))
            if _written(node, attrs):
                written.add(name)
    return {name: found.get(name, "missing") for name in sorted(set(relied_on) | written)}


def differences(recorded: Mapping[str, str], current: Mapping[str, str]) -> list[str]:
    """What differs between two fingerprints, one short phrase per name, sorted."""
    out = []
    for name in sorted(set(recorded) | set(current)):
        if name not in current:
            out.append(f"{name} no longer relied on")
        elif name not in recorded:
            out.append(f"{name} is new")
        elif recorded[name] != current[name]:
            out.append(f"{name} changed")
    return out
