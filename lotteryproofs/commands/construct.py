"""``lotteryproofs construct``: a ticket for a target inside a freshly drawn random source."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate
from lotteryproofs.commands import _types

HELP = "construct a strong lottery ticket for a target (the --method constructions)"
#: result paths, checked before any work (cli.check_declared_paths); inputs never overwritten
OUTPUTS = {"out": _validate.TICKET_FILE, "json": _validate.JSON_FILE}
INPUTS = ("target",)
INIT_SCHEMES = ("uniform", "normal", "looks-linear", "uniform-zero-bias", "normal-zero-bias")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET",
                        help="target file (.npz/.safetensors) or built-in name "
                             "(random:8-16-4[:SEED], lenet300100, digits-64-32, "
                             "breast-cancer-16-8, wine-16-8)")
    from lotteryproofs.construct.registry import construction_names, method_help

    parser.add_argument("--method", required=True, choices=construction_names(),
                        help=method_help())
    eps = parser.add_mutually_exclusive_group()
    eps.add_argument("--eps-param", type=_types.positive_float, metavar="E",
                     help="per-parameter accuracy ε' of every subset sum (default 0.01)")
    eps.add_argument("--eps", type=_types.positive_float, metavar="E",
                     help="absolute output error ε over the input box, any value > 0; ε' is "
                          "chosen by the a-priori bound (methods 2l, ll, l+1-bounded, zero-bias)")
    parser.add_argument("--delta", type=_types.unit_open, default=0.1,
                        help="allowed failure probability δ in (0, 1), sizes ρ "
                             "(default: %(default)s)")
    parser.add_argument("--init", default=None, metavar="SCHEME",
                        help=f"initialisation scheme, one of {', '.join(INIT_SCHEMES)} "
                             "(default: uniform; looks-linear for ll; uniform-zero-bias for "
                             "zero-bias)")
    parser.add_argument("--domain", nargs=2, type=_types.finite_float, metavar=("LO", "HI"),
                        help="input box [LO, HI]^n0 with LO < HI (default: the target's own "
                             "box, else -1 1)")
    parser.add_argument("--seed", type=_types.seed, default=0,
                        help="seed of the source draw, an integer >= 0 (default: %(default)s)")
    parser.add_argument("--rho", type=_types.positive_int, default=None,
                        help="block multiplicity ρ >= 1 (default: the a-priori width "
                             "requirement)")
    from lotteryproofs.construct.registry import CONSTRUCTIONS

    # declared once, as a construction option (l+1 family); construct() validates it
    rho_in = next(o for c in CONSTRUCTIONS.values() for o in c.options if o.name == "rho_in")
    parser.add_argument("--rho-in", type=int, default=None, metavar="N",
                        help=f"{rho_in.help}; l+1 methods only (default: ρ, or the a-priori "
                             "width requirement when ρ is not given)")
    parser.add_argument("--widen", action="store_true",
                        help="where an instance fails, add genuinely new neurons and solve "
                             "again (2l, ll, zero-bias)")
    parser.add_argument("--out", metavar="TICKET.npz",
                        help="write the ticket here (.npz or .safetensors; default: not written)")
    parser.add_argument("--store-source", action="store_true",
                        help="write the whole source, its masks and the RSS log into the ticket "
                             "(default: compact, the seed and the kept parameters)")
    parser.add_argument("--store-log", action="store_true",
                        help="keep the RSS log in a compact ticket too (its summary is always "
                             "kept)")
    parser.add_argument("--json", metavar="CERT.json",
                        help="write the certificate JSON here (default: not written)")
    from lotteryproofs.commands._target import add_activation_argument

    add_activation_argument(parser)


def _eps_param_from_eps(eps: float, method: str, target, domain) -> float:
    from lotteryproofs import bounds
    from lotteryproofs._validate import InputError
    from lotteryproofs.construct.registry import get_construction

    spec = get_construction(method).bound
    if spec.needs_gains:
        # the l+1 a-priori bound needs gain bounds G_l that THEORY.md does not give
        raise InputError(
            f"--eps needs the a-priori bound, which for {method} needs gain bounds G_l that the "
            "theory does not give; give --eps-param E instead (e.g. --eps-param 1e-4), or "
            "use --method 2l or ll with --eps")
    norms = bounds.target_norms(target, target.activation_bounds(domain),
                                input_has_negative=bool(domain.has_negative.any()))
    eps_param = bounds.solve_eps_param(spec, norms, eps)
    if eps_param is None:
        raise InputError(f"no ε' > 0 makes the a-priori bound ≤ ε = {eps} for this target "
                         "(its floor at ε' → 0 already exceeds ε)")
    # round down: a smaller ε' keeps the a-priori bound ≤ ε
    return float(eps_param) * (1 - 1e-12)


def _domain(args, n_0, metadata):
    from lotteryproofs import io
    from lotteryproofs.network import Box

    if args.domain:
        return Box.cube(*_validate.interval("--domain", *args.domain), n_0)
    return io.target_box(metadata, n_0)


def run(args) -> int:
    import time

    import numpy as np

    from lotteryproofs import io, memory
    from lotteryproofs.commands._results import print_summary, write_results
    from lotteryproofs.commands._target import announce
    from lotteryproofs.construct import construct, source_widths
    from lotteryproofs.construct.registry import check_supported
    from lotteryproofs.network import Box
    from lotteryproofs.progress import phase

    if args.domain:
        _validate.interval("--domain", *args.domain)
    # the target's own size first: a random target is allocated when it is drawn
    memory.check_target_spec(args.target, method=args.method, rho=args.rho,
                             certify=bool(args.json), save=bool(args.out), init=args.init)
    with phase("reading the target"):
        target, metadata, info = io.read_target_info(args.target, activation=args.activation)
    if not target.is_dense:  # conv, pooling, residual layers: the convolutional constructions
        from lotteryproofs.commands import _conv

        return _conv.construct(args, target, metadata, info)
    check_supported(args.method, target)
    n_0 = target.widths[0]
    if args.domain:
        info = info.with_box(Box.cube(args.domain[0], args.domain[1], n_0), "--domain")
    domain = info.input_box
    announce("construct", info)
    if args.eps is not None:
        eps_param = _eps_param_from_eps(args.eps, args.method, target, domain)
    else:
        eps_param = 0.01 if args.eps_param is None else args.eps_param
    if args.rho is not None:
        memory.check_construct(target, args.method, source_widths(args.method, target.widths,
                                                                  args.rho),
                               args.rho, certify=bool(args.json), save=bool(args.out),
                               init=args.init)
    start = time.perf_counter()
    with phase(f"constructing ({args.method}: drawing the source, solving the subset sums)"):
        ticket = construct(target, args.method, eps_param=eps_param, delta=args.delta,
                           init=args.init, rng=np.random.SeedSequence(args.seed),
                           domain=domain, rho=args.rho, widen=args.widen,
                           keep_source=False, rho_in=args.rho_in)
    elapsed = time.perf_counter() - start
    if args.rho is None:  # ρ from the a-priori requirement: the remaining stages, now known
        memory.check_construct(target, args.method, ticket.source_widths,
                               int(ticket.metadata["rho"]), certify=bool(args.json),
                               save=bool(args.out), source_allocated=True,
                               init=args.init)
    from lotteryproofs.background import Background
    from lotteryproofs.evaluate import dataset_report

    with phase("evaluating on the target's data set"):
        dataset = dataset_report(target, ticket, metadata)  # None unless trained on a dataset
    if args.json and target.is_relu:
        # the certificate's read-back of the masks (kept on the ticket), before the sampled
        # error starts: the largest temporaries of the two are then never alive at once
        from lotteryproofs.certify.candidates import ticket_layers

        with phase("reading the ticket's masks back"):
            ticket_layers(ticket)
    # the sampled error (its own rng, read-only inputs) beside the certificate
    sampled = Background(_sampled_error, ticket, target, domain, args.seed + 1,
                         name="sampled-error")
    data = None
    if args.json:
        from lotteryproofs.certify import certify

        with phase("certifying (outward-rounded interval arithmetic)"):
            data = certify(ticket, target, domain).to_json()
        data.setdefault("time_s", elapsed)
        if dataset is not None:
            data["dataset"] = dataset
        data["assumptions"] = [*info.assumptions, *ticket.metadata.get("notes", ())]
    observed = sampled.result()
    write_results(args, ticket, data)
    print(f"method {args.method}, init {ticket.metadata['init']}, ε' = {eps_param:.6g}, "
          f"ρ = {ticket.metadata['rho']} ({ticket.metadata['rho_source']})")
    for note in ticket.metadata.get("notes", ()):
        print(f"note: {note}")
    print(f"source widths {list(ticket.source_widths)} ({ticket.source_params} parameters), "
          f"Λ = {ticket.scale:.6g}")
    print_summary(args, ticket, target, observed, elapsed, dataset)
    return 0


def _sampled_error(ticket, target, domain, seed: int) -> float:
    """The largest ‖f_T − Λ⁻¹ f_S‖_∞ at 10⁴ inputs drawn uniformly from the box with
    ``default_rng(seed)`` (a lower bound of the sup; the certificate's observed error climbs
    from its own samples)."""
    import numpy as np

    x = domain.sample(10_000, np.random.default_rng(seed))
    return float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
