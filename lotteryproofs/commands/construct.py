"""``lotteryproofs construct``: a ticket for a target inside a freshly drawn random source."""

from __future__ import annotations

import argparse

HELP = "construct a strong lottery ticket for a target (2l, ll, l+1 or zero-bias)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="TARGET",
                        help="target file (.npz/.safetensors) or built-in name "
                             "(random:8-16-4[:SEED], lenet300100, …)")
    from lotteryproofs.construct.registry import construction_names

    parser.add_argument("--method", required=True, choices=construction_names())
    eps = parser.add_mutually_exclusive_group()
    eps.add_argument("--eps-param", type=float, metavar="E",
                     help="per-parameter accuracy ε' of every subset sum (default 0.01)")
    eps.add_argument("--eps", type=float, metavar="E",
                     help="output accuracy ε; ε' is chosen by the a-priori bound (bounds.py)")
    parser.add_argument("--delta", type=float, default=0.1,
                        help="allowed failure probability δ (sizes ρ; default %(default)s)")
    parser.add_argument("--init", default=None,
                        help="initialisation scheme (default: uniform; looks-linear for ll; "
                             "uniform-zero-bias for zero-bias)")
    parser.add_argument("--domain", nargs=2, type=float, metavar=("LO", "HI"),
                        help="input box [LO, HI]^n0 (default: the target's own box, else -1 1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the source draw")
    parser.add_argument("--rho", type=int, default=None,
                        help="block multiplicity ρ (default: the a-priori width requirement)")
    from lotteryproofs.construct.registry import CONSTRUCTIONS

    # declared once, as a construction option (l+1 family); construct() validates it
    rho_in = next(o for c in CONSTRUCTIONS.values() for o in c.options if o.name == "rho_in")
    parser.add_argument("--rho-in", type=int, default=None, metavar="N",
                        help=f"{rho_in.help}; l+1 methods only (default: ρ, or the a-priori "
                             "width requirement when ρ is not given)")
    parser.add_argument("--widen", action="store_true",
                        help="where an instance fails, add genuinely new neurons and solve again")
    parser.add_argument("--out", metavar="TICKET.npz", help="write the ticket here")
    parser.add_argument("--json", metavar="CERT.json", help="write the certificate JSON here")


def _eps_param_from_eps(eps: float, method: str, target, domain) -> float:
    from lotteryproofs import bounds
    from lotteryproofs._validate import InputError, positive
    from lotteryproofs.construct.registry import get_construction

    eps = positive("--eps (ε)", eps)
    norms = bounds.target_norms(target, target.activation_bounds(domain),
                                input_has_negative=bool(domain.has_negative.any()))
    eps_param = bounds.solve_eps_param(get_construction(method).bound, norms, eps)
    if eps_param is None:
        raise InputError(f"no ε' > 0 makes the a-priori bound ≤ ε = {eps} for this target")
    # round down: a smaller ε' keeps the a-priori bound ≤ ε
    return float(eps_param) * (1 - 1e-12)


def run(args) -> int:
    import time

    import numpy as np

    from lotteryproofs import io
    from lotteryproofs._validate import InputError
    from lotteryproofs.commands._target import announce
    from lotteryproofs.construct import construct
    from lotteryproofs.network import Box

    target, metadata, info = io.read_target_info(args.target)
    n_0 = target.widths[0]
    if args.domain:
        info = info.with_box(Box.cube(args.domain[0], args.domain[1], n_0), "--domain")
    domain = info.input_box
    announce("construct", info)
    if args.eps is not None:
        eps_param = _eps_param_from_eps(args.eps, args.method, target, domain)
    else:
        eps_param = 0.01 if args.eps_param is None else args.eps_param
    for option, path in (("--out", args.out), ("--json", args.json)):
        if path and not path.lower().endswith((".npz", ".safetensors", ".json")):
            raise InputError(f"{option} {path}: unexpected file type")
    if args.out and not args.out.lower().endswith((".npz", ".safetensors")):
        raise InputError(f"--out {args.out}: a ticket file ends in .npz or .safetensors")
    if args.json and not args.json.lower().endswith(".json"):
        raise InputError(f"--json {args.json}: the certificate file ends in .json")
    start = time.perf_counter()
    ticket = construct(target, args.method, eps_param=eps_param, delta=args.delta,
                       init=args.init, rng=np.random.SeedSequence(args.seed), domain=domain,
                       rho=args.rho, widen=args.widen, rho_in=args.rho_in)
    elapsed = time.perf_counter() - start
    from lotteryproofs.evaluate import dataset_report, format_report

    dataset = dataset_report(target, ticket, metadata)  # None unless trained on a dataset
    certificate = None
    if args.json:
        from lotteryproofs.certify import certify

        certificate = certify(ticket, target, domain)
    if args.out:
        io.save_ticket(ticket, args.out)
    if certificate is not None:
        data = certificate.to_json()
        data.setdefault("time_s", elapsed)
        if dataset is not None:
            data["dataset"] = dataset
        data["assumptions"] = list(info.assumptions)
        io.write_json_atomic(args.json, data)
    from lotteryproofs.construct.common import compact

    log = ticket.rss_log
    x = domain.sample(10_000, np.random.default_rng(args.seed + 1))
    approx = compact(ticket.network).forward(x) / ticket.scale
    observed = float(np.max(np.abs(approx - target.forward(x))))
    print(f"method {args.method}, init {ticket.metadata['init']}, ε' = {eps_param:.6g}, "
          f"ρ = {ticket.metadata['rho']} ({ticket.metadata['rho_source']})")
    print(f"source widths {list(ticket.source.widths)} ({ticket.source.n_params} parameters), "
          f"Λ = {ticket.scale:.6g}")
    print(f"ticket: {ticket.count_nonzero()} nonzero parameters (target "
          f"{target.count_nonzero()}); {log.n_instances} RSS instances, "
          f"{int(log.failed.sum())} failed; max parameter error "
          f"{float(log.error.max(initial=0)):.3g}")
    print(f"observed output error on 10^4 inputs from the box: {observed:.4g}; "
          f"construction time {elapsed:.2f} s")
    if args.out:
        print(f"ticket written to {args.out}")
    if args.json:
        print(f"certificate written to {args.json}")
    if dataset is not None:
        print(format_report(dataset))
    return 0
