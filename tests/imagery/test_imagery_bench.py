"""``rainfuse bench imagery`` contract: the last stdout line is the JSON keyed as issue 7 says."""

from __future__ import annotations

import pytest
from bench_cli import run_bench_json

from bench import imagery as bench


def test_bench_json_contract(shared_data, tmp_path, capsys) -> None:
    out_md = tmp_path / "imagery.md"
    argv = ["--data", str(shared_data / "imagery"), "--out", str(out_md), "--steps", "1"]
    argv += ["--scenes", "paris,Samson", "--no-timing", "--camera", "7"]
    result = run_bench_json(bench.main, argv, capsys)
    assert set(result) == {"paris_data_hs_ms", "Samson"}
    assert set(result["paris_data_hs_ms"]) == {"hs_upsample", "hs_baseline", "mhf_net"}
    samson = result["Samson"]
    assert set(samson) == {
        "hs_upsample",
        "hs_baseline",
        "mhf_net",
        "rgb_guided",
        "csr_selected",
        "csr_true",
    }
    assert samson["csr_true"] == 7 and samson["csr_selected"] == 7
    for scene in result.values():
        for row in scene.values():
            if isinstance(row, dict):
                assert set(row) == {"PSNR", "SAM", "ERGAS", "Q2n", "infer_s"}
    assert samson["rgb_guided"]["PSNR"] > samson["hs_upsample"]["PSNR"]
    assert "| mhf_net |" in out_md.read_text()


def test_bench_missing_data_folder(tmp_path) -> None:
    assert bench.main(["--data", str(tmp_path / "absent"), "--no-timing"]) == 2


@pytest.mark.parametrize("ratio", [2, 4])
def test_border_rule(ratio: int) -> None:
    assert bench.border_px(ratio) == {2: 11, 4: 21}[ratio]
