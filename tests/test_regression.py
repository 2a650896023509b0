"""Refactorings change no result: the same seeds give the same arrays and the same numbers.

``tests/regression/baseline.json`` was written by ``tests/regression/record.py`` with the code
as it stood before the layers/constructions redesign; this test rebuilds every case with the
current code and compares every array of the ticket file (source, masks, scale, log) by
sha256 and every certificate number exactly. The ticket file's own bytes also hold the
metadata JSON, which may gain keys (they are compared separately, where intended changes are
listed).

One intended change: the certified bound is now the smallest of several rigorous bounds (the
§5 recursion the baseline recorded, the differential and linear differential bounds of
proofs/certificate-differential.md, the a-priori bound under its hypothesis), so it can only
fall: ``certified_output_error`` is compared as ≤ the recorded value (and ≥ the observed
error); every other number stays exact. The observed search is run as the baseline ran it
(no restarted ascent rounds, ``observed_restarts=0``), which reproduces its value exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent / "regression"
sys.path.insert(0, str(HERE))
import record  # noqa: E402

BASELINE = json.loads((HERE / "baseline.json").read_text())


@pytest.mark.parametrize("case", BASELINE["cases"],
                         ids=[f"{c['target']}-{c['method']}" for c in BASELINE["cases"]])
def test_same_arrays_and_numbers(case, tmp_path):
    got = record.build_case(case["target"], case["method"], case["options"], tmp_path)
    assert got["array_sha256"] == case["array_sha256"]
    assert got["nonzero"] == case["nonzero"]
    assert got["failures"] == case["failures"]
    assert got["scale"] == case["scale"]
    certified = got["errors"].pop("certified_output_error")
    recorded = dict(case["errors"])
    assert certified <= recorded.pop("certified_output_error")
    assert got["errors"] == recorded
    assert got["errors"]["observed_output_error"] <= certified
