"""Monte Carlo estimates of the random-subset-sum constants the proofs leave open (THEORY.md §3).

For an RSS law (laws.py), an accuracy ε', a failure probability δ and an interval I = [lo, hi]:

    p(n) = P(every z ∈ I has a subset S of the pool with |z − Σ_S X| <= ε')   (exact coverage
           certificate, rss.coverage_certificate)
    q(n) = P(one target z ~ U(I) has such a subset)                           (the same
           certificate's gaps; the exact closest subset sum near a gap's end)

with two-sided Clopper–Pearson intervals (stats.py), the smallest n whose lower limit of p(n)
reaches 1 − δ (``n_required``), C = n_required / ln(1/min(ε', δ)) and the counting limit
log₂(|I|/(2ε')) (= log₂(1/ε') on [-1, 1]; THEORY.md §3, "Counting lower bound"). See
proofs/constants-table.md and proofs/lueker.md.

Sampling design. Trials are grouped in blocks of :data:`BLOCK_TRIALS`; block b draws from the
SeedSequence child b of the root seed a pool of :data:`CANDIDATE_CAPACITY` source candidates per
trial and one target, so the draws never depend on n, on n_max or on the number of workers.
The pool of size n is the first n candidates (nested pools): coverage and single-target success
are monotone in n for each trial, so every n reuses the same draws and p(n), q(n) are
non-decreasing by construction. The scan over n stops at the first n whose lower limit reaches
1 − δ (or at n_max); a trial is re-solved only while it has not yet succeeded.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import asdict, dataclass, field

import numpy as np

from lotteryproofs import _validate, stats
from lotteryproofs._limits import MAX_MASK_VALUES
from lotteryproofs.executor import DEFAULT_RETRIES, executor_or_default, open_checkpoint, run_blocks
from lotteryproofs.laws import Law, get_law

#: Trials per independent stream (one SeedSequence child each).
BLOCK_TRIALS = 250
#: Source candidates drawn per trial, whatever n_max (so draws do not depend on it).
CANDIDATE_CAPACITY = 128
#: Confidence level of every interval (two-sided; each limit is a one-sided 97.5 % bound).
CONFIDENCE = 0.95


# ---------------------------------------------------------------------- pools of one block
def _block_draws(law: Law, entropy: int, block: int, trials: int, interval):
    """The pools (capacity candidates) and single targets of block ``block`` of the run."""
    seq = np.random.SeedSequence(entropy, spawn_key=(block,))
    rng = np.random.default_rng(seq)
    pools = law.sample_pools(rng, CANDIDATE_CAPACITY, trials)
    targets = rng.uniform(interval[0], interval[1], trials)
    return pools, targets


def _prefix_pools(law: Law, pools, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(values, lengths): row i holds the usable values among the first n candidates of trial
    i, compacted to the left; an empty pool becomes the single value 0.0, which has the same
    subset sums ({0}) and keeps the engine's length >= 1."""
    m = law.pool_size_max(n)
    values, usable = pools.values[:, :m], pools.usable[:, :m]
    order = np.argsort(~usable, axis=1, kind="stable")  # usable first, draw order kept
    compact = np.take_along_axis(np.where(usable, values, 0.0), order, axis=1)
    lengths = np.maximum(usable.sum(axis=1), 1)
    if compact.shape[1] == 0:
        compact = np.zeros((values.shape[0], 1))
    return compact, lengths


def _single_from_gaps(values, target, eps, gaps) -> bool:
    """Whether ``target`` is within ε' of a subset sum, read off the exact certificate: the
    gaps are the maximal parts of I farther than ε' from every sum (endpoints rounded outward
    by one ulp), so a target strictly inside a gap fails and one outside every gap succeeds.
    Within a few ulps of an endpoint the exact closest subset sum decides instead."""
    from lotteryproofs.rss import closest_subset_sum

    slack = 8 * np.spacing(max(1.0, abs(target)))
    for lo, hi in gaps:
        if lo + slack < target < hi - slack:
            return False
        if abs(target - lo) <= slack or abs(target - hi) <= slack:
            return bool(closest_subset_sum(values, target, tol=eps).feasible)
    return True


