"""Run the registered checks and write the report (``lotteryproofs check``).

A check that raises is a failed row carrying the exception, never a crash of the whole run.
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from lotteryproofs import io
from lotteryproofs._version import __version__
from lotteryproofs.progress import progress
from lotteryproofs.theorems import CheckContext, CheckResult, Theorem, registry, theorem_rng


@dataclass(frozen=True)
class CheckRow:
    theorem: Theorem
    result: CheckResult
    seconds: float


def run_checks(*, seed: int = 0, thorough: bool = False, only=None) -> list[CheckRow]:
    """Run every registered check (or those whose key is in ``only``)."""
    theorems = [t for t in registry() if only is None or t.key in only]
    rows = []
    for theorem in progress(theorems, desc="check"):
        start = time.perf_counter()
        try:
            result = theorem.check(CheckContext(rng=theorem_rng(seed, theorem.key), thorough=thorough))
            if not isinstance(result, CheckResult):
                raise TypeError(f"check returned {type(result).__name__}, not CheckResult")
        except Exception as exc:  # a crashing check is a failed check, reported with its cause
            result = CheckResult(
                passed=False,
                measured=f"check raised {type(exc).__name__}: {exc}",
                details={"traceback": traceback.format_exc()},
            )
        rows.append(CheckRow(theorem, result, time.perf_counter() - start))
    return rows


def table(rows: list[CheckRow]) -> str:
    """A plain-text table: theorem, claim, measured, verdict."""
    header = ("theorem", "claim", "measured", "verdict")
    lines = [(r.theorem.key, r.theorem.title, r.result.measured,
              "PASS" if r.result.passed else "FAIL") for r in rows]
    widths = [max(len(h), *(len(line[i]) for line in lines)) if lines else len(h)
              for i, h in enumerate(header)]
    widths[2] = min(widths[2], 70)
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*line) for line in lines]
    return "\n".join(out)


def markdown(rows: list[CheckRow], *, seed: int, thorough: bool) -> str:
    lines = [
        "# lotteryproofs check report",
        "",
        f"lotteryproofs {__version__}, seed {seed}, {'thorough' if thorough else 'default'} run: "
        f"{sum(r.result.passed for r in rows)} of {len(rows)} checks passed.",
        "",
        "| theorem | claim | THEORY.md | measured | verdict | proof | seconds |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        t = r.theorem
        lines.append(
            f"| `{t.key}` | {t.claim} | {t.theory} | {r.result.measured} | "
            f"{'PASS' if r.result.passed else '**FAIL**'} | {t.document} | {r.seconds:.2f} |"
        )
    return "\n".join(lines) + "\n"


def as_json(rows: list[CheckRow], *, seed: int, thorough: bool) -> dict:
    return {
        "version": __version__,
        "seed": seed,
        "thorough": thorough,
        "passed": all(r.result.passed for r in rows),
        "checks": [
            {
                "key": r.theorem.key,
                "title": r.theorem.title,
                "claim": r.theorem.claim,
                "theory": r.theorem.theory,
                "document": r.theorem.document,
                "passed": r.result.passed,
                "measured": r.result.measured,
                "details": dict(r.result.details),
                # wall time is reported in the table only: the JSON stays byte-identical per seed
            }
            for r in rows
        ],
    }


def write_report(rows: list[CheckRow], folder, *, seed: int, thorough: bool) -> None:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    io.write_bytes_atomic(folder / "report.md", markdown(rows, seed=seed, thorough=thorough).encode())
    io.write_json_atomic(folder / "report.json", as_json(rows, seed=seed, thorough=thorough))
