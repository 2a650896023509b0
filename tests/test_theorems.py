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
