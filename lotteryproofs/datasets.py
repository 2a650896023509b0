"""scikit-learn's embedded benchmark datasets, split and standardised for real target networks.

``digits`` (1 797 8×8 images, 64 inputs, 10 classes), ``breast-cancer`` (569 samples, 30
inputs, 2 classes) and ``wine`` (178 samples, 13 inputs, 3 classes) ship inside scikit-learn,
so they load offline. A dataset is split once, stratified by class, by a permutation drawn from
``split_seed`` (numpy only, so the split does not depend on the scikit-learn version), and
standardised with the *training* mean and standard deviation:

    x̃ = (x − mean) / scale,   scale_i = std_i  (1 where the training column is constant).

The target network is fed x̃; the preprocessing travels with it in the target file's metadata
(``train.py``) so that anyone can apply it to raw inputs.

scikit-learn is the optional extra ``train``; it is imported only when a dataset is loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.network import Box

#: dataset name → the ``sklearn.datasets`` loader that embeds it.
LOADERS = {
    "digits": "load_digits",
    "breast-cancer": "load_breast_cancer",
    "wine": "load_wine",
}

#: Fraction of every class held out for testing.
DEFAULT_TEST_FRACTION = 0.25

#: Half-width, in standardised units, given to a coordinate that is constant on the training
#: data (the box must have lower < upper; digits has always-blank border pixels).
DEGENERATE_HALF_WIDTH = 1.0

MISSING_SKLEARN = "needs the optional extra: pip install 'lotteryproofs[train]'"


def require_sklearn():
    """Import scikit-learn, or raise the InputError naming the optional extra."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise _validate.InputError(f"real datasets and training {MISSING_SKLEARN}") from None
    import sklearn

    return sklearn


@dataclass(frozen=True, eq=False)
class Dataset:
    """A split, standardised dataset. Inputs are float64 ``(n, n_features)``, labels int64.

    ``mean`` and ``scale`` are the standardisation fitted on the training inputs
    (x̃ = (x − mean)/scale); ``x_train``/``x_test`` are already standardised.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    n_classes: int
    split_seed: int

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])

    def train_box(self) -> Box:
        """Per-coordinate [min, max] of the standardised *training* inputs.

        A coordinate constant on the training data gets [v − h, v + h] with
        h = ``DEGENERATE_HALF_WIDTH`` (a Box needs lower < upper). Test inputs may fall outside
        this box (see :func:`count_outside`); a certificate over the box says nothing about them.
        """
        lower = self.x_train.min(axis=0)
        upper = self.x_train.max(axis=0)
        flat = lower == upper
        lower = np.where(flat, lower - DEGENERATE_HALF_WIDTH, lower)
        upper = np.where(flat, upper + DEGENERATE_HALF_WIDTH, upper)
        return Box(lower, upper)


def known_names() -> list[str]:
    return sorted(LOADERS)


def check_name(name) -> str:
    """The dataset name, or an InputError listing the known ones."""
    if name not in LOADERS:
        raise _validate.InputError(
            f"unknown dataset {name!r}; known datasets: {', '.join(known_names())}"
        )
    return name


def fit_standardisation(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(mean, scale) of the columns of ``x``: scale = population std, 1 where it is 0."""
    x = _validate.finite_array("inputs", x, ndim=2)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    return mean, scale


def standardise(x, mean, scale) -> np.ndarray:
    """(x − mean) / scale, row by row: how a target's inputs are preprocessed."""
    x = _validate.finite_array("inputs", x)
    mean = _validate.finite_array("preprocessing mean", mean, ndim=1)
    scale = _validate.finite_array("preprocessing scale", scale, ndim=1)
    if np.any(scale <= 0):
        raise _validate.InputError("preprocessing scale must be > 0 in every coordinate")
    if x.shape[-1] != mean.shape[0] or mean.shape != scale.shape:
        raise _validate.InputError(
            f"inputs have {x.shape[-1]} features but the preprocessing has {mean.shape[0]} "
            f"means and {scale.shape[0]} scales"
        )
    return (x - mean) / scale


