"""Run the registered checks and write what they found (``lotteryproofs check``).

A check that raises is a failed row carrying the exception, never a crash of the whole run; a
plugin that did not load is its own kind of row (:class:`~lotteryproofs.checks.PluginError`),
never a failed theorem. Outputs: a text table that fits in :data:`TABLE_WIDTH` columns and is
printed row by row as the checks end, report.md, report.json (schema
lotteryproofs/schemas/report.schema.json) and JUnit XML for CI dashboards.
"""

from __future__ import annotations

import textwrap
import time
import traceback
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from lotteryproofs import io
from lotteryproofs._version import __version__
from lotteryproofs.checks import registry
from lotteryproofs.theorems import CheckContext, CheckResult, Theorem, check_seed, theorem_rng

#: Every line of the text table fits in this many columns.
TABLE_WIDTH = 100
#: Width of the verdict column: its header; verdicts (PASS, FAIL, ERROR) are right-aligned.
VERDICT_WIDTH = len("verdict")
#: The key column is at most this wide; longer keys take a line of their own.
KEY_WIDTH_MAX = 32


@dataclass(frozen=True)
class CheckRow:
    """One theorem's outcome; ``crashed`` says the check raised instead of returning."""

    theorem: Theorem
    result: CheckResult
    seconds: float
    crashed: bool = False


def _crash(exc: BaseException, text: str) -> CheckResult:
    return CheckResult(passed=False, measured=f"check raised {type(exc).__name__}: {exc}",
                       details={"traceback": text})


def _run_one(theorem: Theorem, seed: int, thorough: bool) -> tuple[CheckResult, float, bool]:
    """One check with the context every run gives it: the theorem's own stream of ``seed``."""
    start = time.perf_counter()
    try:
        result = theorem.check(CheckContext(rng=theorem_rng(seed, theorem.key),
                                            thorough=thorough))
        if not isinstance(result, CheckResult):
            raise TypeError(f"check returned {type(result).__name__}, not CheckResult")
    except Exception as exc:  # a crashing check is a failed check, reported with its cause
        return _crash(exc, traceback.format_exc()), time.perf_counter() - start, True
    return result, time.perf_counter() - start, False


def _run_registered(task: tuple[str, int, bool]) -> tuple[CheckResult, float, bool]:
    """A worker process's block: the registered theorem ``key`` (found again in the worker's
    own registry, since a check function need not be importable by name), run by
    :func:`_run_one`."""
    key, seed, thorough = task
    by_key = {t.key: t for t in registry().theorems}
    if key not in by_key:
        raise RuntimeError(f"theorem {key!r} is not registered in a worker process")
    return _run_one(by_key[key], seed, thorough)


def iter_checks(theorems: Sequence[Theorem], *, seed: int = 0, thorough: bool = False,
                executor=None) -> Iterator[CheckRow]:
    """Run the checks of ``theorems``, yielding the rows in the order of ``theorems``, each as
    soon as it and every row before it have ended.

    With an ``executor`` of more than one worker (lotteryproofs.executor), the checks run in
    its processes, each found again by key in the worker's registry (so ``theorems`` must be
    registered ones). A check's result depends only on ``seed``, its key and ``thorough``
    (its context), not on where it runs.
    """
    seed = check_seed(seed)
    theorems = list(theorems)
    if executor is None or executor.workers == 1:
        for theorem in theorems:
            yield CheckRow(theorem, *_run_one(theorem, seed, thorough))
        return
    registered = {t.key: t for t in registry().theorems}
    foreign = [t.key for t in theorems if registered.get(t.key) != t]
    if foreign:
        raise ValueError(f"only registered theorems run in worker processes, not {foreign}")
    batch = executor.submit(_run_registered, [(t.key, seed, thorough) for t in theorems])
    done: dict[int, CheckRow] = {}
    following = 0
    for position, value, error in executor.collect(batch):
        if error is not None:  # the worker itself failed (killed, out of memory)
            value = (_crash(error, "".join(traceback.format_exception(error))), 0.0, True)
        done[position] = CheckRow(theorems[position], *value)
        while following in done:
            yield done.pop(following)
            following += 1


