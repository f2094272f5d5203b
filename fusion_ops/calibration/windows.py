"""Training windows of the calibration models: which days train the model that serves a day, how
their samples are gathered, and which MLP-1 samples enter training.

A model serving day D is trained on the ``window_days`` days that end the day before the first
day of D's retraining period (periods of ``cadence_days`` days counted from the first day of the
archive): no sample of D, or of any later day, ever trains the model that serves D.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fusion_ops.calibration import features as F

#: A gauge hour with an echo of at least this reflectivity (dBZ) above the gauge is kept for
#: MLP-1 training even when the gauge stayed dry (the network must learn such virga/evaporation).
ECHO_KEEP_DBZ = 10.0


def training_window(
    day: str,
    window_days: int,
    cadence_days: int,
    first_day: dt.date,
    lookback_days: int,
) -> list[str]:
    """Days (ISO dates, oldest first) whose samples train the model serving ``day``.

    Parameters
    ----------
    day : the served day (ISO date).
    window_days : number of days the model is trained on.
    cadence_days : retraining period (days); every day of a period is served by one model.
    first_day : first day of the archive (periods are counted from it).
    lookback_days : how far back the orchestration can reach for samples (days).

    Returns
    -------
    list of str
        ``window_days`` consecutive days, all strictly before the period that holds ``day``.

    Raises
    ------
    ValueError
        When the latest day of a period would need samples further back than ``lookback_days``.
    """
    if window_days + cadence_days - 1 > lookback_days:
        raise ValueError(
            f"window_days {window_days} + cadence_days {cadence_days} - 1 exceeds "
            f"the look-back of {lookback_days} days (RAINFUSE_CALIBRATION_LOOKBACK_DAYS)"
        )
    served = dt.date.fromisoformat(day)
    period_start = first_day + dt.timedelta(
        days=((served - first_day).days // cadence_days) * cadence_days
    )
    return [(period_start - dt.timedelta(days=k)).isoformat() for k in range(window_days, 0, -1)]


def window_samples(
    upstream: Mapping[str, pd.DataFrame | None] | pd.DataFrame | None,
    window: Sequence[str],
    partition_keys: Sequence[str],
) -> pd.DataFrame:
    """The samples of the window's days, concatenated (oldest first; empty when none).

    Parameters
    ----------
    upstream : samples per day (``day -> frame``); a bare frame when only one day was loaded
        (then ``partition_keys`` names it), ``None`` when nothing was.
    window : the training days (:func:`training_window`).
    partition_keys : the days that were loaded.

    Returns
    -------
    pandas.DataFrame
        Rows of every window day that has samples; missing and empty days are skipped.
    """
    if isinstance(upstream, pd.DataFrame):  # a single loaded day comes without its key
        upstream = {partition_keys[0]: upstream} if len(partition_keys) == 1 else {}
    elif not isinstance(upstream, Mapping):
        upstream = {}
    frames = [upstream[k] for k in window if upstream.get(k) is not None and len(upstream[k])]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def _group_hash_unit(groups: Sequence[str]) -> np.ndarray:
    """A reproducible number in [0, 1] per group label (the same on every run and machine)."""
    return np.array([int(hashlib.md5(g.encode()).hexdigest()[:6], 16) / 0xFFFFFF for g in groups])


def select_mlp1_training(samples: pd.DataFrame, dry_fraction: float) -> pd.DataFrame:
    """The MLP-1 samples to train on: training gauges only, every wet or echoing gauge hour and a
    reproducible share of the dry ones.

    Dry hours without echo swamp a window (most hours at most gauges); keeping all of them would
    teach the network little but zero. Which dry hours are kept depends only on the group label
    (a hash), so a day's selection does not change with the other days of the window.

    Parameters
    ----------
    samples : MLP-1 sample rows (``group``, ``heldout``, ``gauge_rate_mm_h``, ``dbz_h*``).
    dry_fraction : share (0-1) of the dry, echo-free gauge hours kept.

    Returns
    -------
    pandas.DataFrame
        The kept rows, in their original order and with their original index.
    """
    train = samples[~samples["heldout"].astype(bool)]
    if train.empty:
        return train
    dbz = train[F.level_names("dbz")].to_numpy()
    echo = np.nan_to_num(dbz, nan=-99.0).max(axis=1) >= ECHO_KEEP_DBZ
    grp = (
        train.assign(echo=echo)
        .groupby("group")
        .agg(wet=("gauge_rate_mm_h", "max"), echo=("echo", "max"))
    )
    keep = (grp["wet"] > 0) | grp["echo"] | (_group_hash_unit(grp.index) < dry_fraction)
    return train[train["group"].isin(grp.index[keep])]
