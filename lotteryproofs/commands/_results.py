"""What ``construct`` writes and prints once a ticket is built, for every kind of target
(commands/construct.py, and commands/_conv.py for convolutional ones)."""

from __future__ import annotations


def write_results(args, ticket, data) -> None:
    """``--out`` (the ticket) and ``--json`` (``data``, its certificate): every file is written
    complete, or none is (outputs.staged; Ctrl-C safe)."""
    from lotteryproofs import io, outputs
    from lotteryproofs.progress import phase

    finals = [p for p in (args.out, args.json) if p]
    if not finals:
        return
    with phase("writing " + " and ".join(finals)), outputs.staged(*finals) as staging:
        paths = dict(zip(finals, staging, strict=True))
        if args.out:
            io.save_ticket(ticket, paths[args.out], store_source=args.store_source,
                           store_log=args.store_source or args.store_log)
        if args.json:
            io.write_json_atomic(paths[args.json], data)


def print_summary(args, ticket, target, observed: float, elapsed: float, dataset) -> None:
    """The lines after the source's: the ticket, its observed error, what was written and, for
    a target trained on a data set, the accuracy report."""
    from lotteryproofs.evaluate import format_report

    log = ticket.rss_log
    print(f"ticket: {ticket.count_nonzero()} nonzero parameters (target "
          f"{target.count_nonzero()}); {log.n_instances} RSS instances, "
          f"{int(log.failed.sum())} failed; max parameter error "
          f"{float(log.error.max(initial=0)):.3g}")
    # the largest error at random samples only; the certificate's observed error (--json,
    # verify) also climbs from them by gradient ascent, so it is larger or equal: a name apart
    print(f"sampled output error (largest at 10^4 random inputs from the box): {observed:.4g}; "
          f"construction time {elapsed:.2f} s")
    if args.out:
        print(f"ticket written to {args.out}")
    if args.json:
        print(f"certificate written to {args.json}")
    if dataset is not None:
        print(format_report(dataset))
