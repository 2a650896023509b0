"""``lotteryproofs export``: a ticket as a standalone network, a torch pruning state dict, or
its full source (lotteryproofs.export)."""

from __future__ import annotations

import argparse

from lotteryproofs import _validate

#: What the CLI checks before running (lotteryproofs.cli.check_declared_paths).
OUTPUTS = {"out": _validate.OutputFile((".npz", ".safetensors"), "an exported file")}
INPUTS = ("ticket",)

HELP = "export a ticket: the pruned network, a torch.nn.utils.prune state dict, or the source"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lotteryproofs.export import FORMATS

    parser.add_argument("ticket", metavar="TICKET", help="a ticket file (.npz or .safetensors)")
    parser.add_argument("--format", required=True, choices=FORMATS,
                        help="network: the pruned network with Λ⁻¹ folded in (a target file); "
                             "torch-prune: {i}.weight_orig/_mask, … for nn.Sequential; "
                             "source: the ticket with its whole source")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help="the output file (.npz or .safetensors)")


def run(args) -> int:
    from pathlib import Path

    from lotteryproofs import export, io, outputs

    out = Path(args.out)
    if out.suffix.lower() not in (".npz", ".safetensors"):
        raise _validate.InputError(
            f"--out {args.out}: the exported file ends in .npz or .safetensors")
    ticket_path = Path(args.ticket)
    if out.exists() and ticket_path.exists() and out.resolve() == ticket_path.resolve():
        raise _validate.InputError(f"--out {args.out} is the input ticket; give another file")
    ticket = io.load_ticket(args.ticket)
    with outputs.staged(args.out) as (staging,):
        _write(args.format, ticket, staging, export, io)
    return 0


def _write(fmt, ticket, out, export, io) -> None:
    if fmt == "network":
        network = export.standalone_network(ticket)
        io.save_target(network, out, export.network_metadata(ticket))
        print(f"network {list(network.widths)} ({network.count_nonzero()} nonzero parameters, "
              "Λ⁻¹ folded into the last layer) written")
    elif fmt == "torch-prune":
        full = io.full_source_ticket(ticket)
        io.write_arrays(out, export.torch_prune_arrays(full), export.torch_prune_metadata(full))
        modules = (f"{full.source.depth} Linear modules" if full.source.is_dense else
                   f"the {len(full.source.parameter_arrays) // 2} parameter modules of its "
                   "architecture")
        print(f"torch.nn.utils.prune state dict of {modules} (Λ under "
              f"{export.OUTPUT_SCALE_KEY!r}) written")
    else:
        io.save_ticket(ticket, out, store_source=True)
        print(f"ticket with its whole source ({ticket.source_params} parameters) written")