def _solve_block(task) -> dict[str, np.ndarray]:
    """One (block, n) step: which of the still-open trials are covered / single-successes.

    One exact coverage certificate per open trial decides both: p's event is "no gap", q's
    event is "the trial's target lies in no gap" (a covered trial succeeds for every target).
    """
    from lotteryproofs.rss import coverage_certificate

    law_name, eps, interval, entropy, block, trials, n, open_cover, open_single = task
    law = get_law(law_name)
    pools, targets = _block_draws(law, entropy, block, trials, interval)
    values, lengths = _prefix_pools(law, pools, n)
    covered = np.zeros(trials, dtype=bool)
    single = np.zeros(trials, dtype=bool)
    for i in np.flatnonzero(open_cover | open_single):
        pool = values[i, : lengths[i]]
        certificate = coverage_certificate(pool, eps, interval)
        covered[i] = certificate.covered
        single[i] = certificate.covered or _single_from_gaps(pool, targets[i], eps,
                                                             certificate.gaps)
    return {"covered": covered, "single": single}


# ---------------------------------------------------------------------- results
@dataclass(frozen=True)
class ConstantsRow:
    """Counts and Clopper–Pearson intervals at one pool size n (candidates of the law)."""

    n: int
    trials: int
    cover_successes: int
    single_successes: int
    p_cover: float
    p_cover_ci: tuple[float, float]
    q_single: float
    q_single_ci: tuple[float, float]


@dataclass(frozen=True)
class ConstantsEstimate:
    """A constants run (DESIGN.md, "Constants JSON")."""

    law: str
    eps: float
    delta: float
    interval: tuple[float, float]
    trials: int
    seed: int
    confidence: float
    rows: tuple[ConstantsRow, ...]
    #: smallest n whose lower limit of p(n) reaches 1 − δ; None if none up to n_max
    n_required: int | None
    #: n_required / ln(1/min(ε', δ)); None with n_required
    C: float | None
    #: log₂(|I|/(2ε')) usable values (THEORY.md §3); in candidates for the pool laws below
    counting_limit: float
    counting_limit_candidates: float
    #: the largest lower limit the trial count allows (all successes): (α/2)^{1/trials}
    best_lower_limit: float
    #: why n_required is None (or "")
    note: str = ""
    extra: dict = field(default_factory=dict)

    def for_delta(self, delta: float) -> ConstantsEstimate:
        """The estimate a run at a larger δ with the same law, ε', trials and seed returns:
        the scan over n is the same up to its stopping point, so the rows are a prefix of these
        (exactly equal), cut at the first n whose lower limit reaches 1 − δ."""
        delta = _validate.open_unit("delta", delta)
        if delta < self.delta:
            raise _validate.InputError(f"can derive only a larger delta than {self.delta}")
        level = 1 - delta
        rows: list[ConstantsRow] = []
        n_required = None
        for row in self.rows:
            rows.append(row)
            if row.p_cover_ci[0] >= level:
                n_required = row.n
                break
            if row.cover_successes == row.trials:
                break
        note = self.note if n_required is None else ""
        return dataclasses.replace(
            self, delta=delta, rows=tuple(rows), n_required=n_required, note=note,
            C=None if n_required is None else lueker_constant(n_required, self.eps, delta))

    def to_json(self) -> dict:
        data = asdict(self)
        data["rows"] = [asdict(r) for r in self.rows]
        data["interval"] = list(self.interval)
        for row in data["rows"]:
            row["p_cover_ci"] = list(row["p_cover_ci"])
            row["q_single_ci"] = list(row["q_single_ci"])
        data["block_trials"] = BLOCK_TRIALS
        data["candidate_capacity"] = CANDIDATE_CAPACITY
        data.update(data.pop("extra"))
        return data


#: The exact coverage certificate's limit on pool values (rss.coverage.MAX_COVERAGE_VALUES).
MAX_EXACT_VALUES = MAX_MASK_VALUES


def _candidate_caps(law: Law) -> tuple[int, int]:
    """(largest n allowed, default largest n): the pool must stay within the exact engine's
    MAX_EXACT_VALUES values. A sign-split pool of n candidates holds Binomial(n, 1/2) values,
    so n = 96 exceeds 62 values with probability 0.2 %; a larger pool stops the run with the
    engine's error rather than being truncated."""
    if law.pool_kind == "paired":
        return min(CANDIDATE_CAPACITY, 2 * MAX_EXACT_VALUES + 1), 2 * MAX_EXACT_VALUES + 1
    if law.pool_kind == "sign-split":
        return CANDIDATE_CAPACITY, 96
    return MAX_EXACT_VALUES, MAX_EXACT_VALUES


def counting_limit(eps: float, interval=(-1.0, 1.0)) -> float:
    """log₂(|I|/(2ε')): 2ⁿ balls of radius ε' cover I only if 2ⁿ·2ε' >= |I| (THEORY.md §3)."""
    return math.log2((interval[1] - interval[0]) / (2 * eps))


