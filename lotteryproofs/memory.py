"""Memory estimates of the long commands, stage by stage, checked before anything is allocated.

A command asks :func:`check` with the stages it will run; the estimate is the largest
cumulative peak over the stages (what is alive at that moment), and a size above the limit
(:data:`lotteryproofs._validate.DEFAULT_MEMORY_LIMIT_BYTES`, environment variable
``LOTTERYPROOFS_MEMORY_LIMIT``) is refused with the number and the stage that needs it.

The coefficients count float64 copies of the source network (``8·n_source`` bytes each) and
were read off the peak resident size of the paper's LeNet-300-100 at ρ = 60 (59.0 M source
parameters, ``/usr/bin/time -v``): 1.8 GB after the construction, 3.1 GB after the
certificate, 4.6 GB for the whole ``construct --out --json`` command; the batch term off a
dense 64-64-32-10 target at ρ = 60. Each coefficient rounds its measurement up, so the
estimate is an upper bound in practice (the stages' terms are added although they do not all
coexist); tests/test_construct_cli.py checks its array part against the traced peak
(tracemalloc) of a construction, which unlike the resident size does not depend on the numpy
build or on whether numba compiles (a fresh virtual environment measured 1.7 GB resident where
a warm one measured 0.8 GB for the same command).
"""

from __future__ import annotations

from dataclasses import dataclass

from lotteryproofs import _validate

#: bytes of one float64 parameter
_F64 = 8.0
#: interpreter, numpy, numba and sympy loaded: what any command holds before its own arrays
#: (peak resident size of construct random:3-4-2 --json: 0.21 GB with numba's cache warm,
#: 0.33 GB when it compiles first)
BASELINE_BYTES = 0.4 * 2**30
#: float64 copies of the source alive at each stage's peak (see the module docstring)
SOURCE_COPIES = {
    "source": 4.5,       # He-scaled draw, its temporaries, the unit-scale copy, the masks
    "observed": 5.5,     # + the masked network f_S the observed error runs on
    "certificate": 10.5,  # + the read-back layers and interval bounds of the certificate
    "save": 6.0,         # the ticket's arrays and their serialised bytes, twice
}
#: per RSS candidate of the largest batch (ρ² per nonzero target weight): values, neuron ids,
#: chosen flags and the search's own tables; on a dense 64-64-32-10 target at ρ = 60 the
#: traced peak (tracemalloc: numpy buffers and Python objects) is 0.63 GB, i.e. about 43 bytes
#: per candidate, rounded up
BATCH_BYTES_PER_CANDIDATE = 50.0


@dataclass(frozen=True)
class Estimate:
    """Peak bytes per stage (cumulative, what is alive then) and the largest of them."""

    stages: dict

    @property
    def peak(self) -> float:
        return max(self.stages.values())

    @property
    def worst_stage(self) -> str:
        return max(self.stages, key=self.stages.get)


def n_params(widths) -> int:
    """Σ_l (n_{l−1}·n_l + n_l): weights and biases of a network with these widths."""
    widths = [int(w) for w in widths]
    return sum(a * b + b for a, b in zip(widths[:-1], widths[1:], strict=True))


def target_bytes(widths) -> float:
    """A target held as float64 (the drawn or read arrays and the Network's own copy)."""
    return 2 * _F64 * n_params(widths)


def construct_estimate(target_widths, source_widths, rho: int, *, max_nonzero: int | None = None,
                       certify: bool = False, save: bool = False) -> Estimate:
    """Stages of ``construct``: target, source + largest RSS batch, observed error,
    certificate (``certify``), writing the ticket (``save``).

    ``max_nonzero`` is the largest number of nonzero weights of one target layer (default:
    the dense count); a batch holds ρ² candidates per such weight (construct._estimate_bytes).
    """
    target = BASELINE_BYTES + target_bytes(target_widths)
    copy = _F64 * n_params(source_widths)
    if max_nonzero is None:
        max_nonzero = max(a * b for a, b in zip(target_widths[:-1], target_widths[1:],
                                                strict=True))
    batch = BATCH_BYTES_PER_CANDIDATE * max_nonzero * rho * rho
    stages = {"target": target,
              "source and subset-sum batches": target + SOURCE_COPIES["source"] * copy + batch,
              "observed error": target + SOURCE_COPIES["observed"] * copy}
    if certify:
        stages["certificate"] = target + SOURCE_COPIES["certificate"] * copy
    if save:
        stages["ticket file"] = target + SOURCE_COPIES["save"] * copy
    return Estimate(stages)


def verify_estimate(ticket_file_bytes: int) -> Estimate:
    """Stages of ``verify``: the ticket read (its file is ≈ one float64 source copy plus the
    masks, so its size stands for one copy) and the certificate."""
    copy = float(ticket_file_bytes)
    return Estimate({
        "ticket": BASELINE_BYTES + 2 * copy,
        "certificate": BASELINE_BYTES + SOURCE_COPIES["certificate"] * copy,
    })


def check(estimate: Estimate, what: str, *, limit: int | None = None) -> None:
    """Refuse, with the number and the stage, an estimate above the memory limit."""
    _validate.fits_in_memory(estimate.peak, f"{what} ({estimate.worst_stage} stage)",
                             limit=limit)


# --------------------------------------------------------------------- the commands' calls
def check_target_spec(spec: str, *, method: str, rho: int | None, certify: bool,
                      save: bool) -> None:
    """Before a built-in random target is drawn: its own size and, with ρ given, every stage."""
    from lotteryproofs import targets

    if not str(spec).startswith(targets.RANDOM_PREFIX):
        return  # a file or a shipped target: already a size that exists on disk
    widths, _ = targets.parse_random_name(str(spec))
    if rho is None:
        estimate = Estimate({"target": BASELINE_BYTES + target_bytes(widths)})
    else:
        from lotteryproofs.construct import source_widths

        estimate = construct_estimate(widths, source_widths(method, widths, rho), rho,
                                      certify=certify, save=save)
    check(estimate, f"construct {spec} --method {method}"
          + (f" --rho {rho}" if rho is not None else ""))


def check_construct(target, method: str, source_widths, rho: int, *, certify: bool,
                    save: bool, source_allocated: bool = False) -> None:
    """Every stage of ``construct`` for a loaded target (``source_allocated``: the source
    exists already, ρ came from the a-priori bound; the later stages are still checked)."""
    import numpy as np

    nnz = max(int(np.count_nonzero(w)) for w in target.weights)
    estimate = construct_estimate(target.widths, source_widths, rho, max_nonzero=nnz,
                                  certify=certify, save=save)
    if source_allocated:
        estimate = Estimate({k: v for k, v in estimate.stages.items()
                             if k not in ("target", "source and subset-sum batches")})
    check(estimate, f"the {method} construction with ρ = {rho} (source widths "
          f"{list(source_widths)[:4]}{'…' if len(source_widths) > 4 else ''})")


def check_verify(ticket_path) -> None:
    """Before a ticket file is read: its size and the certificate."""
    import os

    try:
        size = os.path.getsize(ticket_path)
    except OSError:
        return  # a missing file is reported by the reader, with its own message
    check(verify_estimate(size), f"verify {ticket_path}")
