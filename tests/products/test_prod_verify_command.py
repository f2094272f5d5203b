"""``rainfuse verify``: table and the exact JSON last line from stored verification records."""

import json

import pytest
from upath import UPath

from orchestration.cli import main as rainfuse
from orchestration.commands.verify import format_score_table, json_line
from orchestration.runtime.io_managers import atomic_write

V_KEYS = ["rmse_truth", "rmse_gauges", "bias_gauges", "corr_gauges", "csi_1mm"]


def _v(rmse, with_truth=True):
    v = {"rmse_gauges": rmse + 0.5, "bias_gauges": -0.2, "corr_gauges": 0.9, "csi_1mm": 0.8}
    return {"rmse_truth": rmse, **v} if with_truth else v


@pytest.fixture()
def storage(tmp_path, monkeypatch):
    config = tmp_path / "rainfuse.yaml"
    config.write_text(
        f"storage: {{url: {tmp_path / 'storage'}}}\npartitions: {{start_date: '2009-05-20'}}\n"
    )
    monkeypatch.setenv("RAINFUSE_CONFIG", str(config))
    base = UPath(str(tmp_path / "storage")) / "product_verification"
    records = {
        "2009-05-20": {"fused": _v(2.0), "gr": _v(4.0), "sr": None, "sat": _v(6.0)},
        "2009-05-21": {"fused": _v(3.0), "gr": _v(5.0), "sr": _v(20.0), "sat": _v(7.0)},
    }
    margin = {"difference_mm": -1.5, "low_mm": -2.25, "high_mm": 0.4, "confidence": 0.95, "n": 49}
    # The first day is a cold start (every model a fallback); the second predates the flag.
    quality = {"quality_flag": "cold_start", "fallback_models": ["mlp1", "mlp2", "mlp3"]}
    for day, summary in records.items():
        scores = {"gr": {"fused_minus_source_gauges": margin}} if day == "2009-05-21" else {}
        record = {"day": day, "summary": summary, "scores": scores, "failures": []}
        atomic_write({**record, **quality} if day == "2009-05-20" else record, base / day)
    return records


def test_verify_prints_table_and_exact_json(storage, capsys):
    code = rainfuse(["verify", "--start", "2009-05-20", "--end", "2009-05-21"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0
    result = json.loads(out[-1])
    assert list(result) == ["2009-05-20", "2009-05-21"]
    for entry in result.values():
        assert list(entry) == ["fused", "gr", "sr", "sat", "cold_start"]
        assert list(entry["fused"]) == V_KEYS
    assert result["2009-05-20"]["cold_start"] is True
    assert result["2009-05-21"]["cold_start"] is False
    assert result["2009-05-20"]["sr"] is None
    assert result["2009-05-21"]["sr"]["rmse_truth"] == 20.0
    table = "\n".join(out[:-1])
    assert "fused (gauge-adjusted)" in table and "(absent this day)" in table
    fused_rows = [line for line in out if line.startswith("2009-05-21  fused")]
    assert "2.000" not in fused_rows[0] and "3.000*" in fused_rows[0]
    margin = [line for line in out if "fused minus ground radar MLP-1" in line]
    assert len(margin) == 1  # only the day whose record holds the interval
    assert "49 withheld gauges: -1.500 mm, 95 % bootstrap interval [-2.250, +0.400]" in margin[0]
    # The cold-start day's block ends with the mark; the other day has none.
    marks = [i for i, line in enumerate(out) if "cold start" in line]
    assert [out[i].strip() for i in marks] == ["(cold start: fallback models mlp1, mlp2, mlp3)"]
    assert out[marks[0] - 1].startswith("2009-05-20  satellite MLP-3") and out[marks[0] + 1] == ""


def test_verify_reports_missing_days(storage, capsys):
    code = rainfuse(["verify", "--start", "2009-05-21", "--end", "2009-05-22"])
    captured = capsys.readouterr()
    assert code == 1
    assert "no verification stored for 2009-05-22" in captured.err
    assert list(json.loads(captured.out.strip().splitlines()[-1])) == ["2009-05-21"]


def test_verify_default_days_are_the_demo_days(storage, capsys):
    from orchestration.commands.common import demo_days

    code = rainfuse(["verify"])
    captured = capsys.readouterr()
    # The demo's two days from the first partition are the two stored here: both scored.
    assert demo_days() == ["2009-05-20", "2009-05-21"] and code == 0
    assert set(json.loads(captured.out.strip().splitlines()[-1])) == set(storage)


def test_verify_argument_errors(storage, capsys):
    assert rainfuse(["verify", "--start", "2009-05-21"]) == 2
    assert rainfuse(["verify", "--start", "2009-05-22", "--end", "2009-05-21"]) == 2


def test_json_line_drops_missing_truth_and_table_marks_best():
    summaries = {"2009-05-20": {"fused": _v(1.0, False), "gr": None, "sr": None, "sat": None}}
    assert json.loads(json_line(summaries)) == {
        "2009-05-20": {"fused": _v(1.0, False), "gr": None, "sr": None, "sat": None}
    }
    table = format_score_table(summaries)
    assert table.count("(absent this day)") == 3


def test_table_and_json_mark_a_cold_start_only_where_told():
    summaries = {"2009-05-20": {"fused": _v(1.0), "gr": None, "sr": None, "sat": None}}
    fallbacks = {"2009-05-20": ["mlp1", "mlp3"]}
    table = format_score_table(summaries, None, fallbacks).splitlines()
    assert table[6] == " " * 12 + "(cold start: fallback models mlp1, mlp3)"
    assert "cold start" not in format_score_table(summaries)
    assert json.loads(json_line(summaries, fallbacks))["2009-05-20"]["cold_start"] is True
    assert json.loads(json_line(summaries, {"2009-05-20": []}))["2009-05-20"]["cold_start"] is False
    assert "cold_start" not in json.loads(json_line(summaries))["2009-05-20"]