def run_checks(*, seed: int = 0, thorough: bool = False, only=None) -> list[CheckRow]:
    """Run every registered check (or those whose key is in ``only``)."""
    theorems = [t for t in registry().theorems if only is None or t.key in only]
    return list(iter_checks(theorems, seed=seed, thorough=thorough))


# ------------------------------------------------------------------ the text table
def key_width(keys: Iterable[str]) -> int:
    """The key column's width for these keys (fixed before any check runs, so rows stream)."""
    return min(KEY_WIDTH_MAX, max([len("theorem"), *(len(k) for k in keys)]))


def _text_width(kw: int) -> int:
    return TABLE_WIDTH - kw - 2 - 2 - VERDICT_WIDTH


def table_header(kw: int) -> str:
    text = f"{'claim / measured':<{_text_width(kw)}}"
    head = f"{'theorem':<{kw}}  {text}  {'verdict':>{VERDICT_WIDTH}}"
    return head.rstrip() + "\n" + "-" * TABLE_WIDTH


def _row_lines(kw: int, key: str, text_blocks: Sequence[str], verdict: str) -> str:
    """Key, wrapped text blocks and the verdict right-aligned on the row's first line."""
    width = _text_width(kw)
    lines = []
    for block in text_blocks:
        lines += textwrap.wrap(block, width, break_long_words=True, break_on_hyphens=False) or [""]
    lines = lines or [""]
    out = []
    if len(key) > kw:  # an over-long key gets its own line; the verdict stays in its column
        out.append(key)
        key = ""
    out.append(f"{key:<{kw}}  {lines[0]:<{width}}  {verdict:>{VERDICT_WIDTH}}")
    out += [f"{'':<{kw}}  {line}".rstrip() for line in lines[1:]]
    return "\n".join(out)


def verdict(row: CheckRow) -> str:
    return "PASS" if row.result.passed else "FAIL"


def table_row(row: CheckRow, kw: int) -> str:
    """One theorem: its claim, then "measured: …", wrapped; the verdict in the last column."""
    return _row_lines(kw, row.theorem.key, (row.theorem.claim, f"measured: {row.result.measured}"),
                      verdict(row))


def plugin_error_row(error, kw: int) -> str:
    return _row_lines(kw, error.key, (f"plugin did not load: {error.entry_point}",
                                      error.error), "ERROR")


def table(rows: list[CheckRow], errors: Sequence = ()) -> str:
    """The whole table at once (the command prints it row by row instead)."""
    kw = key_width([r.theorem.key for r in rows] + [e.key for e in errors])
    parts = [table_header(kw)] + [plugin_error_row(e, kw) for e in errors]
    parts += [table_row(r, kw) for r in rows]
    return "\n".join(parts)


def listing(theorems: Sequence[Theorem], errors: Sequence = ()) -> str:
    """``check --list``: key, package and title of every theorem, then the broken plugins."""
    kw = key_width([t.key for t in theorems])
    pw = max([len("package"), *(len(t.package) for t in theorems)])
    tw = max(20, TABLE_WIDTH - kw - pw - 4)
    lines = [f"{'theorem':<{kw}}  {'package':<{pw}}  title", "-" * TABLE_WIDTH]
    for t in theorems:
        key = t.key
        if len(key) > kw:
            lines.append(key)
            key = ""
        title = textwrap.wrap(t.title, tw) or [""]
        lines.append(f"{key:<{kw}}  {t.package:<{pw}}  {title[0]}".rstrip())
        lines += [" " * (kw + pw + 4) + extra for extra in title[1:]]
    for e in errors:
        lines += textwrap.wrap(f"PLUGIN ERROR {e.package} ({e.entry_point}): {e.error}",
                               TABLE_WIDTH, subsequent_indent="    ")
    return "\n".join(lines)


