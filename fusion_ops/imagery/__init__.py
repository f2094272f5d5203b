"""Image fusion ops: Wald's protocol, quality indices, classic baselines and fusion networks.

Pure PyTorch; no Dagster import.  CUDA is never touched at import time: every entry point takes a
``device`` argument (or works on the device of its input tensors).
"""
