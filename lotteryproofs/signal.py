"""Signal propagation through a random source: how large the bias term is next to W·x by depth.

For layer l with input x⁽ˡ⁻¹⁾ (x⁽⁰⁾ ~ U[-1, 1]^{n_0}) the pre-activation is z_l = W_l x⁽ˡ⁻¹⁾ + b_l.
Measured per layer (means over neurons, inputs and networks):

    q_l   = mean z_l²                       (mean squared pre-activation)
    T^w_l = mean (W_l x⁽ˡ⁻¹⁾)²              (weight term)
    T^b_l = mean b_l²                       (bias term)
    r_l   = T^b_l / T^w_l                   (bias-to-weight ratio)

and compared with the mean-field law (proofs/signal-propagation.md): given x⁽ˡ⁻¹⁾,
E[T^w_l] = σ_l² Var(D_w) Σ_i mean(x_i⁽ˡ⁻¹⁾²) and E[T^b_l] = β² Var(D_b) s_l², with bias scale
s_l = Π_{k≤l} σ_k (product rule), 1 (constant) or 0 (zero). With He scales this gives
r_l = r_{l−1} σ_l² q_{l−2}/q_{l−1} for the product rule — a geometric decay by ≈ σ_l² per
layer, *not* a constant ratio (THEORY.md §1 claims otherwise; see the proofs/ document).

The source's activation φ may be any registered one (``activation=``, default ReLU: tanh and
sigmoid sources too). The conditional predictions hold for every φ (they only use the measured
layer inputs); the a-priori recursion replaces ReLU's E φ(z)² = q/2 (z ~ N(0, q)) by
E φ(√q g)², g ~ N(0, 1), computed by Gauss–Hermite quadrature (:func:`second_moment`).

Reproduce the table of the report: ``python -m lotteryproofs.signal --width 256 --depth 20``
(``--activation tanh`` for a tanh source).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from lotteryproofs import _validate
from lotteryproofs.activations import get_activation
from lotteryproofs.init import LAW_VARIANCES, draw_source

BIAS_RULES = ("zero", "constant", "product")

#: Var(D²)/Var(D)² of the bias law: the relative variance of one squared bias.
_SQUARE_RELATIVE_VARIANCE = {"normal": 2.0, "uniform": 4.0 / 5.0}
#: Upper bound on the relative variance of one row's mean (w·x)² given x (proofs/ document).
_WEIGHT_ROW_RELATIVE_VARIANCE = 2.0


@dataclass(frozen=True, eq=False)
class SignalPropagation:
    """Per-layer measurements (arrays of length ``depth``) and their mean-field predictions.

    ``predicted_*`` are conditional expectations given the measured layer inputs;
    ``mean_field_mean_sq`` is the a-priori recursion q̄_l = σ_l² Var(D_w) n_{l−1} q̄_{l−1}/2
    + β² Var(D_b) s_l² (q̄ over the input law for l = 1). ``log_ratio_sd`` is the standard
    deviation (delta method) of log(r_l / predicted_ratio_l), the scale of the statistical
    tolerance; NaN for the zero rule.
    """

    law: str
    bias_rule: str
    bias_factor: float
    width: int
    depth: int
    n_inputs: int
    n_networks: int
    mean_sq_preactivation: np.ndarray
    weight_term: np.ndarray
    bias_term: np.ndarray
    ratio: np.ndarray
    predicted_weight_term: np.ndarray
    predicted_bias_term: np.ndarray
    predicted_ratio: np.ndarray
    mean_field_mean_sq: np.ndarray
    log_ratio_sd: np.ndarray
    activation: str = "relu"  # the source's φ (an activation spec)

    def max_log_deviation(self) -> float:
        """max_l |log(r_l / predicted_ratio_l)| / log_ratio_sd_l (0 for the zero rule)."""
        if self.bias_rule == "zero":
            return 0.0
        return float(np.max(np.abs(np.log(self.ratio / self.predicted_ratio)) / self.log_ratio_sd))


#: the trapezoidal rule for E f(g), g ~ N(0, 1), on [−12, 12] with step 1/64: for an analytic
#: f growing at most polynomially its error is O(e^{−2π d/h}) (d the distance of f's nearest
#: complex singularity; Gauss–Hermite converges much slower for tanh's poles) plus the
#: truncated tail (≤ e^{−72})
_GRID = np.linspace(-12.0, 12.0, 24 * 64 + 1)


def second_moment(activation, q: float) -> float:
    """E φ(z)², z ~ N(0, q): q/2 for ReLU exactly, else by quadrature (:data:`_GRID`)."""
    act = get_activation(activation)
    if act.name == "relu":
        return q / 2
    values = act.forward(math.sqrt(q) * _GRID)
    density = np.exp(-0.5 * _GRID * _GRID) / math.sqrt(2.0 * math.pi)
    return float(np.sum(values * values * density) * (_GRID[1] - _GRID[0]))


def measure_signal_propagation(*, law: str = "normal", bias_rule: str = "product",
                               bias_factor: float = 1.0, width: int = 256, depth: int = 20,
                               n_inputs: int = 256, n_networks: int = 1, rng,
                               activation="relu") -> SignalPropagation:
    """Measure q_l, T^w_l, T^b_l, r_l on ``n_networks`` He-scaled networks of constant width.

    The networks are drawn with :func:`lotteryproofs.init.draw_source` (scheme ``law`` with
    ``bias_rule``, or ``law-zero-bias``), with ``activation`` φ between the layers; inputs are
    U[-1, 1]^width, fresh per network.
    """
    phi = get_activation(activation)
    if law not in LAW_VARIANCES:
        raise _validate.InputError(f"unknown law {law!r}; known laws: {', '.join(LAW_VARIANCES)}")
    if bias_rule not in BIAS_RULES:
        raise _validate.InputError(
            f"unknown bias rule {bias_rule!r}; known rules: {', '.join(BIAS_RULES)}"
        )
    beta = _validate.non_negative("bias_factor (β)", bias_factor)
    width = _validate.positive_int("width", width)
    depth = _validate.positive_int("depth", depth)
    n_inputs = _validate.positive_int("n_inputs", n_inputs)
    n_networks = _validate.positive_int("n_networks", n_networks)
    rng = _validate.rng(rng)
    widths = (width,) * (depth + 1)
    if bias_rule == "zero":
        scheme, options = f"{law}-zero-bias", {}
    else:
        scheme, options = law, {"bias_rule": bias_rule, "bias_factor": beta}
    var_w = var_b = LAW_VARIANCES[law]

    sums = np.zeros((5, depth))  # q, T^w, T^b, E[T^w | x], E[T^b]
    for _ in range(n_networks):
        draw = draw_source(scheme, widths, rng=rng, **options)
        cumulative = np.cumprod(draw.layer_scales)
        h = rng.uniform(-1.0, 1.0, (n_inputs, width))
        network = draw.network
        for layer, dense in enumerate(network.layers):
            # the layer's two parts are measured separately, so the loop is this module's;
            # Dense.forward computes the same sum in the same order
            b = dense.bias
            weight_part = h @ dense.weight.T
            z = weight_part + b
            bias_scale = {"zero": 0.0, "constant": 1.0, "product": cumulative[layer]}[bias_rule]
            sums[:, layer] += (
                np.mean(z * z),
                np.mean(weight_part * weight_part),
                np.mean(b * b),
                draw.layer_scales[layer] ** 2 * var_w * np.sum(np.mean(h * h, axis=0)),
                (beta * bias_scale) ** 2 * var_b,
            )
            if layer < network.depth - 1:
                h = phi.forward(z)
    q, t_w, t_b, e_w, e_b = sums / n_networks

    scales = np.array(draw.layer_scales)
    bias_scales = {"zero": np.zeros(depth), "constant": np.ones(depth),
                   "product": np.cumprod(scales)}[bias_rule]
    mean_field = np.empty(depth)
    previous = width / 3.0  # Σ_i E x_i² for x ~ U[-1, 1]^width; later q̄/2 per neuron
    for layer in range(depth):
        inputs = previous if layer == 0 else width * second_moment(phi, previous)
        gain = scales[layer] ** 2 * var_w * inputs
        mean_field[layer] = gain + (beta * bias_scales[layer]) ** 2 * var_b
        previous = mean_field[layer]

    samples = width * n_networks
    if bias_rule == "zero":
        sd = np.full(depth, np.nan)
    else:
        sd = np.full(depth, math.sqrt(
            (_SQUARE_RELATIVE_VARIANCE[law] + _WEIGHT_ROW_RELATIVE_VARIANCE) / samples))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(t_b == 0, 0.0, t_b / t_w)
        predicted_ratio = np.where(e_b == 0, 0.0, e_b / e_w)
    return SignalPropagation(
        law=law, bias_rule=bias_rule, bias_factor=beta, width=width, depth=depth,
        n_inputs=n_inputs, n_networks=n_networks, mean_sq_preactivation=q, weight_term=t_w,
        bias_term=t_b, ratio=ratio, predicted_weight_term=e_w, predicted_bias_term=e_b,
        predicted_ratio=predicted_ratio, mean_field_mean_sq=mean_field, log_ratio_sd=sd,
        activation=phi.spec,
    )


def bonferroni_z(level: float, comparisons: int) -> float:
    """Two-sided normal quantile z with P(|N(0,1)| > z) = level / comparisons."""
    level = _validate.open_unit("level", level)
    comparisons = _validate.positive_int("comparisons", comparisons)
    return NormalDist().inv_cdf(1.0 - level / (2.0 * comparisons))


def signal_table(results: list[SignalPropagation], layers=None) -> str:
    """A Markdown table: per layer, q_l and r_l of each result (columns in the given order)."""
    depth = results[0].depth
    layers = range(1, depth + 1) if layers is None else layers
    head = ["layer"]
    for r in results:
        head += [f"q ({r.law}, {r.bias_rule})", f"r ({r.law}, {r.bias_rule})"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for layer in layers:
        row = [str(layer)]
        for r in results:
            row += [f"{r.mean_sq_preactivation[layer - 1]:.4g}", f"{r.ratio[layer - 1]:.3e}"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def _main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        description="signal-propagation table (proofs/signal-propagation.md)")
    parser.add_argument("--width", type=int, default=256)
    parser.add_argument("--depth", type=int, default=20)
    parser.add_argument("--inputs", type=int, default=512)
    parser.add_argument("--networks", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--layers", type=int, nargs="*", help="rows to print (default: all)")
    parser.add_argument("--activation", default="relu", help="the source's activation")
    args = parser.parse_args(argv)
    for law in ("normal", "uniform"):
        results = [
            measure_signal_propagation(law=law, bias_rule=rule, width=args.width, depth=args.depth,
                                       n_inputs=args.inputs, n_networks=args.networks,
                                       rng=np.random.default_rng([args.seed, i]),
                                       activation=args.activation)
            for i, rule in enumerate(BIAS_RULES)
        ]
        print(f"\n### law = {law}, φ = {args.activation}, width {args.width}, β = 1, "
              f"{args.networks} networks × "
              f"{args.inputs} inputs, seed {args.seed}\n")
        print(signal_table(results, args.layers or None))
        for r in results[1:]:
            print(f"\n{r.bias_rule}: r_{r.depth}/r_1 = {r.ratio[-1] / r.ratio[0]:.3e}, "
                  f"max |log(r/r̂)|/sd = {r.max_log_deviation():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
