"""`convlab export-model RUN -o FILE`: a finished run's best-validation network
as a portable file (its state dict and spec) that loads without the store:
`convlab.api.load_model(FILE)`, or `torch.load(FILE, weights_only=True)` alone."""

from __future__ import annotations

from pathlib import Path

from convlab.cli.options import common
from convlab.errors import UserError


def add_export_model(sub) -> None:
    p = sub.add_parser(
        "export-model",
        help="write a finished run's trained network to a portable file",
        description="The run's best-validation parameters (the network whose test figure is reported) "
        "with its spec: a torch.save dict (state_dict, spec, run, epoch, test_accuracy), or a "
        ".safetensors file when -o ends in .safetensors (needs the safetensors package). Load it with "
        "convlab.api.load_model(FILE).",
    )
    p.add_argument("run", metavar="RUN", help="a finished training run's id")
    p.add_argument("-o", "--output", metavar="FILE", required=True, help="the file to write (.pt or .safetensors)")
    common(p)
    p.set_defaults(func=cmd_export_model)


def cmd_export_model(args) -> int:
    from convlab.inspect import trained, weights
    from convlab.store import Store

    store = Store(args.store)
    run = store.run(args.run)
    if run.kind == "ensemble":
        raise UserError(
            f"export-model: run {run.id} is a vote; export its members one by one ({', '.join(map(str, run.members))})"
        )
    epoch, state = trained.state_of(store, run)
    path = Path(args.output)
    if not path.parent.is_dir():
        raise UserError(f"-o {path}: its folder does not exist; create it or choose another path")
    meta = {"run": run.id, "preset": run.preset, "epoch": epoch, "test_accuracy": run.test_at_best}
    trained.network(run.spec, state)  # parameters that do not fit the spec are refused before writing
    weights.write_file(path, run.spec.to_dict(), state, meta)
    print(f"wrote run {run.id} ({run.preset}, best validation epoch {epoch}) to {path}")
    return 0
