"""``lotteryproofs bounds``: the §5 and §6 bounds of a construction, symbolic and numeric."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate
from lotteryproofs.commands import _types

HELP = (
    "print the a-priori error bound, the per-parameter accuracy ε', the RSS instance count "
    "and the widths that guarantee success (THEORY.md §5, §6) as expressions and values"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lotteryproofs.construct.registry import construction_names, method_help

    parser.add_argument("--method", required=True, choices=construction_names(),
                        help=method_help())
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--target",
                       help="a target file or built-in name (its own norms are used); "
                            "this or --widths is required")
    which.add_argument(
        "--widths", help="target widths such as 8,16,4 (worst-case norms from --w-max/--b-max); "
                         "this or --target is required"
    )
    parser.add_argument("--eps", type=_types.positive_float, required=True,
                        help="absolute output error ε > 0")
    parser.add_argument(
        "--delta", type=_types.unit_open, required=True, help="failure probability δ in (0, 1)"
    )
    parser.add_argument(
        "--law",
        default="uniform",
        help="weight law D_w of the source: uniform or normal (default: %(default)s)",
    )
    parser.add_argument(
        "--beta", type=_types.positive_float, default=1.0,
        help="bias factor β > 0 of the source (default: %(default)s)"
    )
    parser.add_argument(
        "--C",
        dest="C",
        metavar="VALUE_OR_JSON",
        help="Lueker's constant: a number, or the JSON of `lotteryproofs "
        "constants --json` (its field C); without it C stays a symbol",
    )
    parser.add_argument(
        "--w-max",
        type=_types.positive_float,
        default=1.0,
        help="with --widths: bound on |target weights| (default: %(default)s)",
    )
    parser.add_argument(
        "--b-max",
        type=_types.non_negative_float,
        default=1.0,
        help="with --widths: bound on |target biases| (default: %(default)s)",
    )
    parser.add_argument(
        "--domain",
        nargs=2,
        type=_types.finite_float,
        metavar=("LO", "HI"),
        help="input box [LO, HI]^n0 with LO < HI (default: the target's box, else -1 1)",
    )
    parser.add_argument("--latex", action="store_true",
                        help="print LaTeX instead of plain text (default: plain text)")
    from lotteryproofs.commands._target import add_activation_argument

    add_activation_argument(parser)


def parse_C(text: str | None) -> tuple[float | None, str]:
    """(value, provenance) of --C: a number or a constants JSON file with a field C."""
    import json
    from pathlib import Path

    from lotteryproofs._validate import InputError, positive

    if text is None:
        return None, "C is a symbol: Lueker's constant is unpublished (THEORY.md §3); pass --C"
    try:
        return positive("--C", float(text)), f"C = {float(text)} given on the command line"
    except ValueError:
        pass
    path = Path(text)
    if not path.is_file():
        raise InputError(f"--C must be a positive number or a constants JSON file, got {text!r}")
    try:
        data = json.loads(path.read_text())
        value = positive(f"{path}: field C", data["C"])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise InputError(f"{path}: not a constants JSON with a numeric field C ({exc})") from None
    keys = ("law", "eps", "delta", "trials", "seed")
    origin = ", ".join(f"{k}={data[k]}" for k in keys if k in data)
    return value, f"C = {value} measured by `lotteryproofs constants` ({path}: {origin})"


def _norms(args):
    import numpy as np

    from lotteryproofs import bounds, io
    from lotteryproofs._validate import parse_widths
    from lotteryproofs.certify import rigorous_activation_bounds
    from lotteryproofs.commands._target import announce
    from lotteryproofs.construct.registry import check_supported
    from lotteryproofs.network import Box
    from lotteryproofs.target_info import DEFAULT_BOX, box_line

    if args.widths is not None:
        widths = parse_widths("--widths", args.widths, minimum_layers=2)
        if args.activation is not None:
            from lotteryproofs.target_info import hidden_activations

            check_supported(args.method, activations=hidden_activations(
                "--activation", args.activation, len(widths) - 2))
        lo, hi = DEFAULT_BOX if args.domain is None else args.domain
        source = "default" if args.domain is None else "--domain"
        print(box_line(Box.cube(lo, hi, widths[0]), source))
        bound = 1.0 if args.domain is None else max(abs(args.domain[0]), abs(args.domain[1]))
        norms = bounds.worst_case_norms(widths, w_max=args.w_max, b_max=args.b_max, box_bound=bound)
        if args.domain is not None and args.domain[0] >= 0:
            norms = bounds.TargetNorms(**{**norms.__dict__, "input_has_negative": False})
        return norms, f"worst case over targets with |w| ≤ {args.w_max}, |b| ≤ {args.b_max}"
    target, _, info = io.read_target_info(args.target, activation=args.activation)
    check_supported(args.method, target)
    if args.domain is not None:
        info = info.with_box(Box.cube(args.domain[0], args.domain[1], target.widths[0]), "--domain")
    box = info.input_box
    announce("bounds", info)
    activation = rigorous_activation_bounds(target, box)
    norms = bounds.target_norms(
        target, activation, input_has_negative=bool(np.any(box.has_negative))
    )
    return norms, f"the norms of {args.target} over the box {box.to_json()}"


def _format_value(value) -> str:
    import mpmath

    if value is None:
        return "(needs a value of C)"
    if isinstance(value, tuple):
        return "(" + ", ".join(_format_value(v) for v in value) + ")"
    if isinstance(value, mpmath.mpf):
        return mpmath.nstr(value, 12)
    return str(value)


def format_summary(summary, origin: str, *, latex: bool = False) -> str:
    import sympy

    from lotteryproofs.bounds import latex as to_latex

    lines = [
        f"method {summary.method}, weight law {summary.weight_law}, target widths "
        f"{list(summary.widths)}, ε = {summary.eps}, δ = {summary.delta}",
        f"norms: {origin}: a = {list(summary.norms.a)}, k = {list(summary.norms.k)}, "
        f"B = {list(summary.norms.B)}",
        summary.C_provenance,
        "",
    ]
    for row in summary.rows:
        expr = to_latex(row.expr) if latex else sympy.sstr(row.expr)
        value = (
            ""
            if row.value is None and row.name in ("a_priori_output_error", "G_l")
            else (f"  =  {_format_value(row.value)}")
        )
        if row.name == "eps_param" and row.value is None and not summary.spec.biases:
            value = "  =  none: the dropped biases alone exceed ε (zero-bias floor, THEORY.md §4.4)"
        lines.append(f"{row.name}: {row.description}")
        lines.append(f"    {expr}{value}")
    return "\n".join(lines)


def run(args) -> int:
    from lotteryproofs import bounds
    from lotteryproofs.construct.registry import get_construction

    if args.domain is not None:
        _validate.interval("--domain", *args.domain)
    spec = get_construction(args.method).bound
    bounds.check_weight_law(args.law)
    C_value, provenance = parse_C(args.C)
    norms, origin = _norms(args)
    summary = bounds.summarize(
        spec,
        norms,
        eps=args.eps,
        delta=args.delta,
        weight_law=args.law,
        beta=args.beta,
        C_value=C_value,
        C_provenance=provenance,
    )
    print(format_summary(summary, origin, latex=args.latex))
    return 0