# ------------------------------------------------------------------ report files
def markdown(rows: list[CheckRow], *, seed: int, thorough: bool, errors: Sequence = ()) -> str:
    lines = [
        "# lotteryproofs check report",
        "",
        f"lotteryproofs {__version__}, seed {seed}, {'thorough' if thorough else 'default'} run: "
        f"{sum(r.result.passed for r in rows)} of {len(rows)} checks passed.",
        "",
    ]
    if errors:
        lines += ["Plugins that did not load (their theorems were not run):", ""]
        lines += [f"- **{e.package}** (`{e.entry_point}`): {e.error}" for e in errors]
        lines.append("")
    lines += [
        "| theorem | package | claim | THEORY.md | measured | verdict | proof | seconds |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r.theorem
        lines.append(
            f"| `{t.key}` | {t.package} | {t.claim} | {t.theory} | {r.result.measured} | "
            f"{'PASS' if r.result.passed else '**FAIL**'} | {t.document} | {r.seconds:.2f} |"
        )
    return "\n".join(lines) + "\n"


def as_json(rows: list[CheckRow], *, seed: int, thorough: bool, errors: Sequence = ()) -> dict:
    """report.json (lotteryproofs/schemas/report.schema.json)."""
    return {
        "version": __version__,
        "seed": seed,
        "thorough": thorough,
        "passed": all(r.result.passed for r in rows) and not errors,
        "checks": [
            {
                "key": r.theorem.key,
                "package": r.theorem.package,
                "title": r.theorem.title,
                "claim": r.theorem.claim,
                "theory": r.theorem.theory,
                "document": r.theorem.document,
                "passed": r.result.passed,
                "crashed": r.crashed,
                "measured": r.result.measured,
                "details": dict(r.result.details),
                # wall time is reported in the table only: the JSON stays byte-identical per seed
            }
            for r in rows
        ],
        "plugin_errors": [
            {"package": e.package, "entry_point": e.entry_point, "error": e.error}
            for e in errors
        ],
    }


def junit_xml(rows: list[CheckRow], *, seed: int, errors: Sequence = ()) -> bytes:
    """JUnit XML as CI dashboards read it: <testsuites><testsuite><testcase>, one test case
    per theorem (classname = its package, name = its key), <failure> for a failed verdict
    (text: claim and measured value), <error> for a check that raised and for a plugin that
    did not load."""
    n_fail = sum(not r.result.passed and not r.crashed for r in rows)
    n_error = sum(r.crashed for r in rows) + len(errors)
    total = f"{sum(r.seconds for r in rows):.3f}"
    counts = {"tests": str(len(rows) + len(errors)), "failures": str(n_fail),
              "errors": str(n_error), "skipped": "0", "time": total}
    suites = ET.Element("testsuites", {"name": "lotteryproofs check", **counts})
    suite = ET.SubElement(suites, "testsuite", {"name": "lotteryproofs check", **counts})
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "seed", "value": str(seed)})
    ET.SubElement(props, "property", {"name": "version", "value": __version__})
    for e in errors:
        case = ET.SubElement(suite, "testcase", {"name": e.key, "classname": e.package,
                                                 "time": "0.000"})
        node = ET.SubElement(case, "error", {"type": "PluginError",
                                             "message": f"plugin did not load: {e.error}"})
        node.text = f"entry point {e.entry_point}\n{e.error}"
    for r in rows:
        t = r.theorem
        case = ET.SubElement(suite, "testcase", {"name": t.key, "classname": t.package,
                                                 "file": t.document, "time": f"{r.seconds:.3f}"})
        if r.result.passed:
            continue
        text = f"claim: {t.claim}\nmeasured: {r.result.measured}"
        if r.crashed:
            node = ET.SubElement(case, "error", {"type": "CheckRaised",
                                                 "message": r.result.measured})
            node.text = text + "\n\n" + str(r.result.details.get("traceback", ""))
        else:
            node = ET.SubElement(case, "failure", {"type": "TheoremFailed",
                                                   "message": f"{t.claim} — measured: "
                                                              f"{r.result.measured}"})
            node.text = text
    ET.indent(suites)
    return ET.tostring(suites, encoding="utf-8", xml_declaration=True) + b"\n"


def write_report(rows: list[CheckRow], folder, *, seed: int, thorough: bool,
                 errors: Sequence = ()) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    io.write_bytes_atomic(folder / "report.md",
                          markdown(rows, seed=seed, thorough=thorough, errors=errors).encode())
    io.write_json_atomic(folder / "report.json",
                         as_json(rows, seed=seed, thorough=thorough, errors=errors))


def write_junit(rows: list[CheckRow], path, *, seed: int, errors: Sequence = ()) -> None:
    io.write_bytes_atomic(Path(path), junit_xml(rows, seed=seed, errors=errors))
