"""`lotteryproofs check` (the main job) runs the registry, writes its report, and can fail."""

import dataclasses
import json

import numpy as np
import pytest

from lotteryproofs import cli
from lotteryproofs.network import Network
from lotteryproofs.ticket import Ticket


def _perturb_one_kept_weight(ticket: Ticket) -> Ticket:
    """The same ticket with one kept source weight moved by 0.5: a broken construction."""
    weights = [np.array(w) for w in ticket.source.weights]
    layer = next(i for i, m in enumerate(ticket.weight_masks) if m.any())
    index = tuple(np.argwhere(ticket.weight_masks[layer])[0])
    weights[layer][index] += 0.5
    source = Network(tuple(weights), ticket.source.biases)
    return dataclasses.replace(ticket, source=source)


def test_check_passes_and_writes_report(tmp_path, capsys):
    status = cli.main(["check", "--only", "init.scaling-lemma", "construct.2l", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["passed"] and {c["key"] for c in report["checks"]} == {"init.scaling-lemma", "construct.2l"}
    assert "construct.2l" in (tmp_path / "report.md").read_text()


def test_check_fails_and_names_the_row_when_a_construction_is_broken(tmp_path, capsys, monkeypatch):
    import lotteryproofs.construct as construct_module

    genuine = construct_module.construct

    def broken(*args, **kwargs):
        return _perturb_one_kept_weight(genuine(*args, **kwargs))

    monkeypatch.setattr(construct_module, "construct", broken)
    status = cli.main(["check", "--only", "construct.2l", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL" in out and "FAILED: construct.2l" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert not report["passed"] and not report["checks"][0]["passed"]


def test_check_report_is_deterministic(tmp_path):
    for name in ("a", "b"):
        assert cli.main(["check", "--only", "init.scaling-lemma", "--out", str(tmp_path / name)]) == 0
    assert (tmp_path / "a" / "report.json").read_bytes() == (tmp_path / "b" / "report.json").read_bytes()


def test_unknown_theorem_key_is_a_one_line_error(capsys):
    assert cli.main(["check", "--only", "no-such-theorem"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown theorem keys ['no-such-theorem']" in err


def test_unknown_command_exits_non_zero():
    with pytest.raises(SystemExit) as info:
        cli.main(["no-such-command"])
    assert info.value.code == 2
