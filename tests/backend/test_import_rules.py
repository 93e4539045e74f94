"""DESIGN.md section 2: backend domain rules are pure (no I/O, no clock, no sessions).

The rule that the backend imports nothing of the gateway or the simulator is checked for the
whole repository in tests/test_import_rules.py.
"""

from __future__ import annotations

import ast
from pathlib import Path

import medipay_backend

IO_OR_STATE = {"trio", "anyio", "asyncio", "sqlalchemy", "alembic", "fastapi", "starlette",
               "httpx", "hypercorn", "socket", "structlog", "logging", "os", "pathlib"}


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_domain_rules_are_pure() -> None:
    domain = Path(medipay_backend.__file__).parent / "domain"
    files = sorted(domain.rglob("*.py"))
    assert files
    for path in files:
        for name in _imports(path):
            assert name.split(".")[0] not in IO_OR_STATE, f"{path} imports {name}"
            assert name != "medipay.clock", f"{path} reads the clock"
            if name.startswith("medipay_backend"):
                assert name.startswith("medipay_backend.domain"), f"{path} imports {name}"
