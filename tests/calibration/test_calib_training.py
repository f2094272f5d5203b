"""The networks beat their fixed baselines on samples with known physics (held-out samples)."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import make_mlp2_samples, make_mlp3_samples

from fusion_ops.calibration import features as F
from fusion_ops.calibration.baselines import tb_curve_rain_rate
from fusion_ops.calibration.models import predict_rain_rate
from fusion_ops.calibration.samples import group_targets, sr_feature_table
from fusion_ops.calibration.training import (
    TooFewSamplesError,
    TrainConfig,
    pad_groups,
    train_model,
)
from fusion_ops.calibration.versioning import load_model_bytes, save_model_bytes
from fusion_ops.calibration.zr import ZR_RELATIONS, rain_rate_zr
from fusion_ops.scores import score


def test_pad_groups_layout():
    x = np.arange(10, dtype=np.float32)[:, None]
    groups = np.array(["b", "a", "b", "c", "a", "b", "b", "b", "a", "c"])
    xg, mask, codes = pad_groups(x, groups, max_members=3)
    assert list(codes) == ["a", "b", "c"]
    assert mask.sum(axis=1).tolist() == [3, 3, 2]
    assert sorted(xg[0, mask[0], 0].tolist()) == [1, 4, 8]
    # group b has 5 members: an evenly strided subset of 3 (every 2nd) is kept
    assert sorted(xg[1, mask[1], 0].tolist()) == [0, 5, 7]


def test_too_few_groups_raise():
    spec = F.mlp3_spec(["bt_c14"], hidden=(4,))
    with pytest.raises(TooFewSamplesError, match="3 training groups"):
        train_model(spec, np.ones((3, 1)), np.ones(3), config=TrainConfig(min_groups=10))


def test_mlp1_beats_fixed_zr_at_gauges(mlp1_train, mlp1_test, one_thread):
    spec = F.mlp1_spec()
    groups, y = group_targets(mlp1_train, "gauge_rate_mm_h")
    result = train_model(spec, F.matrix(mlp1_train, spec), y, groups)
    assert result.n_groups == 1500 and result.n_samples == 1500 * 12
    frame = pd.DataFrame(
        {
            "group": mlp1_test["group"],
            "mlp1": predict_rain_rate(result.model, F.matrix(mlp1_test, spec)),
            "gauge": mlp1_test["gauge_rate_mm_h"],
        }
    )
    lowest = F.lowest_valid(mlp1_test[F.level_names("dbz")].to_numpy())
    for name in ZR_RELATIONS:
        frame[name] = rain_rate_zr(lowest, name)
    hourly = frame.groupby("group").mean()
    s_mlp = score(hourly["mlp1"], hourly["gauge"])
    best_zr = min(score(hourly[n], hourly["gauge"])["rmse"] for n in ZR_RELATIONS)
    assert s_mlp["rmse"] <= 0.8 * best_zr
    assert s_mlp["corr"] >= 0.9
    assert abs(s_mlp["nbias"]) <= 0.1


def test_mlp2_beats_the_sr_standard_product(one_thread):
    train = sr_feature_table(make_mlp2_samples(1500, seed=1))
    test = sr_feature_table(make_mlp2_samples(800, seed=2))
    spec = F.mlp2_spec()
    result = train_model(spec, F.matrix(train, spec), train["gr_rain_mm_h"].to_numpy())
    s_mlp = score(predict_rain_rate(result.model, F.matrix(test, spec)), test["gr_rain_mm_h"])
    s_std = score(test["precip_rate_near_surface_mm_h"], test["gr_rain_mm_h"])
    assert s_mlp["rmse"] < s_std["rmse"]
    assert s_mlp["corr"] > s_std["corr"]


def test_mlp3_beats_the_fixed_tb_curve(one_thread):
    train = make_mlp3_samples(1500, seed=1)
    test = make_mlp3_samples(1000, seed=2)
    spec = F.mlp3_spec(list(train.columns))
    assert "bt_c14" in spec.features and "gr_rain_mm_h" not in spec.features
    result = train_model(spec, F.matrix(train, spec), train["gr_rain_mm_h"].to_numpy())
    s_mlp = score(predict_rain_rate(result.model, F.matrix(test, spec)), test["gr_rain_mm_h"])
    s_tb = score(tb_curve_rain_rate(test["bt_c14"]), test["gr_rain_mm_h"])
    assert s_mlp["rmse"] < s_tb["rmse"]
    assert s_mlp["corr"] > s_tb["corr"]


def test_training_is_deterministic(one_thread):
    train = make_mlp3_samples(300, seed=3)
    spec = F.mlp3_spec(list(train.columns), hidden=(8,))
    cfg = TrainConfig(epochs=5)
    x, y = F.matrix(train, spec), train["gr_rain_mm_h"].to_numpy()
    a = train_model(spec, x, y, config=cfg).model.state_dict()
    b = train_model(spec, x, y, config=cfg).model.state_dict()
    assert all(np.array_equal(a[k].numpy(), b[k].numpy()) for k in a)


def test_ensemble_is_the_mean_of_its_seeded_members_and_roundtrips(one_thread):
    train = make_mlp3_samples(400, seed=4)
    spec = F.mlp3_spec(list(train.columns), hidden=(8,))
    x, y = F.matrix(train, spec), train["gr_rain_mm_h"].to_numpy()
    ens = train_model(spec, x, y, config=TrainConfig(epochs=6, members=3))
    assert ens.model.spec.members == 3 and len(ens.member_best_epochs) == 3
    singles = [
        train_model(spec, x, y, config=TrainConfig(epochs=6, seed=k)).model for k in range(3)
    ]
    # member k is exactly the single network trained from seed k
    with torch.no_grad():
        xt = torch.from_numpy(x[:50])
        mean_rate = torch.stack([m(xt) for m in singles]).mean(dim=0)
        np.testing.assert_allclose(ens.model(xt).numpy(), mean_rate.numpy(), rtol=1e-5, atol=1e-6)
    # three different members (otherwise the ensemble would be pointless)
    assert not torch.allclose(singles[0](xt), singles[1](xt))
    loaded, meta = load_model_bytes(save_model_bytes(ens.model, {"members": 3}, {}), "mem")
    assert loaded.spec.members == 3
    np.testing.assert_array_equal(
        predict_rain_rate(ens.model, x[:50]), predict_rain_rate(loaded, x[:50])
    )
