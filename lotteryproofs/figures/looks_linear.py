"""Figure ``looks_linear``: RSS failure of sign-split vs paired pools; Jacobian spectra."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from lotteryproofs.init import draw_network
from lotteryproofs.laws import get_law
from lotteryproofs.rss import closest_subset_sum_batch
from lotteryproofs.stats import clopper_pearson

_POOLS = {"sign-split": "sign-split pool (2L)",
          "looks-linear": "paired pool (looks-linear)"}
_SPECTRA = (
    ("normal", {}, "standard (He normal, product-rule biases)"),
    ("looks-linear", {"law": "normal", "weights": "iid"}, "looks-linear, i.i.d. blocks"),
    ("looks-linear", {"law": "normal", "weights": "orthogonal"}, "looks-linear, orthogonal"),
)


def failure_rate(pool: str, n: int, eps: float, trials: int, rng):
    """Failures and trials of one RSS instance per trial: ``trials`` pools of ``pool`` drawn
    from ``n`` source candidates, each asked for a target z ~ U[-1, 1] within ``eps``."""
    batch = get_law(pool).sample_pools(rng, n, trials)
    targets = rng.uniform(-1.0, 1.0, trials)
    # usable candidates first; a pool with none is searched as {0} (same sums as ∅)
    order = np.argsort(~batch.usable, axis=1, kind="stable")
    values = np.take_along_axis(batch.values, order, axis=1)
    lengths = np.maximum(batch.sizes, 1)
    result = closest_subset_sum_batch(values, targets, lengths=lengths, tol=eps, prefix=True)
    return int(np.count_nonzero(~result.feasible)), trials


def figure_looks_linear(*, rng, quick: bool) -> Figure:
    """Looks-linear sources (THEORY.md §2, §4.2).

    (a) Probability that one random-subset-sum instance fails (closest subset sum farther
    than ε' from a target z ~ U[-1, 1]) against the number n of source candidates of the
    block, for the 2L construction's sign-split pool (the v·u with u > 0: Binomial(n, ½)
    values) and the looks-linear paired pool (exactly n/2 values), with 95 % Clopper–Pearson
    bands. (b) Singular values of the input–output Jacobian at a random input x ~ U[-1, 1]^32
    of sources of widths 32-64×9-32 (depth 10) at initialisation, one line per draw.

    Data: :meth:`lotteryproofs.laws.Law.sample_pools` (laws ``sign-split``,
    ``looks-linear``) solved exactly by :func:`lotteryproofs.rss.closest_subset_sum_batch`,
    ε' ∈ {1e-2, 1e-3} on the same pools and targets, n = 8, 12, …, 60, 10 000 trials per point
    (quick: ε' = 1e-2, n = 8, 16, …, 40, 500 trials); :func:`lotteryproofs.init.draw_network`
    schemes ``normal`` and ``looks-linear`` (normal law, i.i.d. and orthogonal blocks,
    independent biases), 8 draws each (quick: 2).
    Seed: the figure's generator (``lotteryproofs figures --seed S``, default 0).
    Command: ``lotteryproofs figures --only looks_linear``.
    """
    if quick:
        eps_values, sizes, trials, draws = (1e-2,), range(8, 41, 8), 500, 2
    else:
        eps_values, sizes, trials, draws = (1e-2, 1e-3), range(8, 61, 4), 10000, 8
    fig = Figure(figsize=(7.5, 3.2))
    left, right = fig.subplots(1, 2)
    pool_rng, net_rng = rng.spawn(2)

    styles = {1e-2: "-", 1e-3: ":"}
    for i, (pool, label) in enumerate(_POOLS.items()):
        # one generator per pool size, reused for every ε': the same pools and targets, so a
        # smaller ε' can only fail more often (common random numbers)
        seeds = [int(s) for s in pool_rng.integers(2**63, size=len(sizes))]
        for eps in eps_values:
            counts = [failure_rate(pool, n, eps, trials, np.random.default_rng(seed))
                      for n, seed in zip(sizes, seeds, strict=True)]
            rate = np.array([f / t for f, t in counts])
            bands = np.array([clopper_pearson(f, t) for f, t in counts])
            n = np.array(list(sizes))
            shown = rate > 0  # a zero estimate has no place on a log axis; its band does
            left.plot(n[shown], rate[shown], styles[eps], marker="o", color=f"C{i}",
                      label=f"{label}, ε' = {eps:g}")
            left.fill_between(n, np.maximum(bands[:, 0], 0.5 / trials), bands[:, 1],
                              color=f"C{i}", alpha=0.18, linewidth=0)
    left.set(yscale="log", xlabel="source candidates per block n",
             ylabel="P(one RSS instance fails)", ylim=(0.3 / trials, 1.3),
             title="(a) RSS failure, target z ~ U[-1, 1]")
    left.legend(loc="lower left")

    widths = [32] + [64] * 9 + [32]
    for i, (scheme, options, label) in enumerate(_SPECTRA):
        for d in range(draws):
            network = draw_network(scheme, widths, rng=net_rng, **options)
            x = net_rng.uniform(-1.0, 1.0, widths[0])
            singular = np.linalg.svd(network.input_jacobian(x), compute_uv=False)
            right.plot(np.arange(1, singular.size + 1), singular, color=f"C{i}",
                       linewidth=1.0, alpha=0.8, label=label if d == 0 else None)
    right.set(yscale="log", xlabel="index $k$ (descending)", ylabel="singular value $s_k$ of ∂f/∂x",
              title=f"(b) Jacobian at initialisation, depth {len(widths) - 1}")
    right.legend(loc="center left")
    return fig
