"""The 30-day training benchmark trains each network the way the model assets do."""

import pandas as pd

from bench import window_training as W


def test_window_of_random_samples_trains_every_network(monkeypatch):
    monkeypatch.setattr(W, "RANDOM_ROWS_PER_DAY", {"mlp1": 600, "mlp2": 300, "mlp3": 300})
    out = W.run(None, days=2, epochs=2, early_stop=False)
    assert set(out["models"]) == {"mlp1", "mlp2", "mlp3"}
    for name, rows in (("mlp2", 600), ("mlp3", 600)):
        assert out["models"][name]["groups"] == rows
        assert out["models"][name]["epochs"] == 2
    # MLP-1: 12 volumes per gauge hour, wet/echo hours and a share of the dry ones kept
    assert 0 < out["models"]["mlp1"]["groups"] <= 100
    assert out["max_seconds"] == max(m["seconds"] for m in out["models"].values())


def test_window_cycles_stored_days_with_unique_groups(tmp_path):
    folder = tmp_path / "mlp1_samples"
    folder.mkdir()
    for day in ("2009-05-20", "2009-05-21"):
        pd.DataFrame({"group": ["a", "a", "b"], "x": [1.0, 2.0, 3.0]}).to_parquet(
            folder / f"{day}.parquet"
        )
    files = W.stored_days(tmp_path, "mlp1")
    frame = W.window_frame(files, 5)
    assert len(frame) == 15
    assert frame["group"].nunique() == 10  # two groups per day, five days
