"""``lotteryproofs verify``: the certificate of a ticket file against its target (DESIGN.md)."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate
from lotteryproofs.commands import _types

HELP = (
    "certify a ticket against its target: observed, certified (rigorous) and a-priori "
    "output errors over the input box; exit 1 if the file's metadata disagrees with its "
    "masks, source or target, or the certificate is contradicted by its own observation"
)


#: result paths, checked before any work (cli.check_declared_paths); inputs never overwritten
OUTPUTS = {"json": _validate.JSON_FILE}
INPUTS = ("ticket", "target")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ticket", metavar="TICKET", help="a ticket file (.npz or .safetensors)")
    parser.add_argument("--target", required=True,
                        help="the target file or built-in name the ticket was built for")
    parser.add_argument(
        "--domain",
        nargs=2,
        type=_types.finite_float,
        metavar=("LO", "HI"),
        help="input box [LO, HI]^n0 with LO < HI (default: the ticket's box, else the "
             "target's, else -1 1)",
    )
    parser.add_argument("--json", metavar="CERT.json",
                        help="write the certificate JSON here (default: not written)")
    parser.add_argument(
        "--samples",
        type=_types.positive_int,
        default=10_000,
        help="random inputs for the observed error (default: %(default)s)",
    )
    parser.add_argument(
        "--seed", type=_types.seed, default=0,
        help="seed of those samples, an integer >= 0 (default: %(default)s)"
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
    from lotteryproofs.commands._target import add_activation_argument

    add_activation_argument(parser)
    parser.add_argument(
        "--full", action="store_true",
        help="a compact ticket: also regenerate its whole source and check its sha256",
    )


def check_full_source(ticket, path) -> str:
    """Regenerate a compact ticket's whole source (band by band) and match its sha256."""
    from lotteryproofs._validate import InputError

    if ticket.origin is None:
        return "the ticket holds its whole source (nothing to regenerate)"
    recorded = ticket.origin.source_sha256
    if recorded is None:
        raise InputError(f"{path}: the ticket records no sha256 of its source to check")
    digest = ticket.origin.spec.sha256()
    if digest != recorded:
        raise InputError(
            f"{path}: the regenerated source has sha256 {digest}, the ticket records {recorded}")
    return f"source regenerated from the seed: sha256 {digest} matches"


def format_certificate(cert) -> str:
    errors = cert.to_json()["errors"]
    # the Lipschitz path (activations other than ReLU) evaluates φ in float64 and has no
    # a-priori bound: the certificate says which
    observed_how = ("exact, worst input found" if cert.observed_exact
                    else "float64 estimate, worst input found")
    a_priori_how = (f"{cert.a_priori_kind or '§5 closed form'} at ε'" if cert.a_priori_proven
                    else "none proven for this target")
    if cert.a_priori_proven and not cert.a_priori_holds:
        # the closed form assumes every represented parameter within ε' (failed subset sums
        # break that), so it is not a bound on this ticket's error and may lie below observed
        a_priori_how += ("; not a bound for this ticket: its parameters are not all provably "
                         f"within ε' (max error {cert.max_param_error:.3g})")
    lines = [
        f"method {cert.method}, init {cert.init}, ε' = {cert.eps_param}, δ = {cert.delta}",
        f"target widths {list(cert.target_widths)} ({cert.target_params_nonzero} nonzero), "
        f"source widths {list(cert.source_widths)}, ticket {cert.ticket_params_nonzero} nonzero, "
        f"Λ = {cert.scale:.6g}",
        f"domain {errors['domain']}",
        f"max parameter error     {cert.max_param_error:.6g}",
        f"observed output error   {cert.observed_output_error:.6g}   ({observed_how})",
        f"certified output error  {cert.certified_output_error:.6g}   (rigorous upper bound)",
        f"a-priori output error   {cert.a_priori_output_error:.6g}   ({a_priori_how})",
    ]
    if cert.rss is not None:
        lines.append(f"RSS: {cert.rss['instances']} instances, {cert.rss['failures']} failed")
    return "\n".join(lines)


