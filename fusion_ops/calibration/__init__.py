"""MLP calibration chain: gauges -> ground radar (MLP-1) -> spaceborne radar (MLP-2) and imager (MLP-3).

Pure science library (no Dagster): sample building, models, training, fixed baselines, SR-GR
volume matching and scores. See ``docs/calibration.md``.
"""
