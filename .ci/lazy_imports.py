"""Fail on an import of another app inside a function, unless a comment says why.

import-linter checks which app imports which; this checks where. An import inside a
function hides an arrow from readers (and used to dodge import cycles). Where one is
needed (an AppConfig.ready(), a heavy optional module), the line before it or the line
itself carries a comment saying why.

    python .ci/lazy_imports.py        # exit 1 and a list when one lacks its comment
"""

from __future__ import annotations

import ast
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
APPS = [
    "billing_project",
    "idempotency",
    "accounts",
    "organizations",
    "plans",
    "apikeys",
    "subscriptions",
    "usage",
    "credits",
    "invoices",
    "payments",
    "billing",
    "webhooks",
]


def _imported_apps(node: ast.AST) -> list[str]:
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module.split(".")[0]]
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    return []


def _explained(lines: list[str], node: ast.AST) -> bool:
    own = lines[node.lineno - 1]
    before = lines[node.lineno - 2].strip() if node.lineno >= 2 else ""
    return "#" in own or before.startswith("#")


def violations() -> list[str]:
    found = []
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if "tests" in relative.parts or "migrations" in relative.parts:
                continue
            source = path.read_text()
            lines = source.splitlines()
            for function in ast.walk(ast.parse(source)):
                if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                for node in ast.walk(function):
                    others = [name for name in _imported_apps(node) if name in APPS and name != app]
                    if others and not _explained(lines, node):
                        found.append(f"{relative}:{node.lineno}: imports {', '.join(others)} inside a function")
    return sorted(set(found))


if __name__ == "__main__":
    problems = violations()
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} function-level import(s) of another app without a comment saying why")
        sys.exit(1)
