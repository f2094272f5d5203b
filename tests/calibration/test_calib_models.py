import numpy as np
import pytest
import torch

from fusion_ops.calibration.features import mlp1_spec, mlp3_spec
from fusion_ops.calibration.models import NO_RAIN_MM_H, RainMLP, predict_rain_rate
from fusion_ops.calibration.versioning import (
    ModelFileError,
    load_model_bytes,
    model_version,
    save_model_bytes,
)


def _model(seed=0):
    torch.manual_seed(seed)
    spec = mlp3_spec(["bt_c14", "bt_c08", "refl_c02"], hidden=(8,))
    m = RainMLP(spec)
    m.set_normalisation(np.array([[220.0, 230.0, 0.5], [290.0, 240.0, np.nan]]))
    return m


def test_normalisation_is_stored_with_weights_and_roundtrips():
    m = _model()
    data = save_model_bytes(m, {"epochs": 3}, {"window": ["2009-05-20"]})
    loaded, meta = load_model_bytes(data, "mem")
    assert meta["version"] == model_version(m, {"epochs": 3})
    assert meta["info"]["window"] == ["2009-05-20"]
    assert loaded.spec == m.spec
    # NaN refl filled with the stored fill (0) before the mean: (0.5 + 0) / 2
    assert float(loaded.input_mean[2]) == pytest.approx(0.25)
    x = np.array([[210.0, 220.0, np.nan], [300.0, 240.0, 0.1]], dtype=np.float32)
    np.testing.assert_array_equal(predict_rain_rate(m, x), predict_rain_rate(loaded, x))


def test_version_depends_on_weights_and_config():
    a, b = _model(0), _model(1)
    assert model_version(a, {}) != model_version(b, {})
    assert model_version(a, {"epochs": 1}) != model_version(a, {"epochs": 2})
    assert model_version(a, {}) == model_version(_model(0), {})


def test_bad_model_files_are_refused_with_the_reason():
    with pytest.raises(ModelFileError, match="x.safetensors: not a safetensors"):
        load_model_bytes(b"\x00\x01", "x.safetensors")
    with pytest.raises(ModelFileError, match="header length"):
        load_model_bytes((10**9).to_bytes(8, "little") + b"{}", "y")
    data = bytearray(save_model_bytes(_model(), {}, {}))
    data[-4:] = b"\x00\x00\x80\x7f"  # tamper with the last weight
    with pytest.raises(ModelFileError, match="version in metadata"):
        load_model_bytes(bytes(data), "z")


def test_prediction_shape_zero_threshold_and_feature_check():
    m = RainMLP(mlp1_spec(hidden=(4,)))
    with torch.no_grad():
        for p in m.parameters():
            p.zero_()
        m.bodies[0][-1].bias.fill_(-20.0)  # softplus(-20) ~ 0: no rain
    x = np.full((5, len(m.spec.features)), np.nan, dtype=np.float32)
    out = predict_rain_rate(m, x)
    assert out.shape == (5,) and out.dtype == np.float32
    assert np.all(out == 0.0) and NO_RAIN_MM_H > 0
    with pytest.raises(ValueError, match="expected features of shape"):
        predict_rain_rate(m, x[:, :3])


def test_inputs_beyond_the_training_range_are_clipped_to_it():
    # without a prior: a profile far outside the training data predicts what the edge predicts
    torch.manual_seed(3)
    m = RainMLP(mlp3_spec(["bt_c14", "bt_c08", "refl_c02"], hidden=(8,), prior=""))
    m.set_normalisation(np.array([[220.0, 230.0, 0.1], [290.0, 240.0, 0.5]]))
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0.0, 1.0)
    rate = lambda net, x: float(net(torch.tensor([x])).detach()[0])  # noqa: E731
    edge, beyond, inside = [290.0, 240.0, 0.5], [900.0, 700.0, 40.0], [250.0, 235.0, 0.2]
    assert rate(m, beyond) == rate(m, edge) > 0
    unclipped = RainMLP(m.spec)
    unclipped.load_state_dict(
        {k: v for k, v in m.state_dict().items() if k not in ("input_min", "input_max")},
        strict=False,
    )
    assert rate(unclipped, inside) == rate(m, inside)
    assert rate(unclipped, beyond) != rate(m, beyond)


def test_physical_prior_still_follows_inputs_beyond_the_training_range():
    spec = mlp1_spec(hidden=(4,))
    m = RainMLP(spec)  # zero correction: the network is its Z-R prior
    dbz = [j for j, n in enumerate(spec.features) if n.startswith("dbz_h")]
    train = np.full((2, len(spec.features)), 0.0, dtype=np.float32)
    train[:, dbz] = [[20.0], [35.0]]
    m.set_normalisation(train)
    heavy = train[:1].copy()
    heavy[0, dbz] = 50.0
    assert predict_rain_rate(m, heavy)[0] > 5 * predict_rain_rate(m, train[1:])[0]


def test_model_file_without_the_input_range_still_loads():
    from safetensors.torch import save as st_save

    m = _model()
    state = {
        k: v.contiguous() for k, v in m.state_dict().items() if k not in ("input_min", "input_max")
    }
    old = st_save(
        state,
        metadata={
            "spec": m.spec.to_json(),
            "train_config": "{}",
            "info": "{}",
            "version": model_version(m, {}, frozenset({"input_min", "input_max"})),
        },
    )
    loaded, meta = load_model_bytes(old, "old.safetensors")
    assert torch.isinf(loaded.input_max).all() and meta["version"]
