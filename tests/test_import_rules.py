"""DESIGN.md section 2: the rules between the parts, checked on the import statements."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IO_LIBRARIES = {"trio", "serial", "usb", "sqlalchemy", "httpx", "fastapi", "hypercorn",
                "asyncio", "socket", "anyio"}


def imported_modules(package: str) -> list[tuple[Path, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found += [(path, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.append((path, node.module))
    return found


def top(module: str) -> str:
    return module.split(".")[0]


def test_packages_exist():
    for package in ["gateway/protocols", "firmware_sim", "medipay_backend", "medipay"]:
        assert imported_modules(package), f"{package} has no python files"


def test_protocols_are_sans_io():
    bad = [(p, m) for p, m in imported_modules("gateway/protocols") if top(m) in IO_LIBRARIES]
    assert not bad, f"gateway/protocols imports I/O libraries: {bad}"
    bad = [(p, m) for p, m in imported_modules("gateway/protocols")
           if top(m) in {"gateway", "medipay", "firmware_sim", "medipay_backend"}
           and not m.startswith("gateway.protocols")]
    assert not bad, f"gateway/protocols imports other parts: {bad}"


def test_backend_imports_neither_gateway_nor_simulator():
    bad = [(p, m) for p, m in imported_modules("medipay_backend")
           if top(m) in {"gateway", "firmware_sim"}]
    assert not bad, bad


def test_simulator_uses_only_the_protocols_of_the_gateway():
    bad = [(p, m) for p, m in imported_modules("firmware_sim")
           if (top(m) == "gateway" and not m.startswith("gateway.protocols"))
           or top(m) == "medipay_backend"]
    assert not bad, bad


@pytest.mark.parametrize("package", ["gateway", "firmware_sim", "medipay_backend"])
def test_deployables_use_only_the_shared_kernel_of_medipay(package):
    allowed = {"medipay.clock", "medipay.logs", "medipay.config", "medipay.http_server",
               "medipay.signing", "medipay.runner"}
    bad = [(p, m) for p, m in imported_modules(package)
           if top(m) == "medipay" and m not in allowed]
    assert not bad, f"{package} may use only {sorted(allowed)}: {bad}"


def test_shared_kernel_imports_no_deployable():
    kernel = [(p, m) for p, m in imported_modules("medipay")
              if p.name not in {"cli.py", "up.py", "__main__.py"}
              and top(m) in {"gateway", "firmware_sim", "medipay_backend"}]
    assert not kernel, kernel
