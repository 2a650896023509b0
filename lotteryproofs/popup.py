"""Edge-popup: find a subnetwork of a frozen random ReLU network by learning scores only.

Edge-popup (Ramanujan et al., CVPR 2020) keeps, in every layer, the parameters with the largest
score magnitudes |s| and trains the scores with the straight-through estimator; the random
weights never change. THEORY.md §7 lists the seed paper's extensions, all implemented here:

* **scores for biases too**, ranked within their own tensor (``bias_ranking="separate"``) or
  together with the layer's weights (``"joint"``);
* **any source**: zero-bias He, product-rule nonzero-bias He, looks-linear (init.py);
* **sparsity annealing**: the kept fraction goes from 0.6 down to the target over several
  levels (:func:`density_schedule`);
* **scaled edge-popup**: a fitted output scale λ, distributed over the layers as λ^{1/D} on
  every weight and λ^{l/D} on the layer-l biases (l = 1 … D). By the scaling lemma (THEORY.md
  §1, proofs/popup-scaled.md) the distributed network computes exactly λ·f_S.

**Density** d has one meaning everywhere (CLI ``--density``, the JSON fields ``density`` and
``densities``, the docs): the kept fraction of every parameter tensor of every layer. A tensor
of n entries keeps exactly k = n − ⌊(1 − d)·n⌋ of them (:func:`kept_count`), the rule of
Ramanujan et al.'s ``GetSubnet`` (hidden-networks: ``j = int((1 - k) * scores.numel())``
smallest scores set to 0, the rest to 1), evaluated in float64 as they do; at least one is
kept. With joint ranking the weights and biases of a layer are one tensor of
n_out·n_in + n_out entries.

**Forward** (mask m, scale factors c_l = λ^{1/D}, d_l = λ^{l/D}; λ = 1 when not scaled):

    z_l = c_l (W_l ⊙ m_l) h_{l−1} + d_l (b_l ⊙ m^b_l),   h_l = σ(z_l) (l < D),   logits = z_D,

and the loss is the mean softmax cross-entropy (``loss="squared-error"``: the mean squared error
(z_D − y)² of one output, for regression). **Backward** (:func:`loss_and_gradients`) is
written out by hand; it returns ∂L/∂m (masks treated as real numbers) and ∂L/∂log λ. The
straight-through estimator sets ∂L/∂s := ∂L/∂m · sign(s): the mask is replaced by the identity
in the backward pass, and the sign is the derivative of the |s| that the ranking uses (what
automatic differentiation of Ramanujan et al.'s ``GetSubnet(scores.abs())`` computes).
∂L/∂m = c_l (∂L/∂z_l)ᵀ h_{l−1} ⊙ W_l, i.e. ∂L/∂(w·m)·w as in the paper.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.layers import Dense
from lotteryproofs.network import Network
from lotteryproofs.propagation import FLOAT64, propagate
from lotteryproofs.ticket import Ticket

BIAS_RANKINGS = ("separate", "joint")
OPTIMIZERS = ("adam", "sgd")
#: Training losses: softmax cross-entropy on integer labels (classification, the paper's), or
#: the mean squared error of a single output on real targets (regression).
LOSSES = ("cross-entropy", "squared-error")

#: Keep-fraction at which sparsity annealing starts (THEORY.md §7).
ANNEAL_START = 0.6


# --------------------------------------------------------------------------- configuration
def check_density(density, name: str = "density") -> float:
    """A kept fraction in (0, 1]."""
    if isinstance(density, bool) or not isinstance(density, int | float | np.floating | np.integer):
        raise _validate.InputError(f"{name} must be a number in (0, 1], got {density!r}")
    density = float(density)
    if not (math.isfinite(density) and 0.0 < density <= 1.0):
        raise _validate.InputError(f"{name} must lie in (0, 1] (the kept fraction), got {density}")
    return density


@dataclass(frozen=True)
class PopupConfig:
    """How edge-popup trains the scores (defaults measured in benchmarks/README.md)."""

    density: float
    epochs: int = 30
    batch_size: int = 64
    optimizer: str = "adam"
    learning_rate: float = 0.01
    momentum: float = 0.9
    bias_ranking: str = "separate"
    anneal: bool = False
    anneal_levels: int = 4
    scaled: bool = False
    loss: str = "cross-entropy"

    def __post_init__(self):
        object.__setattr__(self, "density", check_density(self.density))
        _validate.positive_int("epochs", self.epochs)
        _validate.positive_int("batch size", self.batch_size)
        _validate.positive("learning rate", self.learning_rate)
        momentum = _validate.finite_scalar("momentum", self.momentum)
        if not 0 <= momentum < 1:
            raise _validate.InputError(f"momentum must lie in [0, 1), got {momentum}")
        if self.optimizer not in OPTIMIZERS:
            raise _validate.InputError(
                f"unknown optimizer {self.optimizer!r}; choose one of {', '.join(OPTIMIZERS)}"
            )
        if self.bias_ranking not in BIAS_RANKINGS:
            raise _validate.InputError(
                f"unknown bias ranking {self.bias_ranking!r}; choose one of "
                f"{', '.join(BIAS_RANKINGS)}"
            )
        if self.loss not in LOSSES:
            raise _validate.InputError(
                f"unknown loss {self.loss!r}; choose one of {', '.join(LOSSES)}")
        _validate.positive_int("anneal levels", self.anneal_levels)
        if self.anneal and self.anneal_levels > self.epochs:
            raise _validate.InputError(
                f"annealing over {self.anneal_levels} levels needs at least as many epochs, "
                f"got {self.epochs}"
            )

    def to_json(self) -> dict:
        out = asdict(self)
        if self.loss == "cross-entropy":  # files written before the loss option stay byte-equal
            del out["loss"]
        return out


# ------------------------------------------------------------------------------ top-k masks
def kept_count(n: int, density: float) -> int:
    """k = n − ⌊(1 − density)·n⌋: how many of n entries a tensor keeps (``GetSubnet``'s rule).

    The floor is that of the float64 product, exactly the authors' ``int((1 - k) * numel)``, so
    a ticket keeps what their code keeps (e.g. 8 502 parameters of 64-256-256-10 at 0.1, not
    the 8 501 of rounding d·n per tensor). ``max(1, ·)`` only acts where 1 − d rounds to 1 in
    float64 (d ≤ 2⁻⁵⁴), where ``GetSubnet`` would keep nothing: for any float f < 1 the
    rounded f·n stays below n, so the authors' rule keeps at least one entry elsewhere.
    """
    n = _validate.positive_int("tensor size", n)
    density = check_density(density)
    return max(1, n - int((1.0 - density) * n))


def top_k_mask(scores: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask (shape of ``scores``) with exactly k True entries at the largest |score|.

    The k-th largest |score| t is found by ``np.partition`` (values only, O(n)) and the mask is
    |s| ≥ t; only when ties at t make that more than k entries are they broken by
    ``np.argpartition`` (deterministic, arbitrary) — with continuous random scores ties have
    probability 0, and without ties both select the same set.
    """
    flat = np.abs(np.ravel(scores))
    k = int(k)
    if not 1 <= k <= flat.size:
        raise _validate.InputError(f"k must lie in [1, {flat.size}], got {k}")
    if k == flat.size:
        return np.ones(np.shape(scores), dtype=bool)
    threshold = np.partition(flat, flat.size - k)[flat.size - k]
    mask = flat >= threshold
    if np.count_nonzero(mask) != k:  # ties at the threshold
        mask = np.zeros(flat.size, dtype=bool)
        mask[np.argpartition(flat, flat.size - k)[flat.size - k:]] = True
    return mask.reshape(np.shape(scores))


def layer_masks(weight_scores, bias_scores, density: float, bias_ranking: str = "separate"
                ) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Top-k masks of every layer at ``density`` (the module docstring's one meaning)."""
    density = check_density(density)
    if bias_ranking not in BIAS_RANKINGS:
        raise _validate.InputError(
            f"unknown bias ranking {bias_ranking!r}; choose one of {', '.join(BIAS_RANKINGS)}"
        )
    weight_masks, bias_masks = [], []
    for sw, sb in zip(weight_scores, bias_scores, strict=True):
        if bias_ranking == "separate":
            weight_masks.append(top_k_mask(sw, kept_count(sw.size, density)))
            bias_masks.append(top_k_mask(sb, kept_count(sb.size, density)))
        else:
            both = np.concatenate([np.ravel(sw), np.ravel(sb)])
            mask = top_k_mask(both, kept_count(both.size, density))
            weight_masks.append(mask[: sw.size].reshape(sw.shape))
            bias_masks.append(mask[sw.size:])
    return tuple(weight_masks), tuple(bias_masks)


def density_schedule(config: PopupConfig) -> tuple[tuple[int, float], ...]:
    """(epochs, density) per level; the last level is the target density.

    Without annealing, one level. With annealing, ``anneal_levels`` levels whose densities fall
    geometrically from ANNEAL_START to the target, d_i = 0.6·(d/0.6)^{i/(levels−1)}, the
    epochs split evenly (the remainder goes to the last level). A target ≥ 0.6 is not annealed.
    """
    levels = config.anneal_levels if config.anneal and config.density < ANNEAL_START else 1
    if levels == 1:
        return ((config.epochs, config.density),)
    ratio = config.density / ANNEAL_START
    densities = [ANNEAL_START * ratio ** (i / (levels - 1)) for i in range(levels - 1)]
    densities.append(config.density)  # exactly the target, not a rounded power
    per_level = config.epochs // levels
    epochs = [per_level] * (levels - 1) + [config.epochs - per_level * (levels - 1)]
    return tuple(zip(epochs, densities, strict=True))


# ------------------------------------------------------------------------- scaled networks
def layer_scale_factors(depth: int, log_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(c_l, d_l) = (λ^{1/D}, λ^{l/D}) for l = 1 … D, from log λ."""
    exponents = np.arange(1, depth + 1) / depth
    return np.full(depth, math.exp(log_scale / depth)), np.exp(log_scale * exponents)


def distribute_scale(network: Network, scale: float) -> Network:
    """λ distributed over the layers: W_l ↦ λ^{1/D} W_l, b_l ↦ λ^{l/D} b_l (l = 1 … D).

    By the scaling lemma (THEORY.md §1 with λ_l = λ^{1/D}, Π_{k≤l} λ_k = λ^{l/D}) the result
    computes exactly λ·network(x) up to rounding (proofs/popup-scaled.md).
    """
    scale = _validate.positive("output scale λ", scale)
    c, d = layer_scale_factors(network.depth, math.log(scale))
    return Network(
        tuple(cl * w for cl, w in zip(c, network.weights, strict=True)),
        tuple(dl * b for dl, b in zip(d, network.biases, strict=True)),
        activations=network.activations,
    )


# ----------------------------------------------------------------------- forward / backward
@dataclass(frozen=True, eq=False)
class PopupGradients:
    """Mean cross-entropy and its gradients: ∂L/∂m per mask tensor and ∂L/∂log λ."""

    loss: float
    weight_masks: tuple[np.ndarray, ...]
    bias_masks: tuple[np.ndarray, ...]
    log_scale: float


def _softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy and its gradient in the logits, (softmax − onehot)/n."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_norm = np.log(np.exp(shifted).sum(axis=1))
    rows = np.arange(y.shape[0])
    loss = float(np.mean(log_norm - shifted[rows, y]))
    grad = np.exp(shifted - log_norm[:, None])
    grad[rows, y] -= 1.0
    return loss, grad / y.shape[0]


def _squared_error(outputs: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean squared error (1/n) Σ (f(x_i) − y_i)² of one output, and its gradient 2(f − y)/n."""
    residual = outputs[:, 0] - y
    loss = float(np.mean(residual * residual))
    return loss, (2.0 / y.shape[0]) * residual[:, None]


#: loss name → (outputs, targets) ↦ (mean loss, gradient in the outputs)
LOSS_FUNCTIONS = {"cross-entropy": _softmax_cross_entropy, "squared-error": _squared_error}


class ScaledLayers(Sequence):
    """The layers of the scaled subnetwork, c_l (W_l ⊙ m_l) and d_l (b_l ⊙ m^b_l), each
    formed when the propagation reaches it: one effective weight matrix in memory at a time,
    as in the loop this replaces."""

    def __init__(self, source: Network, weight_masks, bias_masks, log_scale: float):
        self.source, self.weight_masks, self.bias_masks = source, weight_masks, bias_masks
        self.c, self.d = layer_scale_factors(source.depth, log_scale)

    def __len__(self) -> int:
        return self.source.depth

    def __getitem__(self, i: int) -> Dense:
        if not 0 <= i < len(self):
            raise IndexError(i)
        src = self.source
        return Dense.trusted(self.c[i] * (src.weights[i] * self.weight_masks[i]),
                             self.d[i] * (src.biases[i] * self.bias_masks[i]))


def scaled_layers(source: Network, weight_masks, bias_masks, log_scale: float) -> list[Dense]:
    """All layers of :class:`ScaledLayers`, formed now."""
    return list(ScaledLayers(source, weight_masks, bias_masks, log_scale))


def masked_logits(source: Network, weight_masks, bias_masks, log_scale: float, x) -> np.ndarray:
    """The scaled subnetwork's logits z_D (module docstring), masks possibly real-valued."""
    layers = ScaledLayers(source, weight_masks, bias_masks, log_scale)
    return propagate(layers, source.activations, np.asarray(x, dtype=np.float64), FLOAT64)


def loss_and_gradients(source: Network, weight_masks, bias_masks, log_scale: float, x, y,
                       loss: str = "cross-entropy") -> PopupGradients:
    """Mean loss (softmax cross-entropy, or squared error) of the scaled subnetwork and its
    exact gradients.

    With g_l = ∂L/∂z_l: g_D = (softmax − onehot)/n (squared error: 2(z_D − y)/n);
    g_{l} = (g_{l+1} c_{l+1} W̃_{l+1}) ⊙ [z_l > 0];
    ∂L/∂m_l = c_l (g_lᵀ h_{l−1}) ⊙ W_l; ∂L/∂m^b_l = d_l (Σ_n g_l) ⊙ b_l;
    ∂L/∂log λ = Σ_l [ (1/D) Σ c_l W̃_l ⊙ (g_lᵀ h_{l−1}) + (l/D) Σ d_l b̃_l ⊙ Σ_n g_l ]
    (W̃ = W ⊙ m). By the scaling lemma this equals Σ logits ⊙ g_D (Euler's identity for the
    degree-1 homogeneity in λ); proofs/popup-scaled.md checks both.
    """
    depth = source.depth
    c, d = layer_scale_factors(depth, log_scale)
    layers = scaled_layers(source, weight_masks, bias_masks, log_scale)
    weights = [layer.weight for layer in layers]
    biases = [layer.bias for layer in layers]
    inputs = [np.asarray(x, dtype=np.float64)]
    propagate(layers, source.activations, inputs[0], FLOAT64, post=inputs)
    loss, g = LOSS_FUNCTIONS[loss](inputs[-1], np.asarray(y))
    grad_wm, grad_bm = [None] * depth, [None] * depth
    grad_log_scale = 0.0
    for i in range(depth - 1, -1, -1):  # layer l = i + 1 of the docstring
        grad_w_eff = g.T @ inputs[i]
        grad_b_eff = g.sum(axis=0)
        grad_wm[i] = c[i] * grad_w_eff * source.weights[i]
        grad_bm[i] = d[i] * grad_b_eff * source.biases[i]
        grad_log_scale += (float(np.sum(grad_w_eff * weights[i])) / depth
                           + float(grad_b_eff @ biases[i]) * (i + 1) / depth)
        if i > 0:
            g = (g @ weights[i]) * (inputs[i] > 0)
    return PopupGradients(loss, tuple(grad_wm), tuple(grad_bm), grad_log_scale)


# -------------------------------------------------------------------------------- optimiser
class _Optimizer:
    """Adam or SGD with momentum over a flat list of arrays (scores, and log λ as a 1-array)."""

    def __init__(self, params: list[np.ndarray], config: PopupConfig):
        self.params = params
        self.kind = config.optimizer
        self.momentum = config.momentum
        self.first = [np.zeros_like(p) for p in params]
        self.second = [np.zeros_like(p) for p in params] if self.kind == "adam" else None
        self.steps = 0

    def step(self, grads: list[np.ndarray], lr: float) -> None:
        self.steps += 1
        if self.kind == "sgd":
            for p, m, g in zip(self.params, self.first, grads, strict=True):
                m *= self.momentum
                m += g
                p -= lr * m
            return
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        bias1, bias2 = 1 - beta1**self.steps, 1 - beta2**self.steps
        for p, m, v, g in zip(self.params, self.first, self.second, grads, strict=True):
            m *= beta1
            m += (1 - beta1) * g
            v *= beta2
            v += (1 - beta2) * g * g
            p -= lr * (m / bias1) / (np.sqrt(v / bias2) + eps)


# ---------------------------------------------------------------------------------- training
@dataclass(frozen=True, eq=False)
class PopupResult:
    """The found subnetwork: final masks, the fitted λ (1 unless scaled), the training log."""

    weight_masks: tuple[np.ndarray, ...]
    bias_masks: tuple[np.ndarray, ...]
    output_scale: float
    config: PopupConfig
    epoch_losses: tuple[float, ...]
    epoch_densities: tuple[float, ...]

    def subnetwork(self, source: Network) -> Network:
        """f_S: the source with every unkept parameter set to 0 (λ not applied)."""
        return source.masked(self.weight_masks, self.bias_masks)

    def kept_fraction(self) -> float:
        kept = sum(int(m.sum()) for m in self.weight_masks + self.bias_masks)
        total = sum(m.size for m in self.weight_masks + self.bias_masks)
        return kept / total


def initial_scores(source: Network, rng) -> tuple[tuple[np.ndarray, ...], tuple[np.ndarray, ...]]:
    """Scores ~ U[−1/√n_in, 1/√n_in] for every weight and bias (Ramanujan et al.'s Kaiming-
    uniform score initialisation; n_in the fan-in, C_in·k_h·k_w for a convolution kernel);
    weights and biases of a layer share the law, so joint ranking starts unbiased."""
    rng = _validate.rng(rng)
    weight_scores, bias_scores = [], []
    for w, b in zip(source.weights, source.biases, strict=True):
        bound = 1.0 / math.sqrt(int(np.prod(w.shape[1:])))  # a kernel's fan-in C·k_h·k_w
        weight_scores.append(rng.uniform(-bound, bound, size=w.shape))
        bias_scores.append(rng.uniform(-bound, bound, size=b.shape))
    return tuple(weight_scores), tuple(bias_scores)


def _check_data(source: Network, x, y, what: str, loss: str = "cross-entropy"
                ) -> tuple[np.ndarray, np.ndarray]:
    x = _validate.finite_array(f"{what} inputs", x, ndim=2)
    y = np.asarray(y)
    if x.shape[1] != source.widths[0]:
        raise _validate.InputError(
            f"{what} inputs have {x.shape[1]} features but the source has {source.widths[0]} inputs"
        )
    if loss == "squared-error":
        y = _validate.finite_array(f"{what} targets", y, ndim=1)
        if y.shape != (x.shape[0],) or source.widths[-1] != 1:
            raise _validate.InputError(
                f"squared-error edge-popup needs {x.shape[0]} real {what} targets and a source "
                f"with one output, got targets {y.shape} and {source.widths[-1]} outputs")
        return x, y
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise _validate.InputError(f"{what} labels must be {x.shape[0]} integers, got {y.shape}")
    if y.min() < 0 or y.max() >= source.widths[-1]:
        raise _validate.InputError(
            f"{what} labels must lie in [0, {source.widths[-1] - 1}] (one output per class)"
        )
    return x, y.astype(np.int64)


def single_blas_thread():
    """A context with one BLAS thread (threadpoolctl, if installed).

    The minibatch products here are small (64 × 256 × 256): a multi-threaded BLAS spends more
    time synchronising than computing — measured 9× slower on 2 cores
    (benchmarks/README.md, "edge-popup").
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - threadpoolctl comes with scikit-learn
        return contextlib.nullcontext()
    return threadpool_limits(1)


def train_popup(source: Network, x, y, config: PopupConfig, *, rng) -> PopupResult:
    """Edge-popup on (x, y): learn the scores (and log λ if scaled), the source stays frozen.

    Every minibatch step recomputes the top-k masks at the current level's density, computes
    :func:`loss_and_gradients`, maps ∂L/∂m to ∂L/∂s = ∂L/∂m·sign(s) (straight-through), and
    updates with Adam or SGD+momentum under a cosine learning-rate decay over all steps.
    Runs with one BLAS thread (:func:`single_blas_thread`).
    """
    if not source.is_relu:
        raise _validate.InputError(
            f"edge-popup's backward pass is written for ReLU sources, not {source!r}"
        )
    with single_blas_thread():
        return _train_popup(source, x, y, config, rng=rng)


def _train_popup(source: Network, x, y, config: PopupConfig, *, rng) -> PopupResult:
    return _train_popup_scores(source, x, y, config, rng=rng)[0]


def _train_popup_scores(source: Network, x, y, config: PopupConfig, *, rng):
    """The reference loop: (result, (final weight scores, bias scores, log λ))."""
    rng = _validate.rng(rng)
    x, y = _check_data(source, x, y, "training", config.loss)
    return score_descent(
        lambda wm, bm, log_scale, xb, yb: loss_and_gradients(source, wm, bm, log_scale, xb, yb,
                                                             config.loss),
        initial_scores(source, rng), x, y, config, rng)


def score_descent(gradients, scores, x, y, config: PopupConfig, rng):
    """Edge-popup's optimisation of the scores (:func:`train_popup`), for any source whose
    ``gradients(weight_masks, bias_masks, log λ, x_batch, y_batch)`` returns
    :class:`PopupGradients` (dense here, convolutional in popup_conv.py).

    Per minibatch: the top-k masks at the current level's density (:func:`layer_masks`),
    ∂L/∂s = ∂L/∂m·sign(s) (straight-through), an Adam or SGD+momentum step at the cosine-decayed
    rate ½·lr·(1 + cos(π·step/steps)). Returns (result, (weight scores, bias scores, log λ)).
    """
    weight_scores, bias_scores = scores
    log_scale = np.zeros(1)
    params = [*weight_scores, *bias_scores] + ([log_scale] if config.scaled else [])
    optimizer = _Optimizer(params, config)
    n = x.shape[0]
    schedule = density_schedule(config)
    steps_per_epoch = -(-n // config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    step = 0
    losses, densities = [], []
    for level_epochs, density in schedule:
        for _ in range(level_epochs):
            order = rng.permutation(n)
            epoch_loss = 0.0
            for start in range(0, n, config.batch_size):
                batch = order[start:start + config.batch_size]
                wm, bm = layer_masks(weight_scores, bias_scores, density, config.bias_ranking)
                grads = gradients(wm, bm, float(log_scale[0]), x[batch], y[batch])
                score_grads = [gm * np.sign(s) for gm, s in zip(
                    grads.weight_masks + grads.bias_masks, weight_scores + bias_scores,
                    strict=True)]
                if config.scaled:
                    score_grads.append(np.array([grads.log_scale]))
                lr = 0.5 * config.learning_rate * (1 + math.cos(math.pi * step / total_steps))
                optimizer.step(score_grads, lr)
                epoch_loss += grads.loss * batch.shape[0]
                step += 1
            losses.append(epoch_loss / n)
            densities.append(density)
    final_wm, final_bm = layer_masks(weight_scores, bias_scores, config.density,
                                     config.bias_ranking)
    return (PopupResult(final_wm, final_bm, math.exp(float(log_scale[0])), config,
                        tuple(losses), tuple(densities)),
            (weight_scores, bias_scores, float(log_scale[0])))


def accuracy(network: Network, x, y) -> float:
    """Fraction of rows whose largest output is the label (λ > 0 does not change the argmax)."""
    predictions = np.argmax(network.forward(np.asarray(x, dtype=np.float64)), axis=1)
    return float(np.mean(predictions == np.asarray(y)))


def mean_squared_error(network: Network, x, y, output_scale: float = 1.0) -> float:
    """(1/n) Σ (λ f(x_i) − y_i)²: the regression error of a ticket with its fitted scale λ."""
    residual = output_scale * network.forward(np.asarray(x, dtype=np.float64))[:, 0] - y
    return float(np.mean(residual * residual))


def popup_ticket(source: Network, result: PopupResult, *, mean, scale, metadata: dict) -> Ticket:
    """The found subnetwork as a Ticket, its preprocessing in the metadata.

    Ticket ``scale`` Λ = 1/λ, so that ``ticket.approximation(x) = Λ⁻¹ f_S(x) = λ f_S(x)`` is the
    classifier's logits on preprocessed inputs x̃ = (x − mean)/scale (for unscaled edge-popup
    λ = 1). There is no target network: the logits play the target's role.
    """
    metadata = {
        **metadata,
        "method": "edge-popup",
        "config": result.config.to_json(),
        "output_scale_lambda": result.output_scale,
        "scale_meaning": "logits(x) = f_S((x - preprocessing.mean) / preprocessing.scale) / scale"
                         "; scale = 1 / lambda, the fitted output scale of scaled edge-popup "
                         "(1 otherwise)",
        "preprocessing": {"mean": [float(v) for v in mean], "scale": [float(v) for v in scale]},
    }
    return Ticket(source, result.weight_masks, result.bias_masks, 1.0 / result.output_scale,
                  metadata)
