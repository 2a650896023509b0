"""``construct`` and ``verify`` for convolutional and residual targets (the conv 2L
construction, proofs/conv-2l-construction.md): the commands hand a target that is not fully
connected to these functions, which write the same files and print the same lines."""

from __future__ import annotations

from lotteryproofs import _validate

#: Laws of the convolutional source (``--init``): the i.i.d. schemes with nonzero biases.
CONV_INITS = ("uniform", "normal")


def _refuse_options(args) -> None:
    """What the dense constructions take and the convolutional one does not: one line each."""
    for flag, given in (("--eps", args.eps is not None), ("--rho-in", args.rho_in is not None),
                        ("--widen", bool(args.widen))):
        if given:
            raise _validate.InputError(
                f"{flag} is not available for convolutional targets (the conv {args.method} "
                "construction); give --eps-param and --rho instead")
    if args.init is not None and args.init not in CONV_INITS:
        raise _validate.InputError(
            f"--init {args.init}: a convolutional source is drawn from one of "
            f"{', '.join(CONV_INITS)}")


def construct(args, target, metadata, info) -> int:
    """``lotteryproofs construct`` for a convolutional target (commands/construct.py)."""
    import time

    import numpy as np

    from lotteryproofs.commands._results import print_summary, write_results
    from lotteryproofs.commands._target import announce
    from lotteryproofs.construct.conv_two_layer import construct_conv_ticket
    from lotteryproofs.construct.registry import get_conv_construction
    from lotteryproofs.evaluate import dataset_report
    from lotteryproofs.network import Box
    from lotteryproofs.progress import phase

    construction = get_conv_construction(args.method)
    construction.supports.check(construction.owner, target)
    _refuse_options(args)
    n_0 = target.widths[0]
    if args.domain:
        info = info.with_box(Box.cube(args.domain[0], args.domain[1], n_0), "--domain")
    domain = info.input_box
    announce("construct", info)
    eps_param = 0.01 if args.eps_param is None else args.eps_param
    law = args.init or "uniform"
    start = time.perf_counter()
    with phase(f"constructing (conv {args.method}: drawing the source, solving the subset "
               "sums)"):
        ticket = construct_conv_ticket(target, eps_param=eps_param, delta=args.delta,
                                       rng=np.random.SeedSequence(args.seed), domain=domain,
                                       rho=args.rho, law=law, construction=construction)
    elapsed = time.perf_counter() - start
    with phase("measuring the sampled error on 10^4 random inputs"):
        dataset = dataset_report(target, ticket, metadata)
        x = domain.sample(10_000, np.random.default_rng(args.seed + 1))
        observed = float(np.max(np.abs(ticket.approximation(x) - target.forward(x))))
    data = None
    if args.json:
        from lotteryproofs.certify.conv import certify_conv

        with phase("certifying (per-pixel §5 recursion, outward-rounded)"):
            data = certify_conv(ticket, target, domain, rng=args.seed).to_json()
        data.setdefault("time_s", elapsed)
        if dataset is not None:
            data["dataset"] = dataset
        data["assumptions"] = list(info.assumptions)
    write_results(args, ticket, data)
    meta = ticket.metadata
    print(f"method {args.method} (conv), init {law}, ε' = {eps_param:.6g}, ρ = {meta['rho']} "
          f"({meta['rho_source']})")
    print(f"source: {len(ticket.source.layers)} layers, {ticket.source_params} parameters, "
          f"Λ = {ticket.scale:.6g}")
    print_summary(args, ticket, target, observed, elapsed, dataset)
    return 0


def verify(args, ticket, target, info, reject, format_certificate) -> int:
    """``lotteryproofs verify`` of a convolutional ticket (commands/verify.py): the file's
    metadata recomputed from the target and the masks, then the certificate."""
    from lotteryproofs import io, outputs
    from lotteryproofs.certify.conv import certify_conv
    from lotteryproofs.commands._target import announce
    from lotteryproofs.network import Box
    from lotteryproofs.progress import phase
    from lotteryproofs.ticket_checks import TicketMismatch, check_conv_ticket

    if args.tight is not None:
        raise _validate.InputError("--tight is not available for convolutional tickets")
    n0 = target.widths[0]
    if args.domain is not None:
        info = info.with_box(Box.cube(*args.domain, n0), "--domain")
    elif "domain" in ticket.metadata:
        info = info.with_box(Box.from_json(ticket.metadata["domain"]), "ticket")
    box = info.input_box
    announce("verify", info)
    try:
        with phase("recomputing the ticket's metadata from its masks, source and target"):
            notes = check_conv_ticket(ticket, target)
        with phase("certifying (observed error, per-pixel §5 recursion)"):
            cert = certify_conv(ticket, target, box, rng=args.seed, n_samples=args.samples)
        if "domain" not in ticket.metadata or box.to_json() == ticket.metadata["domain"]:
            from lotteryproofs.ticket_checks import check_conv_reported_failures

            check_conv_reported_failures(ticket, cert.max_param_error, cert.eps_param)
    except TicketMismatch as exc:
        return reject(str(exc))
    if not cert.observed_output_error <= cert.certified_output_error:
        print(format_certificate(cert))
        return reject("certificate contradicted by its own observation: observed "
                      f"{cert.observed_output_error!r} > certified "
                      f"{cert.certified_output_error!r}")
    if args.json:
        with outputs.staged(args.json) as (staging,):
            io.write_json_atomic(staging, {**cert.to_json(),
                                           "assumptions": [*info.assumptions, *notes]})
    print(format_certificate(cert))
    for note in notes:
        print(f"note: {note}")
    if args.full:
        print(_check_full_source(ticket, args.ticket))
    return 0


def _check_full_source(ticket, path) -> str:
    """Draw the source again from the recorded seed and match its sha256 (``--full``)."""
    digest = ticket.origin.spec.sha256()
    if digest != ticket.origin.source_sha256:
        raise _validate.InputError(f"{path}: the regenerated source has sha256 {digest}, the "
                                   f"ticket records {ticket.origin.source_sha256}")
    return f"source regenerated from the seed: sha256 {digest} matches"