def stratified_split(y: np.ndarray, test_fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Train and test indices (sorted): round(test_fraction·n_c) of every class c to test."""
    rng = _validate.rng(rng)
    train, test = [], []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        members = members[rng.permutation(members.shape[0])]
        n_test = int(round(test_fraction * members.shape[0]))
        test.append(members[:n_test])
        train.append(members[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_raw(name: str) -> tuple[np.ndarray, np.ndarray]:
    """The raw inputs (float64) and integer labels of an embedded scikit-learn dataset."""
    name = check_name(name)
    require_sklearn()
    import sklearn.datasets

    x, y = getattr(sklearn.datasets, LOADERS[name])(return_X_y=True)
    return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.int64)


def load_dataset(name: str, *, split_seed: int, test_fraction: float = DEFAULT_TEST_FRACTION
                 ) -> Dataset:
    """Load ``name``, split it stratified by ``split_seed``, standardise on the training part."""
    name = check_name(name)
    split_seed = _validate.positive_int("split seed", split_seed, minimum=0)
    test_fraction = _validate.open_unit("test fraction", test_fraction)
    x, y = load_raw(name)
    train, test = stratified_split(y, test_fraction, np.random.default_rng(split_seed))
    mean, scale = fit_standardisation(x[train])
    return Dataset(
        name=name,
        x_train=standardise(x[train], mean, scale),
        y_train=y[train],
        x_test=standardise(x[test], mean, scale),
        y_test=y[test],
        mean=mean,
        scale=scale,
        n_classes=int(np.unique(y).shape[0]),
        split_seed=split_seed,
    )


def count_outside(x: np.ndarray, box: Box) -> int:
    """How many rows of ``x`` leave ``box`` in at least one coordinate."""
    return int(np.count_nonzero(np.any((x < box.lower) | (x > box.upper), axis=1)))


# ------------------------------------------------------------------- tasks where biases matter
#: Radii of the two concentric spheres (class 0 inner, class 1 outer).
SPHERE_RADII = (1.0, 2.0)


def concentric_spheres(dim: int, n_directions: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Two concentric spheres centred at 0 in R^dim with *matched directions*: n directions
    u_i uniform on the sphere (normalised Gaussians), and for each the points r₁u_i (class 0)
    and r₂u_i (class 1), rows 2i and 2i+1 (d = 2 is scikit-learn's noiseless ``make_circles``
    with equal counts). A positively homogeneous classifier gets exactly one of every pair
    right (proofs/popup-zero-bias-sphere-limit.md)."""
    dim = _validate.positive_int("dimension", dim, minimum=1)
    n_directions = _validate.positive_int("directions", n_directions, minimum=2)
    rng = _validate.rng(rng)
    u = rng.normal(size=(n_directions, dim))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    r1, r2 = SPHERE_RADII
    x = np.empty((2 * n_directions, dim))
    x[0::2], x[1::2] = r1 * u, r2 * u
    y = np.tile(np.array([0, 1], dtype=np.int64), n_directions)
    return x, y


def load_spheres(dim: int, *, seed: int, n_directions: int = 200,
                 test_fraction: float = DEFAULT_TEST_FRACTION) -> Dataset:
    """The sphere task, split *by direction* (both points of a direction on the same side) and
    **not** standardised (mean 0, scale 1): centring at the training mean would shift the
    spheres' centre off 0 and void the homogeneity limit that the task exists to show."""
    seed = _validate.positive_int("seed", seed, minimum=0)
    test_fraction = _validate.open_unit("test fraction", test_fraction)
    rng = np.random.default_rng(seed)
    x, y = concentric_spheres(dim, n_directions, rng)
    order = rng.permutation(n_directions)
    n_test = max(1, min(n_directions - 1, int(round(test_fraction * n_directions))))
    rows = lambda d: np.sort(np.concatenate([2 * d, 2 * d + 1]))  # noqa: E731
    train, test = rows(order[n_test:]), rows(order[:n_test])
    return Dataset(name=f"spheres-{dim}", x_train=x[train], y_train=y[train], x_test=x[test],
                   y_test=y[test], mean=np.zeros(dim), scale=np.ones(dim), n_classes=2,
                   split_seed=seed)


def _split_groups(n_groups: int, test_fraction: float, rng) -> tuple[np.ndarray, np.ndarray]:
    """Train and test group indices (sorted), round(test_fraction·n) groups (≥ 1) to test."""
    order = rng.permutation(n_groups)
    n_test = max(1, min(n_groups - 1, int(round(test_fraction * n_groups))))
    return np.sort(order[n_test:]), np.sort(order[:n_test])


def _unstandardised(name: str, x, y, train, test, seed: int, n_classes: int) -> Dataset:
    dim = x.shape[1]
    return Dataset(name=name, x_train=x[train], y_train=y[train], x_test=x[test],
                   y_test=y[test], mean=np.zeros(dim), scale=np.ones(dim), n_classes=n_classes,
                   split_seed=seed)


#: Radii of scikit-learn's ``make_circles`` (outer 1, inner ``factor``) and its noise.
CIRCLES_FACTOR, CIRCLES_NOISE = 0.5, 0.1


def load_circles(*, seed: int, n: int = 400, test_fraction: float = DEFAULT_TEST_FRACTION
                 ) -> Dataset:
    """scikit-learn's ``make_circles(n, noise=0.1, factor=0.5)`` drawn with numpy: n/2 points
    at uniform angles on the unit circle (class 0, outer) and n/2 on the circle of radius 0.5
    (class 1, inner), each plus N(0, 0.1² I) noise; a uniform random split, not standardised
    (the centre stays at 0). With noise the rays of the two classes no longer coincide, so the
    zero-bias limit 1/2 is not exact here (it is on :func:`load_spheres`)."""
    seed = _validate.positive_int("seed", seed, minimum=0)
    n = _validate.positive_int("points", n, minimum=4)
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n - n // 2, n // 2])
    angle = rng.uniform(0.0, 2 * np.pi, size=n)
    radius = np.where(y == 0, 1.0, CIRCLES_FACTOR)
    x = radius[:, None] * np.column_stack([np.cos(angle), np.sin(angle)])
    x += rng.normal(scale=CIRCLES_NOISE, size=x.shape)
    train, test = _split_groups(n, test_fraction, rng)
    return _unstandardised("circles", x, y, train, test, seed, 2)


#: Where the moons are moved to (their centre leaves the origin) and their noise.
MOONS_SHIFT, MOONS_NOISE = (3.0, 3.0), 0.1


def load_shifted_moons(*, seed: int, n: int = 400,
                       test_fraction: float = DEFAULT_TEST_FRACTION) -> Dataset:
    """scikit-learn's ``make_moons(n, noise=0.1)`` drawn with numpy — class 0 at
    (cos t, sin t), class 1 at (1 − cos t, 1/2 − sin t), t ~ U[0, π], plus N(0, 0.1² I) —
    then shifted by (3, 3) and not standardised: seen from the origin both moons lie in a
    narrow cone, so a positively homogeneous (zero-bias) classifier, a function of the
    direction x/‖x‖ only, must separate them by angle alone."""
    seed = _validate.positive_int("seed", seed, minimum=0)
    n = _validate.positive_int("points", n, minimum=4)
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array([0, 1], dtype=np.int64), [n - n // 2, n // 2])
    t = rng.uniform(0.0, np.pi, size=n)
    x = np.where((y == 0)[:, None], np.column_stack([np.cos(t), np.sin(t)]),
                 np.column_stack([1 - np.cos(t), 0.5 - np.sin(t)]))
    x += rng.normal(scale=MOONS_NOISE, size=x.shape) + np.asarray(MOONS_SHIFT)
    train, test = _split_groups(n, test_fraction, rng)
    return _unstandardised("moons-shifted", x, y, train, test, seed, 2)


#: Radial regression: target h(r) = cos(π r) at K radii r ~ U[R_MIN, R_MAX] per direction.
RADIAL_RANGE, RADIAL_PER_DIRECTION = (0.25, 2.0), 4


def radial_target(r: np.ndarray) -> np.ndarray:
    """h(r) = cos(π r): not of the form r·c, so no positively homogeneous f fits it."""
    return np.cos(np.pi * np.asarray(r, dtype=np.float64))


def load_radial(dim: int = 2, *, seed: int, n_directions: int = 100,
                test_fraction: float = DEFAULT_TEST_FRACTION) -> Dataset:
    """Radial regression in R^dim with *matched directions*: n directions u_i uniform on the
    sphere, each with K = 4 points r_ij u_i, r_ij ~ U[0.25, 2], target y_ij = cos(π r_ij)
    (rows K·i … K·i+K−1); split by direction, not standardised, so the zero-bias floor
    (:func:`homogeneous_mse_floor`) binds on each part exactly. ``n_classes`` is 1 (one
    output)."""
    dim = _validate.positive_int("dimension", dim, minimum=1)
    n_directions = _validate.positive_int("directions", n_directions, minimum=2)
    seed = _validate.positive_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    u = rng.normal(size=(n_directions, dim))
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    k = RADIAL_PER_DIRECTION
    r = rng.uniform(*RADIAL_RANGE, size=(n_directions, k))
    x = (r[:, :, None] * u[:, None, :]).reshape(n_directions * k, dim)
    y = radial_target(r).reshape(-1)
    train_dirs, test_dirs = _split_groups(n_directions, test_fraction, rng)
    rows = lambda d: (k * d[:, None] + np.arange(k)).reshape(-1)  # noqa: E731
    return _unstandardised(f"radial-{dim}", x, y, rows(train_dirs), rows(test_dirs), seed, 1)


def homogeneous_mse_floor(x: np.ndarray, y: np.ndarray, group: int = RADIAL_PER_DIRECTION
                          ) -> float:
    """The least mean squared error of *any* positively homogeneous f on rows grouped in
    consecutive blocks of ``group`` points on one ray each (proofs/popup-zero-bias-sphere-limit.md,
    "Radial regression"):  (1/N) Σ_i [ Σ_j y_ij² − (Σ_j y_ij r_ij)² / Σ_j r_ij² ],  r = ‖x‖.

    On a ray f(r u) = r f(u), so the block's residuals are y_ij − r_ij c_i with one free c_i;
    the bracket is their least-squares minimum over c_i."""
    r = np.linalg.norm(np.asarray(x, dtype=np.float64), axis=1).reshape(-1, group)
    y = np.asarray(y, dtype=np.float64).reshape(-1, group)
    per_ray = (y * y).sum(axis=1) - (y * r).sum(axis=1) ** 2 / (r * r).sum(axis=1)
    return float(per_ray.sum() / y.size)


#: The tasks where biases matter: name → loader(seed) (each generated offline from its seed).
BIAS_TASKS = {
    "circles": lambda seed: load_circles(seed=seed),
    "spheres-2": lambda seed: load_spheres(2, seed=seed),
    "spheres-8": lambda seed: load_spheres(8, seed=seed),
    "spheres-32": lambda seed: load_spheres(32, seed=seed),
    "moons-shifted": lambda seed: load_shifted_moons(seed=seed),
    "radial-2": lambda seed: load_radial(2, seed=seed),
}