def lueker_constant(n: int, eps: float, delta: float) -> float:
    """C = n / ln(1/min(ε', δ)) (the issue's normalisation of Lueker's n >= C log(·))."""
    return n / math.log(1 / min(eps, delta))


def default_trials(delta: float, confidence: float = CONFIDENCE) -> int:
    """Enough trials that p(n) ≈ 1 − δ/4 gives a lower limit >= 1 − δ: four times the
    all-success minimum (stats.trials_to_certify), at least 1000, rounded up to a block."""
    need = max(1000, 4 * stats.trials_to_certify(1 - delta, confidence))
    return BLOCK_TRIALS * math.ceil(need / BLOCK_TRIALS)


def _interval(interval) -> tuple[float, float]:
    try:
        lo, hi = (_validate.finite_scalar("interval", x) for x in interval)
    except TypeError:
        raise _validate.InputError(
            f"interval must be two numbers LO HI, got {interval!r}") from None
    if not lo < hi:
        raise _validate.InputError(f"interval must have LO < HI, got [{lo}, {hi}]")
    return lo, hi


def _entropy(seed) -> int:
    if seed is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise _validate.InputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def estimate_constants(law, eps: float, delta: float, *, trials: int | None = None,
                       seed: int | None = None, interval=(-1.0, 1.0), n_min: int | None = None,
                       n_max: int | None = None, workers: int = 1,
                       confidence: float = CONFIDENCE, progress: str | None = None,
                       executor=None, checkpoint=None, retries: int | None = None,
                       block_trials: int = BLOCK_TRIALS) -> ConstantsEstimate:
    """Estimate p(n), q(n) for n = n_min, n_min + 1, … and the smallest certified n.

    n_min defaults to the counting limit in candidates (below it p(n) = 0 is proven); the scan
    stops at the first n whose Clopper–Pearson lower limit of p(n) is >= 1 − δ, or at n_max
    (default: n_min + 60, at most 62 values per pool: 62 candidates for value laws, 125 for
    looks-linear, 96 for sign-split).

    Each n is one round of (block, n) steps on ``executor`` (lotteryproofs.executor; default:
    ``workers`` local processes, in-process for 1); the result does not depend on the executor,
    its worker count or the completion order, only on ``block_trials`` (the draws of a block
    come from its own SeedSequence child). ``checkpoint`` (a folder) keeps every finished step,
    so the same call repeated after a crash resumes; ``progress`` labels the progress report.
    """
    law = get_law(law)
    eps = _validate.positive("eps", eps)
    delta = _validate.open_unit("delta", delta)
    interval = _interval(interval)
    if not 0 < confidence < 1:
        raise _validate.InputError(f"confidence must lie in (0, 1), got {confidence}")
    trials = default_trials(delta, confidence) if trials is None else trials
    trials = _validate.positive_int("trials", trials)
    workers = _validate.positive_int("workers", workers)
    entropy = _entropy(seed)
    limit = counting_limit(eps, interval)
    per_candidate = float(law.usable_per_candidate)
    limit_candidates = max(limit, 0.0) / per_candidate
    n_min = max(1, math.ceil(limit_candidates)) if n_min is None else _validate.positive_int(
        "n_min", n_min)
    hard_cap, default_cap = _candidate_caps(law)
    n_max = min(default_cap, n_min + 60) if n_max is None else _validate.positive_int(
        "n_max", n_max)
    if n_max < n_min:
        raise _validate.InputError(f"n_max ({n_max}) must be >= n_min ({n_min})")
    if n_max > hard_cap:
        raise _validate.InputError(
            f"n_max must be <= {hard_cap} candidates for {law.name} (exact coverage "
            f"certificates take at most {MAX_EXACT_VALUES} values), got {n_max}")

    block_trials = _validate.positive_int("block_trials", block_trials)
    sizes = [block_trials] * (trials // block_trials)
    if trials % block_trials:
        sizes.append(trials % block_trials)
    store = None
    if checkpoint is not None:
        store = open_checkpoint(checkpoint, "constants", {
            "law": law.name, "eps": eps, "delta": delta, "interval": interval, "trials": trials,
            "seed": entropy, "n_min": n_min, "n_max": n_max, "confidence": confidence,
            "block_trials": block_trials, "candidate_capacity": CANDIDATE_CAPACITY})
    open_cover = [np.ones(s, dtype=bool) for s in sizes]
    open_single = [np.ones(s, dtype=bool) for s in sizes]
    level = 1 - delta
    best_lower = stats.best_lower_limit(trials, confidence)
    rows: list[ConstantsRow] = []
    n_required = None
    with executor_or_default(executor, workers) as executor:
        for n in range(n_min, n_max + 1):
            blocks = [b for b in range(len(sizes)) if open_cover[b].any() or open_single[b].any()]
            tasks = [(law.name, eps, interval, entropy, b, sizes[b], n, open_cover[b],
                      open_single[b]) for b in blocks]
            results = run_blocks(
                _solve_block, tasks, executor=executor, checkpoint=store,
                keys=[f"n{n:03d}-b{b:05d}" for b in blocks],
                retries=DEFAULT_RETRIES if retries is None else retries,
                label=None if progress is None else f"{progress} n={n}")
            for block, result in zip(blocks, results, strict=True):
                open_cover[block] &= ~result["covered"]
                open_single[block] &= ~result["single"]
            cover = trials - sum(int(o.sum()) for o in open_cover)
            single = trials - sum(int(o.sum()) for o in open_single)
            rows.append(ConstantsRow(
                n=n, trials=trials, cover_successes=cover, single_successes=single,
                p_cover=cover / trials, p_cover_ci=stats.clopper_pearson(cover, trials, confidence),
                q_single=single / trials,
                q_single_ci=stats.clopper_pearson(single, trials, confidence),
            ))
            if rows[-1].p_cover_ci[0] >= level:
                n_required = n
                break
            if cover == trials:
                break  # every trial covered: more n cannot raise the limit
    note = ""
    if n_required is None:
        if best_lower < level:
            note = (f"{trials} trials cannot certify 1 - delta = {level}: even all successes give "
                    f"a lower limit of {best_lower:.6f}; use at least "
                    f"{stats.trials_to_certify(level, confidence)} trials")
        else:
            note = f"the lower limit of p(n) stayed below {level} up to n_max = {rows[-1].n}"
    return ConstantsEstimate(
        law=law.name, eps=eps, delta=delta, interval=interval, trials=trials, seed=entropy,
        confidence=confidence, rows=tuple(rows), n_required=n_required,
        C=None if n_required is None else lueker_constant(n_required, eps, delta),
        counting_limit=limit, counting_limit_candidates=limit_candidates,
        best_lower_limit=best_lower, note=note,
        extra={} if block_trials == BLOCK_TRIALS else {"block_trials": block_trials},
    )


# ---------------------------------------------------------------------- the authors' statistics
#: The seed paper's own RSS statistics (THEORY.md §3): n = 15 candidates, ε' = 0.01,
#: one target z ~ U[-1, 1], subsets of size <= 14, 100 000 trials each — (failure rate, mean
#: subset size). These are the claims under test, not expected values of ours.
AUTHORS_STATISTICS = {"uniform": (0.0040, 2.30), "product": (0.0355, 2.46)}
AUTHORS_SETUP = {"n": 15, "eps": 0.01, "max_size": 14, "trials": 100_000}
_AUTHORS_BLOCK = 5000


@dataclass(frozen=True)
class AuthorsReplication:
    """Our estimate of the authors' statistics, with intervals and the containment verdicts.

    ``failure_ci`` is Clopper–Pearson; ``mean_size_ci`` the normal interval (stats.mean_interval)
    of the mean size of the subset the solver returns over *all* instances — on a failure the
    closest subset of size <= max_size, which is what the authors' ``exhaustive`` returns
    (RelationalML/NonZeroBiases, Construction/prune_2layers.py); ``mean_size_successes*`` the
    same over successful instances only. ``*_inside``: the authors' number lies in our interval.
    """

    law: str
    n: int
    eps: float
    max_size: int
    trials: int
    seed: int
    confidence: float
    failures: int
    failure_rate: float
    failure_ci: tuple[float, float]
    mean_size: float
    mean_size_ci: tuple[float, float]
    mean_size_successes: float
    mean_size_successes_ci: tuple[float, float]
    authors_failure_rate: float
    authors_mean_size: float

    @property
    def failure_inside(self) -> bool:
        return self.failure_ci[0] <= self.authors_failure_rate <= self.failure_ci[1]

    @property
    def mean_size_inside(self) -> bool:
        return self.mean_size_ci[0] <= self.authors_mean_size <= self.mean_size_ci[1]

    def summary(self) -> str:
        pct = 100 * self.confidence
        return (f"{self.law}: failure {100 * self.failure_rate:.3f} % "
                f"[{100 * self.failure_ci[0]:.3f}, {100 * self.failure_ci[1]:.3f}] ({pct:g} % CP; "
                f"authors {100 * self.authors_failure_rate:.2f} % "
                f"{'inside' if self.failure_inside else 'OUTSIDE'}), mean subset size "
                f"{self.mean_size:.4f} [{self.mean_size_ci[0]:.4f}, {self.mean_size_ci[1]:.4f}] "
                f"(authors {self.authors_mean_size:.2f} "
                f"{'inside' if self.mean_size_inside else 'OUTSIDE'}; successes only "
                f"{self.mean_size_successes:.4f} [{self.mean_size_successes_ci[0]:.4f}, "
                f"{self.mean_size_successes_ci[1]:.4f}]), {self.trials} trials, "
                f"seed {self.seed}")

    def to_json(self) -> dict:
        data = asdict(self)
        data["failure_ci"] = list(self.failure_ci)
        data["mean_size_ci"] = list(self.mean_size_ci)
        data["mean_size_successes_ci"] = list(self.mean_size_successes_ci)
        data["failure_inside"] = self.failure_inside
        data["mean_size_inside"] = self.mean_size_inside
        return data


def _authors_block(task) -> dict[str, np.ndarray]:
    """One block of the authors' experiment: which trials succeed, and the subset sizes."""
    from lotteryproofs.rss import sparsest_subset_sum_batch

    law_name, n, eps, max_size, entropy, block, trials = task
    rng = np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(block,)))
    values = get_law(law_name).sample(rng, (trials, n))
    targets = rng.uniform(-1.0, 1.0, trials)
    result = sparsest_subset_sum_batch(values, targets, eps, max_size=max_size)
    return {"feasible": result.feasible.copy(), "size": result.size.copy()}


