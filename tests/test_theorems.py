"""The registry and proofs/ stay in step: documents exist and name real code and tests."""

import ast
import importlib
from pathlib import Path

import pytest

from lotteryproofs.checks import BUILTIN

ROOT = Path(__file__).resolve().parents[1]
THEOREMS = BUILTIN  # plugins' documents live in their own projects


def _resolve(dotted: str):
    module_name, _, qualname = dotted.partition(":")
    obj = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def _test_exists(node_id: str) -> bool:
    path, _, name = node_id.partition("::")
    file = ROOT / path
    if not file.is_file():
        return False
    tree = ast.parse(file.read_text())
    names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)}
    return name.split("::")[0].split("[")[0] in names


def test_registry_is_not_empty_and_keys_unique():
    keys = [t.key for t in THEOREMS]
    assert keys and len(keys) == len(set(keys))


@pytest.mark.parametrize("theorem", THEOREMS, ids=lambda t: t.key)
def test_document_exists_and_names_the_theorem(theorem):
    doc = ROOT / theorem.document
    assert doc.is_file(), f"{theorem.key}: no document {theorem.document}"
    text = doc.read_text()
    assert f"`{theorem.key}`" in text, (
        f"{theorem.document} does not name registry key {theorem.key}")
    for code in theorem.code:
        assert f"`{code}`" in text, f"{theorem.document} does not name its code {code}"
    for test in theorem.tests:
        assert f"`{test}`" in text, f"{theorem.document} does not name its test {test}"


@pytest.mark.parametrize("theorem", THEOREMS, ids=lambda t: t.key)
def test_code_and_tests_exist(theorem):
    assert theorem.code and theorem.tests, f"{theorem.key} names no code or no tests"
    for code in theorem.code:
        _resolve(code)
    for test in theorem.tests:
        assert _test_exists(test), f"{theorem.key}: test {test} does not exist"


def test_documents_name_only_existing_code_and_tests():
    """Every `module:object` and `tests/...::name` written in any proofs/ document exists."""
    import re

    for doc in sorted((ROOT / "proofs").glob("*.md")):
        text = doc.read_text()
        for dotted in re.findall(r"`(lotteryproofs(?:\.\w+)*:[\w.]+)`", text):
            _resolve(dotted)
        for node in re.findall(r"`(tests/[\w/]+\.py::[\w\[\]-]+)`", text):
            assert _test_exists(node), f"{doc.name} names missing test {node}"


def _lotteryproofs_imports(path: Path) -> set[str]:
    """Every lotteryproofs module a source file imports, at any depth of its code."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("lotteryproofs")}


def test_no_cycle_between_the_records_the_registry_and_the_checks():
    """The records (theorems.py) import no check and no registry; a check module imports the
    records, never the registry (lotteryproofs.checks itself); the registry imports the check
    modules by name in code, not through importlib."""
    package = ROOT / "lotteryproofs"
    records = _lotteryproofs_imports(package / "theorems.py")
    higher = ("lotteryproofs.checks", "lotteryproofs.report")
    assert not {n for n in records if n.startswith(higher)}
    for module in sorted((package / "checks").glob("*.py")):
        if module.name == "__init__.py":
            continue
        imported = _lotteryproofs_imports(module)
        assert "lotteryproofs.checks" not in imported, module.name
        assert not {n for n in imported if n.startswith("lotteryproofs.checks.") and
                    n.rsplit(".", 1)[-1] in ("registry", "BUILTIN")}, module.name
    registry_source = (package / "checks" / "__init__.py").read_text()
    assert "import_module" not in registry_source and "__import__" not in registry_source
    from lotteryproofs import checks

    modules = {t.check.__module__ for t in checks.BUILTIN}
    assert modules == {f"lotteryproofs.checks.{p.stem}" for p in (package / "checks").glob("*.py")
                       if p.name != "__init__.py"}
