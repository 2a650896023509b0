"""``lotteryproofs verify``: the certificate of a ticket file against its target (DESIGN.md)."""

from __future__ import annotations

import argparse

HELP = (
    "certify a ticket against its target: observed, certified (rigorous) and a-priori "
    "output errors over the input box"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ticket", metavar="TICKET", help="a ticket file (.npz or .safetensors)")
    parser.add_argument("--target", required=True, help="the target file or built-in name")
    parser.add_argument(
        "--domain",
        nargs=2,
        type=float,
        metavar=("LO", "HI"),
        help="input box [LO, HI]^n0 (default: the ticket's box, else the target's, else -1 1)",
    )
    parser.add_argument("--json", metavar="CERT.json", help="write the certificate JSON here")
    parser.add_argument(
        "--samples",
        type=int,
        default=10_000,
        help="random inputs for the observed error (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of those samples (default: %(default)s)"
    )
    parser.add_argument(
        "--tight",
        type=float,
        metavar="FACTOR",
        help="input dimension ≤ 8: split the box until certified / observed ≤ FACTOR (or "
        "--tight-seconds), with a restarted observed search; reports both",
    )
    parser.add_argument(
        "--tight-seconds",
        type=float,
        default=60.0,
        help="time limit of --tight (default: %(default)s)",
    )


def format_certificate(cert) -> str:
    errors = cert.to_json()["errors"]
    lines = [
        f"method {cert.method}, init {cert.init}, ε' = {cert.eps_param}, δ = {cert.delta}",
        f"target widths {list(cert.target_widths)} ({cert.target_params_nonzero} nonzero), "
        f"source widths {list(cert.source_widths)}, ticket {cert.ticket_params_nonzero} nonzero, "
        f"Λ = {cert.scale:.6g}",
        f"domain {errors['domain']}",
        f"max parameter error     {cert.max_param_error:.6g}",
        f"observed output error   {cert.observed_output_error:.6g}   (exact, worst input found)",
        f"certified output error  {cert.certified_output_error:.6g}   (rigorous upper bound)",
        f"a-priori output error   {cert.a_priori_output_error:.6g}   (§5 closed form at ε')",
    ]
    if cert.rss is not None:
        lines.append(f"RSS: {cert.rss['instances']} instances, {cert.rss['failures']} failed")
    return "\n".join(lines)


def run(args) -> int:
    from lotteryproofs import io
    from lotteryproofs._validate import positive_int
    from lotteryproofs.certify import certify
    from lotteryproofs.commands._target import announce
    from lotteryproofs.network import Box

    samples = positive_int("--samples", args.samples)
    ticket = io.load_ticket(args.ticket)
    target, _, info = io.read_target_info(args.target)
    n0 = target.widths[0]
    if args.domain is not None:
        info = info.with_box(Box.cube(args.domain[0], args.domain[1], n0), "--domain")
    elif "domain" in ticket.metadata:
        info = info.with_box(Box.from_json(ticket.metadata["domain"]), "ticket")
    box = info.input_box
    tight = _tight_options(args, box)
    announce("verify", info)
    cert = certify(ticket, target, box, rng=args.seed, n_samples=samples,
                   observed_restarts=0 if tight is None else 4)
    print(format_certificate(cert))
    extra = {}
    if tight is not None:
        from lotteryproofs.certify.split import split_certify

        result = split_certify(ticket, target, box, tight[0], time_limit=tight[1],
                               observed=cert.observed_output_error,
                               observed_x=cert.worst_input)
        print(f"tight (factor {result.factor:g}): certified {result.certified:.6g}, observed "
              f"{result.observed:.6g}, ratio {result.certified / max(result.observed, 1e-300):.4g}"
              f" ({'reached' if result.reached else 'not reached'}; {result.cells} cells, "
              f"{result.seconds:.1f} s)")
        extra = {"tight": result.to_json()}
    if args.json:
        io.write_json_atomic(args.json, {**cert.to_json(), **extra,
                                         "assumptions": list(info.assumptions)})
    return 0


def _tight_options(args, box):
    """(FACTOR, seconds) of --tight, validated before any work, or None."""
    from lotteryproofs._validate import InputError, finite_scalar
    from lotteryproofs.certify.split import MAX_SPLIT_DIM

    if args.tight is None:
        return None
    factor = finite_scalar("--tight", args.tight)
    seconds = finite_scalar("--tight-seconds", args.tight_seconds)
    if factor < 1:
        raise InputError(f"--tight FACTOR must be ≥ 1, got {factor:g}")
    if seconds <= 0:
        raise InputError(f"--tight-seconds must be > 0, got {seconds:g}")
    if box.dim > MAX_SPLIT_DIM:
        raise InputError(
            f"--tight needs input dimension ≤ {MAX_SPLIT_DIM}; the target has {box.dim}"
        )
    return factor, seconds
