"""Running a benchmark's command line in a test (``bench.<module>.main``)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any


def run_bench_json(
    main: Callable[[list[str]], int | None], argv: Sequence[str], capsys: Any
) -> dict[str, Any]:
    """Run ``main(argv)``: it must exit 0 with one JSON object as the last line of stdout."""
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])
