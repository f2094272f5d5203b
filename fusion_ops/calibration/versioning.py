"""Model files: safetensors weights with the spec and training configuration as metadata.

The version of a model is the first 12 hex digits of SHA-256 over its tensors (names, dtypes,
shapes, bytes in name order) and the JSON of its spec and training configuration; it is
recorded in the metadata of every output made with the model. Loading never unpickles:
safetensors holds only tensors and a string map.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from fusion_ops.calibration.models import ModelSpec, RainMLP


class ModelFileError(ValueError):
    """A model file is unreadable or does not describe a rainfuse calibration network."""


#: Buffers added after the first model files were written: a file without them loads with the
#: buffers' defaults (no input clip), and its version is the hash of what the file holds.
OPTIONAL_BUFFERS = frozenset({"input_min", "input_max"})


def model_version(
    model: RainMLP, train_config: dict[str, Any], absent: frozenset[str] = frozenset()
) -> str:
    """Hash of the weights (buffers included) and of the spec + training configuration.

    ``absent`` names optional buffers the model's file did not hold (left out of the hash).
    """
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if name in absent:
            continue
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{t.dtype}:{tuple(t.shape)}".encode())
        digest.update(t.numpy().tobytes())
    digest.update(model.spec.to_json().encode())
    digest.update(json.dumps(train_config, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:12]


def save_model_bytes(model: RainMLP, train_config: dict[str, Any], info: dict[str, Any]) -> bytes:
    """Serialise to safetensors bytes; ``info`` (JSON-able) is kept in the file's metadata."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "spec": model.spec.to_json(),
        "train_config": json.dumps(train_config, sort_keys=True, default=str),
        "info": json.dumps(info, sort_keys=True, default=str),
        "version": model_version(model, train_config),
    }
    return st_save(state, metadata=metadata)


def read_metadata(data: bytes, source: str = "<bytes>") -> dict[str, str]:
    """The string metadata of a safetensors file (its 8-byte header length + JSON header)."""
    if len(data) < 8:
        raise ModelFileError(f"{source}: not a safetensors file (only {len(data)} bytes)")
    n = int.from_bytes(data[:8], "little")
    if n <= 0 or 8 + n > len(data):
        raise ModelFileError(f"{source}: not a safetensors file (header length {n} out of range)")
    try:
        header = json.loads(data[8 : 8 + n])
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelFileError(f"{source}: safetensors header is not JSON ({err})") from None
    meta = header.get("__metadata__") or {}
    if "spec" not in meta:
        raise ModelFileError(f"{source}: no model spec in the safetensors metadata")
    return meta


def load_model_bytes(data: bytes, source: str = "<bytes>") -> tuple[RainMLP, dict[str, Any]]:
    """Rebuild a network from :func:`save_model_bytes` output.

    Returns
    -------
    (model, meta) with ``meta = {"version", "train_config", "info", "spec"}`` decoded.
    """
    meta = read_metadata(data, source)
    spec = ModelSpec.from_json(meta["spec"])
    try:
        state = st_load(data)
    except Exception as err:  # safetensors raises its own error types
        raise ModelFileError(f"{source}: unreadable safetensors tensors ({err})") from None
    model = RainMLP(spec)
    absent = frozenset(k for k in OPTIONAL_BUFFERS if k not in state)
    try:
        missing, unexpected = model.load_state_dict(state, strict=False)
        if set(missing) - absent or unexpected:
            raise RuntimeError(f"missing {sorted(missing)}, unexpected {sorted(unexpected)}")
    except RuntimeError as err:
        raise ModelFileError(f"{source}: weights do not match the spec ({err})") from None
    train_config = json.loads(meta.get("train_config", "{}"))
    version = model_version(model, train_config, absent)
    if meta.get("version") and meta["version"] != version:
        raise ModelFileError(
            f"{source}: version in metadata {meta['version']} != hash of contents {version}"
        )
    return model.eval(), {
        "version": version,
        "train_config": train_config,
        "info": json.loads(meta.get("info", "{}")),
        "spec": spec,
    }


def save_fallback_bytes(name: str, fallback: str, reason: str, info: dict[str, Any]) -> bytes:
    """A model file that says "no network: use ``fallback``" (flagged in every output).

    Its version is a hash of the name, fallback and window, so outputs still record what made
    them.
    """
    text = json.dumps(
        {"name": name, "fallback": fallback, "info": info}, sort_keys=True, default=str
    )
    version = "fb-" + hashlib.sha256(text.encode()).hexdigest()[:9]
    metadata = {
        "fallback": fallback,
        "reason": reason,
        "name": name,
        "info": json.dumps(info, sort_keys=True, default=str),
        "version": version,
    }
    return st_save({"fallback_marker": torch.zeros(1)}, metadata=metadata)


def load_model_or_fallback(
    data: bytes, source: str = "<bytes>"
) -> tuple[RainMLP | None, dict[str, Any]]:
    """``(model, meta)`` for a trained model, ``(None, meta)`` with ``meta["fallback"]`` else."""
    if len(data) >= 8:
        n = int.from_bytes(data[:8], "little")
        if 0 < n <= len(data) - 8:
            try:
                meta = json.loads(data[8 : 8 + n]).get("__metadata__") or {}
            except (UnicodeDecodeError, json.JSONDecodeError):
                meta = {}
            if "fallback" in meta:
                return None, {
                    "version": meta["version"],
                    "fallback": meta["fallback"],
                    "reason": meta.get("reason", ""),
                    "info": json.loads(meta.get("info", "{}")),
                }
    model, meta = load_model_bytes(data, source)
    meta["fallback"] = None
    return model, meta
