"""Memory estimates of the long commands, stage by stage, checked before anything is allocated.

A command asks :func:`check` with the stages it will run; the estimate is the largest
cumulative peak over the stages (what is alive at that moment), and a size above the limit
(:data:`lotteryproofs._validate.DEFAULT_MEMORY_LIMIT_BYTES`, environment variable
``LOTTERYPROOFS_MEMORY_LIMIT``) is refused with the number and the stage that needs it.

The stages are those of the streamed pipeline (THEORY.md §10): the source is drawn value by
value where the construction reads it and never held whole (a tiled scheme), the subset sums
are solved in blocks (:func:`lotteryproofs.construct.common.construction_bytes` bounds the
construction), and the ticket holds only its support — the kept parameters on the neurons
they touch, stored dense, so at most one float64 value and one bool mask per source
parameter. The observed error, the certificate and the ticket file work on that support and
on target-sized represented layers; their coefficients count float64 copies of the support
(bounded by the source, ``8·n_source`` bytes) and round up the peaks measured stage by stage
by benchmarks/bench_stream.py (dense 784-125-125-10 and 784-1000-1000-10 targets at ρ = 40:
the certificate held 3.9 and 4.5 copies of the support beside it). Each term is an upper
bound (the support is never larger than the source, every pool at most MAX_SEARCHED long,
MAX_SEARCHED_CARD for bounded-gain copy pools);
tests/test_memory_stream.py checks the array part against the traced peak (tracemalloc) of
the whole command at several sizes, which unlike the resident size does not depend on the
numpy build or on whether numba compiles.
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
#: the support ticket: ≤ one float64 value and one bool mask per source parameter
SUPPORT_BYTES_PER_PARAM = 9.0
#: float64 copies of the support alive, beside the support itself, at each later stage's peak
SUPPORT_COPIES = {
    "sampled error": 2.0,  # the packed sparse layers (values and indices) and a batch's activations
    "certificate": 5.0,    # unit-scale and |θ| read-backs and their temporaries (measured 4.5)
    "ticket file": 2.0,    # the kept arrays and their deflated bytes
}

#: inputs evaluated at once by the sampled error and the certificate's observed search (10⁴
#: samples), and float64 activations per input and target neuron alive while they run (the
#: samples, the target's and the read-back network's activations, their difference; the
#: traced peak of 30-20-5, 64-24-4 and 100-50-50-10 targets needed 2.7, 2.5 and 1.6)
SAMPLE_ROWS = 10_000
SAMPLE_COPIES = 4.0


def _sample_bytes(target_widths) -> float:
    return SAMPLE_ROWS * SAMPLE_COPIES * _F64 * sum(int(n) for n in target_widths)


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


def construct_estimate(target_widths, source_widths, rho: int, *, nonzeros=None,
                       copies: bool = False, tiled: bool = True, certify: bool = False,
                       save: bool = False, wide: bool = False) -> Estimate:
    """Stages of ``construct``: target, construction (blocks of subset sums), sampled error,
    certificate (``certify``), writing the ticket (``save``).

    ``nonzeros`` are the nonzero weights per target layer (default: dense); ``copies``: the
    construction has ρ copies per target neuron (L+1 family); ``tiled``: the source's scheme
    is drawn value by value; ``wide``: bounded-gain pools, searched up to
    common.MAX_SEARCHED_CARD candidates.
    """
    from lotteryproofs.construct import common

    target_widths = [int(n) for n in target_widths]
    if nonzeros is None:
        nonzeros = [a * b for a, b in zip(target_widths[:-1], target_widths[1:], strict=True)]
    n_inst = common.instance_bound(target_widths, nonzeros, int(rho) if copies else 1)
    n_source = n_params(source_widths)
    n_weights = sum(int(a) * int(b) for a, b in zip(source_widths[:-1], source_widths[1:],
                                                    strict=True))
    target = BASELINE_BYTES + target_bytes(target_widths)
    ticket = (target + SUPPORT_BYTES_PER_PARAM * n_source
              + common.log_bytes(n_inst, min(n_inst * min(int(rho), common.MAX_SEARCHED),
                                             n_weights)))
    stages = {"target": target,
              "construction": target + common.construction_bytes(source_widths, n_inst, rho,
                                                                 tiled=tiled, wide=wide),
              "sampled error": ticket + SUPPORT_COPIES["sampled error"] * _F64 * n_source
              + _sample_bytes(target_widths)}
    if certify:
        stages["certificate"] = (ticket + SUPPORT_COPIES["certificate"] * _F64 * n_source
                                 + _sample_bytes(target_widths))
    if save:
        stages["ticket file"] = ticket + SUPPORT_COPIES["ticket file"] * _F64 * n_source
    return Estimate(stages)


def method_estimate(method: str, target_widths, source_widths, rho: int, *, nonzeros=None,
                    init: str | None = None, certify: bool, save: bool) -> Estimate:
    """:func:`construct_estimate` for a registered method and scheme (its copies, whether its
    scheme is tiled)."""
    from lotteryproofs.construct.registry import get_construction
    from lotteryproofs.init import SCHEMES

    construction = get_construction(method)
    scheme = construction.resolve_init(init)
    return construct_estimate(target_widths, source_widths, rho, nonzeros=nonzeros,
                              copies=construction.bound.copies, tiled=SCHEMES[scheme].tiled,
                              certify=certify, save=save, wide=construction.bound.bounded_gain)


def verify_estimate(ticket_file_bytes: int) -> Estimate:
    """Stages of ``verify``: the ticket read (its file is ≈ one float64 copy of what it holds
    plus the masks, so its size stands for one copy) and the certificate. A compact ticket's
    file is deflated and smaller than the support it expands to: this undercounts it."""
    copy = float(ticket_file_bytes)
    return Estimate({
        "ticket": BASELINE_BYTES + 2 * copy,
        "certificate": BASELINE_BYTES + (2 + SUPPORT_COPIES["certificate"]) * copy,
    })


def check(estimate: Estimate, what: str, *, limit: int | None = None) -> None:
    """Refuse, with the number and the stage, an estimate above the memory limit."""
    _validate.fits_in_memory(estimate.peak, f"{what} ({estimate.worst_stage} stage)",
                             limit=limit)


# --------------------------------------------------------------------- the commands' calls
def check_target_spec(spec: str, *, method: str, rho: int | None, certify: bool,
                      save: bool, init: str | None = None) -> None:
    """Before a built-in random target is drawn: its own size and, with ρ given, every stage."""
    from lotteryproofs import targets

    if not str(spec).startswith(targets.RANDOM_PREFIX):
        return  # a file or a shipped target: already a size that exists on disk
    widths, _ = targets.parse_random_name(str(spec))
    if rho is None:
        estimate = Estimate({"target": BASELINE_BYTES + target_bytes(widths)})
    else:
        from lotteryproofs.construct import source_widths

        estimate = method_estimate(method, widths, source_widths(method, widths, rho), rho,
                                   init=init, certify=certify, save=save)
    check(estimate, f"construct {spec} --method {method}"
          + (f" --rho {rho}" if rho is not None else ""))


def check_construct(target, method: str, source_widths, rho: int, *, certify: bool,
                    save: bool, source_allocated: bool = False, init: str | None = None) -> None:
    """Every stage of ``construct`` for a loaded target (``source_allocated``: the source
    exists already, ρ came from the a-priori bound; the later stages are still checked)."""
    import numpy as np

    nnz = [int(np.count_nonzero(w)) for w in target.weights]
    estimate = method_estimate(method, target.widths, source_widths, rho, nonzeros=nnz,
                               init=init, certify=certify, save=save)
    if source_allocated:
        estimate = Estimate({k: v for k, v in estimate.stages.items()
                             if k not in ("target", "construction")})
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
