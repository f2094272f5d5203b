"""The ``rainfuse`` command line.

``simulate``, ``bench``, ``evaluate``, ``verify``, ``backfill`` and ``inspect`` hand their remaining
arguments to the module that implements them (each has its own ``--help``); ``materialize`` and
``demo`` run the daily job in process against the Dagster instance in ``$DAGSTER_HOME``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings
from collections.abc import Callable, Sequence

from orchestration.commands.common import day_range, materialize_days, parse_day
from orchestration.runtime.config import PROJECT_ROOT, ConfigError

DELEGATED: dict[str, tuple[str, str]] = {
    "simulate": ("fusion_ops.simulate.cli", "write the synthetic observing system (real formats)"),
    "evaluate": (
        "orchestration.commands.evaluate",
        "score the MLP calibration chain on held-out data",
    ),
    "verify": ("orchestration.commands.verify", "verify daily fused products against gauges/truth"),
    "backfill": (
        "orchestration.commands.backfill",
        "submit a backfill of a date range to the instance",
    ),
    "inspect": (
        "orchestration.commands.inspect",
        "describe one radar, spaceborne, satellite or gauge file (local or s3://)",
    ),
    "srgr": ("orchestration.commands.srgr", "GR calibration offset against GPM/TRMM (SR-GR match)"),
}
BENCH_TARGETS = ("ingest", "imagery", "backfill", "all")
#: The benchmarks live in the source checkout (the top-level ``bench`` package), not in the wheel.
BENCH_DIR = PROJECT_ROOT / "bench"


def _cmd_materialize(args: argparse.Namespace) -> int:
    if args.date:
        days = [args.date.isoformat()]
    elif args.start and args.end:
        days = day_range(args.start, args.end)
    else:
        raise SystemExit("materialize: give --date D or --start D1 --end D2")
    return 0 if materialize_days(days, args.job) else 1


def _cmd_config(args: argparse.Namespace) -> int:
    import json

    from orchestration.runtime.config import load_config

    config = load_config(args.file)
    print(json.dumps(config.model_dump(mode="json"), indent=2))
    print(f"fingerprint {config.fingerprint()}", file=sys.stderr)
    return 0


def _run_module(module_name: str, argv: list[str]) -> int:
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name and module_name.startswith(error.name):
            print(f"rainfuse: {module_name} is not available in this version", file=sys.stderr)
            return 2
        raise
    entry: Callable[[list[str]], int | None] = module.main
    return int(entry(argv) or 0)


def _run_bench(argv: list[str]) -> int:
    """``rainfuse bench TARGET [options]``: ``bench.TARGET.main`` of the source checkout."""
    usage = f"usage: rainfuse bench {{{','.join(BENCH_TARGETS)}}} [options]"
    if argv[:1] in (["-h"], ["--help"]):
        print(f"{usage}\n\nEach target has its own --help (rainfuse bench all --help).")
        return 0
    if not argv or argv[0] not in BENCH_TARGETS:
        print(usage, file=sys.stderr)
        return 2
    if not (BENCH_DIR / "__init__.py").is_file():
        print(
            f"rainfuse: benchmarks run from a source checkout (no bench/ folder in {PROJECT_ROOT}); "
            "clone the repository and run them there (pip install -e . then rainfuse bench ...)",
            file=sys.stderr,
        )
        return 2
    # the checkout's root, so that ``bench`` is that folder (it is not an installed package)
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    return _run_module(f"bench.{argv[0]}", argv[1:])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rainfuse",
        description="Fuse rain gauges, ground radar, spaceborne radar and geostationary imagery.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="simulate the embedded default scenario and run the whole chain"
    )
    demo.add_argument("--days", type=int, default=None, help="number of simulated days")
    demo.add_argument("--fresh", action="store_true", help="re-simulate even if the archive exists")
    demo.add_argument(
        "--scenario",
        choices=["modern", "trmm"],
        default="modern",
        help="modern: 2021, dual-pol, GPM, ABI (default); trmm: 2009, single-pol, TRMM, no ABI",
    )
    for name, (_, text) in DELEGATED.items():
        sub.add_parser(name, help=text, add_help=False)
    bench = sub.add_parser(
        "bench", help="benchmarks side by side with library baselines", add_help=False
    )
    bench.add_argument("target", choices=BENCH_TARGETS)
    mat = sub.add_parser("materialize", help="materialize the daily job for a day or a date range")
    mat.add_argument("--date", type=parse_day)
    mat.add_argument("--start", type=parse_day)
    mat.add_argument("--end", type=parse_day)
    mat.add_argument("--job", default="daily_job")
    cfg = sub.add_parser(
        "config", help="validate and print the configuration (secrets stay references)"
    )
    cfg.add_argument("--file", default=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("PYART_QUIET", "1")
    # the code location uses partitioned asset checks knowingly (a Dagster preview API): the
    # warning repeats once per check at every load and says nothing an operator can act on
    warnings.filterwarnings("ignore", message=".*partitions_def on an AssetCheckSpec.*")
    try:
        if argv and argv[0] in DELEGATED:
            return _run_module(DELEGATED[argv[0]][0], argv[1:])
        if argv and argv[0] == "bench":
            return _run_bench(argv[1:])
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if args.command == "demo":
            from orchestration.demo import run_demo

            return run_demo(days=args.days, fresh=args.fresh, scenario=args.scenario)
        if args.command == "materialize":
            return _cmd_materialize(args)
        if args.command == "config":
            return _cmd_config(args)
    except ConfigError as error:
        print(f"rainfuse: {error}", file=sys.stderr)
        return 2
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
