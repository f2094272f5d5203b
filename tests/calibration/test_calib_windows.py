"""Training windows: the no-look-ahead rule, gathering a window's samples, MLP-1 selection."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from fusion_ops.calibration import windows as W
from fusion_ops.calibration.features import level_names

FIRST = dt.date(2009, 5, 20)


def test_daily_window_ends_the_day_before():
    assert W.training_window("2009-05-23", 3, 1, FIRST, 45) == [
        "2009-05-20",
        "2009-05-21",
        "2009-05-22",
    ]
    # the first days reach before the archive: those days simply hold no samples
    assert W.training_window("2009-05-20", 2, 1, FIRST, 45) == ["2009-05-18", "2009-05-19"]


def test_every_day_of_a_period_gets_the_window_before_the_period():
    # cadence 10 from 05-20: periods start 05-20, 05-30, 06-09
    expected = ["2009-05-28", "2009-05-29"]
    for day in ("2009-05-30", "2009-06-05", "2009-06-08"):
        assert W.training_window(day, 2, 10, FIRST, 45) == expected
    assert W.training_window("2009-06-09", 2, 10, FIRST, 45) == ["2009-06-07", "2009-06-08"]


def test_window_beyond_the_lookback_is_refused():
    # the last day of a period needs window + cadence - 1 days of look-back
    assert len(W.training_window("2009-06-05", 5, 6, FIRST, 10)) == 5
    with pytest.raises(ValueError, match="exceeds the look-back of 10 days"):
        W.training_window("2009-06-05", 5, 7, FIRST, 10)


def test_window_samples_in_window_order_skipping_missing_days():
    a = pd.DataFrame({"x": [1.0, 2.0]})
    b = pd.DataFrame({"x": [3.0]})
    upstream = {
        "2009-05-20": a,
        "2009-05-21": b,
        "2009-05-22": pd.DataFrame({"x": pd.Series(dtype=float)}),
        "2009-05-19": None,
    }
    window = ["2009-05-18", "2009-05-19", "2009-05-21", "2009-05-20", "2009-05-22"]
    out = W.window_samples(upstream, window, list(upstream))
    assert out["x"].tolist() == [3.0, 1.0, 2.0]
    assert out.index.tolist() == [0, 1, 2]
    # days loaded but outside the window never train the model
    assert W.window_samples(upstream, ["2009-05-21"], list(upstream))["x"].tolist() == [3.0]


def test_window_samples_of_a_single_bare_frame_or_nothing():
    a = pd.DataFrame({"x": [1.0, 2.0]})
    assert W.window_samples(a, ["2009-05-20"], ["2009-05-20"])["x"].tolist() == [1.0, 2.0]
    assert W.window_samples(a, ["2009-05-21"], ["2009-05-20"]).empty
    assert W.window_samples(a, ["2009-05-20"], []).empty  # its day is unknown
    assert W.window_samples(None, ["2009-05-20"], []).empty


def _mlp1_rows(kind: str, n_groups: int, heldout: bool = False) -> pd.DataFrame:
    """12 volume rows per gauge hour: ``wet`` gauge, ``echo`` (12 dBZ), ``weak`` (9.9 dBZ) or
    ``dry`` (no echo)."""
    rows = 12 * n_groups
    dbz = {"wet": 30.0, "echo": 12.0, "weak": 9.9, "dry": np.nan}[kind]
    frame = {c: np.full(rows, np.nan) for c in level_names("dbz")}
    frame[level_names("dbz")[3]] = np.full(rows, dbz)
    frame["group"] = [f"{kind}-{i // 12:04d}" for i in range(rows)]
    frame["gauge_rate_mm_h"] = np.full(rows, 2.0 if kind == "wet" else 0.0)
    frame["heldout"] = heldout
    return pd.DataFrame(frame)


def test_mlp1_selection_keeps_wet_and_echo_hours_and_a_share_of_dry_ones():
    samples = pd.concat(
        [
            _mlp1_rows("wet", 10),
            _mlp1_rows("echo", 5),
            _mlp1_rows("weak", 400),
            _mlp1_rows("dry", 600),
            _mlp1_rows("wet", 7, heldout=True).assign(group=lambda f: "held-" + f["group"]),
        ],
        ignore_index=True,
    )
    none = W.select_mlp1_training(samples, 0.0)
    assert sorted(none["group"].str.split("-").str[0].unique()) == ["echo", "wet"]
    assert none["group"].nunique() == 15 and len(none) == 15 * 12

    some = W.select_mlp1_training(samples, 0.2)
    dry = some.loc[some["gauge_rate_mm_h"] == 0, "group"].unique()
    n_dry = len(dry) - 5  # the echo hours are dry at the gauge too
    assert 150 < n_dry < 250  # about a fifth of the 1000 dry, echo-free hours
    assert len(some) == 12 * some["group"].nunique()  # whole gauge hours
    assert not some["heldout"].any()
    # the choice depends on the label only: a subset as the fraction grows, any row order
    more = W.select_mlp1_training(samples, 0.4)
    assert set(some["group"]) < set(more["group"])
    shuffled = W.select_mlp1_training(samples.sample(frac=1.0, random_state=3), 0.2)
    assert set(shuffled["group"]) == set(some["group"])


def test_mlp1_selection_of_held_out_gauges_only_is_empty():
    held = _mlp1_rows("wet", 3, heldout=True)
    assert W.select_mlp1_training(held, 1.0).empty
