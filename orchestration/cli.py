"""The ``rainfuse`` command line.

``simulate``, ``bench``, ``evaluate``, ``verify`` and ``backfill`` hand their remaining arguments to the
module that implements them (each has its own ``--help``); ``materialize`` and ``demo`` run the
daily job in process against the Dagster instance in ``$DAGSTER_HOME``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import os
import sys
from collections.abc import Callable, Sequence

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
}
BENCH_TARGETS = ("ingest", "imagery", "all")


def ensure_dagster_home() -> str:
    """Use ``$DAGSTER_HOME`` or a project-local instance so runs show up in ``make ui``."""
    home = os.environ.get("DAGSTER_HOME") or str(PROJECT_ROOT / "data" / "dagster_home")
    os.makedirs(home, exist_ok=True)
    config_file = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config_file):
        with open(config_file, "w") as handle:
            handle.write("telemetry:\n  enabled: false\n")
    os.environ["DAGSTER_HOME"] = home
    return home


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def day_range(start: dt.date, end: dt.date) -> list[str]:
    """Inclusive list of ISO dates."""
    if end < start:
        raise ValueError(f"--end {end} is before --start {start}")
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def materialize_days(days: Sequence[str], job_name: str = "daily_job") -> bool:
    """Run ``job_name`` for each day in process; returns True when every run succeeded."""
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    ensure_dagster_home()
    instance = DagsterInstance.get()
    graph = defs.resolve_asset_graph()
    if not any(
        graph.get(key).partitions_def is not None for key in graph.materializable_asset_keys
    ):
        print("[rainfuse] no daily-partitioned assets are defined yet", file=sys.stderr)
        return True
    job = defs.resolve_job_def(job_name)
    ok = True
    for day in days:
        print(f"[rainfuse] materializing {job_name} for {day}", file=sys.stderr, flush=True)
        result = job.execute_in_process(partition_key=day, instance=instance, raise_on_error=False)
        ok &= result.success
        state = "ok" if result.success else "FAILED"
        print(f"[rainfuse] {day}: {state} (run {result.run_id})", file=sys.stderr, flush=True)
    return ok


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
    try:
        if argv and argv[0] in DELEGATED:
            return _run_module(DELEGATED[argv[0]][0], argv[1:])
        if argv and argv[0] == "bench":
            if len(argv) < 2 or argv[1] not in BENCH_TARGETS:
                print(
                    f"usage: rainfuse bench {{{','.join(BENCH_TARGETS)}}} [options]",
                    file=sys.stderr,
                )
                return 2
            return _run_module(f"orchestration.bench.{argv[1]}", argv[2:])
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help()
            return 2
        if args.command == "demo":
            from orchestration.demo import run_demo

            return run_demo(days=args.days, fresh=args.fresh)
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