def replicate_authors(law, *, trials: int = AUTHORS_SETUP["trials"], seed: int | None = None,
                      n: int = AUTHORS_SETUP["n"], eps: float = AUTHORS_SETUP["eps"],
                      max_size: int = AUTHORS_SETUP["max_size"], workers: int = 1,
                      confidence: float = CONFIDENCE, progress: str | None = None,
                      executor=None, checkpoint=None,
                      retries: int | None = None) -> AuthorsReplication:
    """The authors' experiment: ``trials`` pools of n values of ``law`` and one target
    z ~ U[-1, 1] each; the sparsest subset of size <= max_size within ε' (exact solver, failure
    when none exists, then the closest subset of size <= max_size); failure rate and mean
    subset size (all instances, and successes only). Blocks of 5000 trials, each with its own
    SeedSequence child, on ``executor`` (as in :func:`estimate_constants`)."""
    law = get_law(law)
    if law.name not in AUTHORS_STATISTICS:
        raise _validate.InputError(
            f"the authors report statistics for {', '.join(AUTHORS_STATISTICS)}, not {law.name}")
    trials = _validate.positive_int("trials", trials)
    workers = _validate.positive_int("workers", workers)
    entropy = _entropy(seed)
    sizes = [_AUTHORS_BLOCK] * (trials // _AUTHORS_BLOCK)
    if trials % _AUTHORS_BLOCK:
        sizes.append(trials % _AUTHORS_BLOCK)
    tasks = [(law.name, n, eps, max_size, entropy, b, s) for b, s in enumerate(sizes)]
    store = None if checkpoint is None else open_checkpoint(checkpoint, "authors", {
        "law": law.name, "n": n, "eps": eps, "max_size": max_size, "trials": trials,
        "seed": entropy, "block_trials": _AUTHORS_BLOCK})
    with executor_or_default(executor, workers) as executor:
        parts = run_blocks(_authors_block, tasks, executor=executor, checkpoint=store,
                           retries=DEFAULT_RETRIES if retries is None else retries,
                           label=progress)
    feasible = np.concatenate([p["feasible"] for p in parts])
    size = np.concatenate([p["size"] for p in parts])
    failures = int((~feasible).sum())
    mean, lo, hi = stats.mean_interval(size, confidence)
    mean_ok, lo_ok, hi_ok = stats.mean_interval(size[feasible], confidence)
    authors_failure, authors_mean = AUTHORS_STATISTICS[law.name]
    return AuthorsReplication(
        law=law.name, n=n, eps=eps, max_size=max_size, trials=trials, seed=entropy,
        confidence=confidence, failures=failures, failure_rate=failures / trials,
        failure_ci=stats.clopper_pearson(failures, trials, confidence), mean_size=mean,
        mean_size_ci=(lo, hi), mean_size_successes=mean_ok, mean_size_successes_ci=(lo_ok, hi_ok),
        authors_failure_rate=authors_failure,
        authors_mean_size=authors_mean,
    )