def run(args) -> int:
    from lotteryproofs import io, memory, outputs
    from lotteryproofs.certify import certify
    from lotteryproofs.commands._target import announce
    from lotteryproofs.network import Box
    from lotteryproofs.progress import phase

    samples = _validate.positive_int("--samples", args.samples)
    if args.domain is not None:
        domain = _validate.interval("--domain", *args.domain)
    memory.check_verify(args.ticket)
    with phase("reading the ticket and the target"):
        ticket = io.load_ticket(args.ticket)
        target, _, info = io.read_target_info(args.target, activation=args.activation)
    from lotteryproofs.ticket import ConvTicket

    if isinstance(ticket, ConvTicket):  # a convolutional source: its own checks and bound
        from lotteryproofs.commands import _conv

        return _conv.verify(args, ticket, target, info, _reject, format_certificate)
    from lotteryproofs.construct.registry import CONSTRUCTIONS, check_supported

    method = ticket.metadata.get("method")
    if method in CONSTRUCTIONS:
        check_supported(method, target)
    # --full: the whole source is regenerated and hashed beside the checks and the certificate
    # (band kernel and hashlib release the GIL); its verdict is awaited before anything is
    # written or printed
    from lotteryproofs.background import Background

    full_check = (Background(check_full_source, ticket, args.ticket, name="source-sha256")
                  if args.full else None)
    n0 = target.widths[0]
    if args.domain is not None:
        info = info.with_box(Box.cube(*domain, n0), "--domain")
    elif "domain" in ticket.metadata:
        info = info.with_box(Box.from_json(ticket.metadata["domain"]), "ticket")
    box = info.input_box
    tight = _tight_options(args, box)
    announce("verify", info)
    from lotteryproofs.ticket_checks import TicketMismatch, check_reported_failures, check_ticket

    try:
        try:
            # the file is untrusted: everything the certificate reads from its metadata is
            # recomputed from the masks, the source and the target first
            with phase("recomputing the ticket's metadata from its masks, source and target"):
                notes = check_ticket(ticket, target)
            with phase("certifying (observed error search, outward-rounded interval "
                       "arithmetic)"):
                cert = certify(ticket, target, box, rng=args.seed, n_samples=samples,
                               observed_restarts=0 if tight is None else 4)
            if box.to_json() == _ticket_box(ticket, n0).to_json():
                check_reported_failures(ticket, cert.max_param_error, cert.eps_param)
        finally:
            if full_check is not None:
                # a source that does not regenerate is reported first, whatever else failed
                full_check = full_check.result()
    except TicketMismatch as exc:
        return _reject(str(exc))
    if not cert.observed_output_error <= cert.certified_output_error:
        print(format_certificate(cert))
        return _reject(
            "certificate contradicted by its own observation: observed "
            f"{cert.observed_output_error!r} > certified {cert.certified_output_error!r}")
    extra, tight_line = {}, None
    if tight is not None:
        from lotteryproofs.certify.split import split_certify

        with phase("splitting the box (--tight)"):
            result = split_certify(ticket, target, box, tight[0], time_limit=tight[1],
                                   observed=cert.observed_output_error,
                                   observed_x=cert.worst_input)
        tight_line = (
            f"tight (factor {result.factor:g}): certified {result.certified:.6g}, observed "
            f"{result.observed:.6g}, ratio {result.certified / max(result.observed, 1e-300):.4g}"
            f" ({'reached' if result.reached else 'not reached'}; {result.cells} cells, "
            f"{result.seconds:.1f} s)")
        extra = {"tight": result.to_json()}
        if not result.observed <= result.certified:
            return _reject(
                "certificate contradicted by its own observation: observed "
                f"{result.observed!r} > certified {result.certified!r} (--tight)")
    if args.json:
        with outputs.staged(args.json) as (staging,):
            io.write_json_atomic(staging, {**cert.to_json(), **extra,
                                           "assumptions": [*info.assumptions, *notes]})
    print(format_certificate(cert))
    for note in notes:
        print(f"note: {note}")
    if full_check is not None:
        print(full_check)
    if tight_line is not None:
        print(tight_line)
    return 0


def _ticket_box(ticket, n0: int):
    """The box the ticket was built for (construct's default [−1, 1]^n0 when it names none)."""
    from lotteryproofs.network import Box

    domain = ticket.metadata.get("domain")
    return Box.from_json(domain) if domain is not None else Box.cube(-1.0, 1.0, n0)


def _reject(reason: str) -> int:
    """A ticket that verify does not accept (not bad input): one line on stderr, exit 1."""
    import sys

    print(f"lotteryproofs verify: rejected: {reason}", file=sys.stderr)
    return 1


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
