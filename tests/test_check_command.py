"""`lotteryproofs check` (the main job) runs the registry, writes its report, and can fail."""

import dataclasses
import itertools
import json
import os
import subprocess
import sys
import textwrap
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from lotteryproofs import cli, report
from lotteryproofs.checks import registry
from lotteryproofs.commands import check as check_command
from lotteryproofs.network import Network
from lotteryproofs.theorems import CheckResult, Theorem
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
    status = cli.main(["check", "--only", "init.scaling-lemma", "construct.2l",
                       "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 0, out
    report = json.loads((tmp_path / "report.json").read_text())
    keys = {c["key"] for c in report["checks"]}
    assert report["passed"] and keys == {"init.scaling-lemma", "construct.2l"}
    assert "construct.2l" in (tmp_path / "report.md").read_text()


def test_check_fails_and_names_the_row_when_a_construction_is_broken(tmp_path, capsys, monkeypatch):
    import lotteryproofs.construct as construct_module

    genuine = construct_module.construct

    def broken(*args, **kwargs):
        return _perturb_one_kept_weight(genuine(*args, **kwargs))

    monkeypatch.setattr(construct_module, "construct", broken)
    # in this process: a patch does not reach the worker processes of --workers > 1
    status = cli.main(["check", "--only", "construct.2l", "--workers", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL" in out and "FAILED: construct.2l" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert not report["passed"] and not report["checks"][0]["passed"]


def test_check_report_is_deterministic(tmp_path):
    for name in ("a", "b"):
        status = cli.main(["check", "--only", "init.scaling-lemma", "--out", str(tmp_path / name)])
        assert status == 0
    first, second = (tmp_path / "a" / "report.json"), (tmp_path / "b" / "report.json")
    assert first.read_bytes() == second.read_bytes()


def test_report_does_not_depend_on_the_number_of_workers(tmp_path, capsys):
    """Checks in two worker processes (rows streamed in registry order) write the report that
    one process running them in turn writes, byte for byte."""
    keys = ["init.scaling-lemma", "error-propagation-closed-form", "rss.counting-lower-bound"]
    for workers in ("1", "2"):
        assert cli.main(["check", "--only", *keys, "--workers", workers,
                         "--out", str(tmp_path / workers)]) == 0
        table = [line.split()[0] for line in capsys.readouterr().out.splitlines()
                 if line.endswith(" PASS")]
        assert table == [k for k in registry().keys() if k in keys]
    one, two = (tmp_path / w / "report.json" for w in ("1", "2"))
    assert one.read_bytes() == two.read_bytes()


def test_unknown_theorem_key_is_a_one_line_error(capsys):
    assert cli.main(["check", "--only", "no-such-theorem"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown theorem keys ['no-such-theorem']" in err
    assert "check --list" in err


def test_unknown_command_exits_non_zero():
    with pytest.raises(SystemExit) as info:
        cli.main(["no-such-command"])
    assert info.value.code == 2


# ------------------------------------------------------------------ helpers: a plugin on disk
ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "custom-lemma"
_COUNTER = itertools.count()


def _install_fake_distribution(folder: Path, dist: str, entry_points: dict[str, str],
                               modules: dict[str, str] | None = None) -> Path:
    """A distribution importlib.metadata finds on sys.path: a .dist-info with entry points
    in the group lotteryproofs.theorems, and its modules (what pip install leaves behind)."""
    folder.mkdir(parents=True, exist_ok=True)
    info = folder / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n")
    lines = ["[lotteryproofs.theorems]"] + [f"{k} = {v}" for k, v in entry_points.items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    for name, source in (modules or {}).items():
        (folder / f"{name}.py").write_text(textwrap.dedent(source))
    return folder


def _plugin_module(key: str, *, passed: bool = True, raises: bool = False) -> str:
    return f"""
        from lotteryproofs.theorems import CheckResult, Theorem

        def check(ctx):
            if {raises!r}:
                raise RuntimeError("boom")
            return CheckResult(passed={passed!r}, measured="value " + str(ctx.rng.integers(10)))

        THEOREMS = (Theorem(key={key!r}, title="a plugin theorem", claim="the plugin claim",
                            theory="-", document="proofs/x.md", code=(), tests=(),
                            check=check),)
    """


@pytest.fixture
def plugin_path(tmp_path, monkeypatch):
    """Put fake distributions on sys.path for this test only (names unique per test)."""
    def add(dist: str, entry_points: dict[str, str], modules: dict[str, str] | None = None):
        folder = _install_fake_distribution(tmp_path / f"site{next(_COUNTER)}", dist,
                                            entry_points, modules)
        monkeypatch.syspath_prepend(str(folder))
        return folder

    return add


def _unique(stem: str) -> str:
    return f"{stem}_{next(_COUNTER)}_{abs(hash(stem)) % 10_000}"


# ------------------------------------------------------------------ table, list, seed
def _row(key, claim, measured, passed=True):
    theorem = Theorem(key=key, title="t", claim=claim, theory="-", document="d.md", code=(),
                      tests=(), check=lambda ctx: None)
    return report.CheckRow(theorem, CheckResult(passed, measured), 0.0)


def test_table_rows_fit_in_100_columns_with_the_verdict_aligned():
    rows = [_row("short", "a claim", "1.0"),
            _row("a.much.longer.theorem.key.than.the.others.are", "long claim " * 30,
                 "measured " * 20, passed=False),
            _row("mid.key", "x" * 250, "unbreakable" * 12)]
    text = report.table(rows)
    lines = text.splitlines()
    assert all(len(line) <= report.TABLE_WIDTH for line in lines), max(map(len, lines))
    verdict_lines = [line for line in lines if line.endswith((" PASS", " FAIL"))]
    assert len(verdict_lines) == 3
    assert {len(line) for line in verdict_lines} == {report.TABLE_WIDTH}
    # every word of the claim and of the measurement is in the table
    flat = " ".join(lines)
    assert flat.count("long claim") == 30 and "x" * 20 in flat


def test_check_table_from_the_command_fits_and_lists_keys(tmp_path, capsys, monkeypatch):
    # a short relative --out: the summary line quotes the folder, whose length is the user's
    monkeypatch.chdir(tmp_path)
    assert cli.main(["check", "--only", "init.scaling-lemma", "--out", "report"]) == 0
    out = capsys.readouterr().out
    assert all(len(line) <= 100 for line in out.splitlines()), max(out.splitlines(), key=len)
    assert cli.main(["check", "--list"]) == 0
    listing = capsys.readouterr().out
    from lotteryproofs.checks import BUILTIN

    for theorem in BUILTIN:
        assert any(line.split()[:2] == [theorem.key, "lotteryproofs"]
                   for line in listing.splitlines()), theorem.key
    assert all(len(line) <= 100 for line in listing.splitlines())


@pytest.mark.parametrize("seed", ["-1", "1.5", "x"])
def test_bad_seed_is_a_user_error_and_writes_nothing(tmp_path, seed):
    done = subprocess.run([sys.executable, "-m", "lotteryproofs", "check", "--seed", seed,
                           "--only", "init.scaling-lemma", "--out", str(tmp_path / "r")],
                          capture_output=True, text=True, env={**os.environ,
                                                               "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "--seed" in done.stderr and not (tmp_path / "r").exists()


def test_junit_into_a_missing_folder_is_refused_before_any_check(tmp_path, capsys):
    status = cli.main(["check", "--only", "init.scaling-lemma", "--out", str(tmp_path / "r"),
                       "--junit", str(tmp_path / "missing" / "j.xml")])
    assert status == 2
    assert "does not exist" in capsys.readouterr().err and not (tmp_path / "r").exists()


# ------------------------------------------------------------------ JUnit and schemas
def test_junit_structure_report_schema_and_failure_text(tmp_path, capsys, plugin_path):
    import jsonschema

    from lotteryproofs.schemas import schema

    good, bad, crash = _unique("good"), _unique("bad"), _unique("crash")
    plugin_path("kit-junit", {"all": f"{good}:THEOREMS", "bad": f"{bad}:THEOREMS",
                              "crash": f"{crash}:THEOREMS"},
                {good: _plugin_module("kit.good"), bad: _plugin_module("kit.bad", passed=False),
                 crash: _plugin_module("kit.crash", raises=True)})
    junit = tmp_path / "junit.xml"
    status = cli.main(["check", "--only", "init.scaling-lemma", "kit.good", "kit.bad",
                       "kit.crash", "--out", str(tmp_path / "r"), "--junit", str(junit)])
    assert status == 1
    capsys.readouterr()
    root = ET.parse(junit).getroot()
    assert root.tag == "testsuites"
    (suite,) = root.findall("testsuite")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == ["init.scaling-lemma", "kit.good", "kit.bad",
                                              "kit.crash"]
    for node in (root, suite):
        assert (node.get("tests"), node.get("failures"), node.get("errors")) == ("4", "1", "1")
        assert float(node.get("time")) >= 0
    for case in cases:
        assert case.get("classname") and float(case.get("time")) >= 0
    assert cases[0].get("classname") == "lotteryproofs"
    assert cases[1].get("classname") == "kit-junit"
    assert not list(cases[0]) and not list(cases[1])
    (failure,) = cases[2].findall("failure")
    assert "the plugin claim" in failure.get("message") and "value " in failure.get("message")
    assert failure.text.startswith("claim: the plugin claim\nmeasured: value ")
    (error,) = cases[3].findall("error")
    assert "RuntimeError: boom" in error.get("message")
    report_json = json.loads((tmp_path / "r" / "report.json").read_text())
    jsonschema.validate(report_json, schema("report"))
    assert [c["package"] for c in report_json["checks"]] == ["lotteryproofs"] + ["kit-junit"] * 3
    assert [c["crashed"] for c in report_json["checks"]] == [False, False, False, True]


def test_certificate_json_of_construct_and_verify_validates(tmp_path, capsys):
    import jsonschema

    from lotteryproofs.schemas import schema

    cert_schema = schema("certificate")
    jsonschema.Draft202012Validator.check_schema(cert_schema)
    ticket, cert = tmp_path / "t.npz", tmp_path / "c.json"
    assert cli.main(["construct", "random:3-4-2", "--method", "2l", "--eps-param", "0.05",
                     "--rho", "8", "--out", str(ticket), "--json", str(cert)]) == 0
    assert cli.main(["verify", str(ticket), "--target", "random:3-4-2", "--json",
                     str(tmp_path / "v.json")]) == 0
    capsys.readouterr()
    for path in (cert, tmp_path / "v.json"):
        data = json.loads(path.read_text())
        jsonschema.validate(data, cert_schema)
        # the schema is not vacuous: dropping a DESIGN.md key or breaking a type fails it
        broken = json.loads(path.read_text())
        del broken["errors"]["certified_output_error"]
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, cert_schema)
        data["target"]["widths"] = "3-4-2"
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(data, cert_schema)
    extra = {**json.loads(cert.read_text()), "assumptions": ["ReLU between layers"]}
    jsonschema.validate(extra, cert_schema)  # other branches' keys are allowed


# ------------------------------------------------------------------ plugins
def test_plugin_theorem_is_listed_with_its_package_and_runs_under_only(tmp_path, capsys,
                                                                         plugin_path):
    module = _unique("kitplug")
    plugin_path("kit-plugin", {"kit": f"{module}:THEOREMS"},
                {module: _plugin_module("kit.listed")})
    assert cli.main(["check", "--list"]) == 0
    listing = capsys.readouterr().out
    assert any(line.split()[:2] == ["kit.listed", "kit-plugin"] for line in listing.splitlines())
    assert cli.main(["check", "--only", "kit.listed", "--out", str(tmp_path)]) == 0
    report_json = json.loads((tmp_path / "report.json").read_text())
    assert [(c["key"], c["package"]) for c in report_json["checks"]] == [("kit.listed",
                                                                          "kit-plugin")]


def test_example_project_theorem_is_listed_and_runs(tmp_path, capsys, monkeypatch):
    """examples/custom-lemma as pip would install it: its module on sys.path and a dist-info
    carrying the entry point its own pyproject.toml declares."""
    config = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    declared = config["project"]["entry-points"]["lotteryproofs.theorems"]
    folder = _install_fake_distribution(tmp_path / "site", config["project"]["name"], declared)
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.syspath_prepend(str(EXAMPLE))
    assert cli.main(["check", "--list"]) == 0
    listing = capsys.readouterr().out
    assert any(line.split()[:2] == ["custom-lemma.negation-symmetry",
                                    "lotteryproofs-custom-lemma"]
               for line in listing.splitlines()), listing
    status = cli.main(["check", "--only", "custom-lemma.negation-symmetry",
                       "--out", str(tmp_path / "r")])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "custom-lemma.negation-symmetry" in out and "PASS" in out


@pytest.mark.parametrize("kind", ["import", "type", "clash"])
def test_broken_plugin_is_a_plugin_error_not_a_failed_theorem(tmp_path, capsys, plugin_path,
                                                              kind):
    module = _unique("kitbroken")
    source = {"import": "import no_such_module_anywhere\n",
              "type": "THEOREMS = 42\n",
              "clash": _plugin_module("init.scaling-lemma")}[kind]
    plugin_path("kit-broken", {"broken": f"{module}:THEOREMS"}, {module: source})
    from lotteryproofs.checks import registry

    found = registry()
    (error,) = found.errors
    assert error.package == "kit-broken"
    assert {"import": "ModuleNotFoundError", "type": "TypeError",
            "clash": "already registered by lotteryproofs"}[kind] in error.error
    assert found.keys().count("init.scaling-lemma") == 1
    junit = tmp_path / "j.xml"
    status = cli.main(["check", "--only", "init.scaling-lemma", "--out", str(tmp_path / "r"),
                       "--junit", str(junit)])
    out = capsys.readouterr().out
    assert status == check_command.EXIT_PLUGIN_ERROR
    assert "plugin:kit-broken" in out and "ERROR" in out and "FAILED" not in out
    assert "1 of 1 checks passed" in out
    report_json = json.loads((tmp_path / "r" / "report.json").read_text())
    assert report_json["plugin_errors"][0]["package"] == "kit-broken"
    assert not report_json["passed"] and report_json["checks"][0]["passed"]
    errors = ET.parse(junit).getroot().findall("testsuite/testcase/error")
    assert [e.get("type") for e in errors] == ["PluginError"]
    assert cli.main(["check", "--list"]) == check_command.EXIT_PLUGIN_ERROR
    assert "PLUGIN ERROR kit-broken" in capsys.readouterr().out


def test_rows_are_printed_as_each_check_ends_into_a_pipe(tmp_path):
    """A plugin theorem waits until the test releases it: the row of the theorem before it
    must already be readable from the pipe while the command is still running."""
    release = tmp_path / "release"
    folder = _install_fake_distribution(tmp_path / "site", "kit-stream",
                                        {"stream": "kitstream:THEOREMS"}, {"kitstream": """
        import os, time
        from lotteryproofs.theorems import CheckResult, Theorem

        def fast(ctx):
            return CheckResult(True, "at once")

        def wait(ctx):
            deadline = time.monotonic() + 120
            while not os.path.exists(os.environ["KIT_RELEASE"]):
                if time.monotonic() > deadline:
                    return CheckResult(False, "never released")
                time.sleep(0.05)
            return CheckResult(True, "released")

        def record(key, check):
            return Theorem(key=key, title=key, claim=key, theory="-", document="x.md",
                           code=(), tests=(), check=check)

        THEOREMS = (record("kit.fast", fast), record("kit.wait", wait))
    """})
    env = {**os.environ, "PYTHONPATH": f"{folder}{os.pathsep}{ROOT}",
           "KIT_RELEASE": str(release)}
    proc = subprocess.Popen([sys.executable, "-m", "lotteryproofs", "check", "--only",
                             "kit.fast", "kit.wait", "--out", str(tmp_path / "r")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if line.startswith("kit.fast"):
                break
        assert seen and seen[-1].startswith("kit.fast") and "PASS" in seen[-1], seen
        assert proc.poll() is None  # still waiting in kit.wait: the row was streamed
    finally:
        release.touch()
        rest, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "kit.wait" in rest and "2 of 2 checks passed" in rest
