"""What a fused product was made from: configuration hash, model versions and the fusion record.

The result is a :class:`~fusion_ops.products.writers.Provenance`, written as global attributes of
every product file of the day.

A product made with any calibration model that is its fallback (no trained model yet: the fixed
Z-R for MLP-1, the SR standard product for MLP-2, the Tb curve for MLP-3) says so: its
:data:`QUALITY_FLAG_ATTR` is :data:`COLD_START` and :data:`FALLBACK_MODELS_ATTR` names the
models (``"mlp1 mlp2 mlp3"``); a product of trained models only says :data:`QUALITY_OK`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

from fusion_ops.products.adapters import SR_FOOTPRINT_RADIUS_ATTR, WITHHELD_GAUGES_ATTR
from fusion_ops.products.inputs import SourceErrors, model_versions
from fusion_ops.products.pipeline import FusedDay
from fusion_ops.products.writers import (
    FALLBACK_MODELS_ATTR,
    QUALITY_FLAG_ATTR,
    Provenance,
    software_version,
)

CONFIGURATION_HASH_CHARS = 12
COLD_START = "cold_start"
QUALITY_OK = "ok"


def configuration_hash(
    rainfuse_fingerprint: str, product_settings: Mapping[str, Any], grid: Mapping[str, Any]
) -> str:
    """Short SHA-256 of everything that configures a product.

    Parameters
    ----------
    rainfuse_fingerprint : fingerprint of the rainfuse configuration file.
    product_settings : the fusion settings as JSON-compatible values.
    grid : the product grid's settings as JSON-compatible values.

    Returns
    -------
    str
        The first :data:`CONFIGURATION_HASH_CHARS` hexadecimal digits.
    """
    text = json.dumps(
        {"rainfuse": rainfuse_fingerprint, "products": product_settings, "grid": grid},
        sort_keys=True,
    )
    return hashlib.sha256(text.encode()).hexdigest()[:CONFIGURATION_HASH_CHARS]


def chain_model_versions(evaluation: Mapping[str, Any] | None, *datasets: Any) -> dict[str, str]:
    """Model versions of the calibration chain behind a product.

    Parameters
    ----------
    evaluation : the chain's score record; an entry's ``model_version`` fills a model the
        datasets do not name.
    datasets : the chain's outputs (see :func:`fusion_ops.products.inputs.model_versions`).

    Returns
    -------
    dict
        Model name -> version; the datasets' own attributes win over the evaluation.
    """
    versions = model_versions(*datasets)
    for name, entry in (evaluation or {}).items():
        if isinstance(entry, dict) and entry.get("model_version"):
            versions.setdefault(name, str(entry["model_version"]))
    return versions


def chain_fallbacks(evaluation: Mapping[str, Any] | None, *datasets: Any) -> dict[str, str]:
    """The calibration models behind a product that are their fallback, not a trained network.

    Parameters
    ----------
    evaluation : the chain's score record; a network's own entry (``mlp1``, ``mlp2``, ``mlp3``)
        with a ``fallback`` names one (the baselines' entries repeat their network's and are
        skipped).
    datasets : the chain's outputs; ``attrs`` with ``model`` and a non-empty ``model_fallback``
        (:func:`fusion_ops.calibration.fitting.model_attrs`) name one.

    A network whose source the era table did not plan that day (the evaluation's
    ``not_planned``, e.g. MLP-3 before GOES-R ABI) is not a fallback: there was nothing to
    train it on, and a TRMM-era product is not a cold start for ever.

    Returns
    -------
    dict
        Model name -> fallback estimator (e.g. ``{"mlp1": "zr_300_1.4"}``), sorted by name;
        empty when every model was trained.
    """
    out: dict[str, str] = {}
    for obj in datasets:
        attrs = getattr(obj, "attrs", None) or {}
        if attrs.get("model") and attrs.get("model_fallback"):
            out[str(attrs["model"])] = str(attrs["model_fallback"])
    not_planned = set((evaluation or {}).get("not_planned") or {})
    for name, entry in (evaluation or {}).items():
        if (
            isinstance(entry, Mapping)
            and entry.get("fallback")
            and entry.get("model", name) == name
        ):
            out.setdefault(str(name), str(entry["fallback"]))
    return {name: fb for name, fb in sorted(out.items()) if name not in not_planned}


def quality_attrs(fallbacks: Mapping[str, str]) -> dict[str, str]:
    """:data:`QUALITY_FLAG_ATTR` and :data:`FALLBACK_MODELS_ATTR` of a product.

    ``fallbacks`` is :func:`chain_fallbacks`: any fallback makes the product a cold start.
    """
    return {
        QUALITY_FLAG_ATTR: COLD_START if fallbacks else QUALITY_OK,
        FALLBACK_MODELS_ATTR: " ".join(sorted(fallbacks)),
    }


def product_quality(attrs: Mapping[str, Any]) -> dict[str, Any] | None:
    """The quality a product records in its attributes, as plain values.

    Returns
    -------
    dict or None
        ``quality_flag`` (:data:`COLD_START` or :data:`QUALITY_OK`) and ``fallback_models``
        (list of model names); ``None`` for a product written before the flag existed.
    """
    if QUALITY_FLAG_ATTR not in attrs:
        return None
    return {
        "quality_flag": str(attrs[QUALITY_FLAG_ATTR]),
        "fallback_models": str(attrs.get(FALLBACK_MODELS_ATTR, "")).split(),
    }


#: The era plan's name of each merged source (:func:`fusion_ops.eras.sources_available`).
PLAN_NAMES = {"gr": "ground_radar", "sr": "spaceborne", "sat": "satellite"}
SOURCES_ATTR = "rainfuse_sources"
MODEL_CAPABILITY_ATTR = "rainfuse_model_capability"


def sources_record(
    plan: Mapping[str, Any] | None,
    present: Sequence[str],
    excluded: Mapping[str, str],
    n_gauges: int,
) -> dict[str, dict[str, Any]]:
    """Which sources a product had: planned by the era table, present, merged.

    Parameters
    ----------
    plan : :func:`fusion_ops.eras.sources_available` of the day (``None``: not known).
    present : merged-source names (``gr``, ``sr``, ``sat``) with an estimate that day.
    excluded : source name -> why the merge left it out (screening).
    n_gauges : gauges with a complete day (the adjustment's and verification's).

    Returns
    -------
    dict
        ``{"gauges": {...}, "ground_radar": {...}, "spaceborne": {...}, "satellite": {...}}``,
        each with ``planned`` (bool or None), ``used`` (bool) and ``reason`` (why not used);
        the ground radar adds ``capability`` per site and the spaceborne ``radars``.
    """
    out: dict[str, dict[str, Any]] = {
        "gauges": {"planned": True, "used": n_gauges > 0, "reason": "" if n_gauges else "none"}
    }
    for name, plan_name in PLAN_NAMES.items():
        entry = (plan or {}).get(plan_name)
        if plan_name == "ground_radar" and entry is not None:
            planned: bool | None = any(e.get("available") for e in entry.values())
            plan_reason = "; ".join(
                f"{site}: {e['reason']}" for site, e in entry.items() if not e.get("available")
            )
        elif entry is not None:
            planned, plan_reason = bool(entry.get("available")), str(entry.get("reason", ""))
        else:
            planned, plan_reason = None, ""
        used = name in present and name not in excluded
        if used:
            reason = ""
        elif planned is False:
            reason = f"not in the era: {plan_reason}"
        elif name in excluded:
            reason = f"screened out: {excluded[name]}"
        else:
            reason = "no data that day"
        record: dict[str, Any] = {"planned": planned, "used": used, "reason": reason}
        if plan_name == "ground_radar" and entry is not None:
            record["capability"] = {site: e.get("capability", "") for site, e in entry.items()}
        if plan_name == "spaceborne" and entry is not None:
            record["radars"] = list(entry.get("radars", []))
        if plan_name == "satellite" and entry is not None and entry.get("platform"):
            record["platform"] = entry["platform"]
        out[plan_name] = record
    return out


def model_capabilities(*datasets: Any) -> dict[str, str]:
    """Model name -> input capability (``model_capability`` attribute, e.g. MLP-1 single-pol)."""
    out: dict[str, str] = {}
    for obj in datasets:
        attrs = getattr(obj, "attrs", None) or {}
        if attrs.get("model") and attrs.get("model_capability"):
            out[str(attrs["model"])] = str(attrs["model_capability"])
    return dict(sorted(out.items()))


def fusion_provenance(
    fused: FusedDay,
    errors: SourceErrors,
    versions: Mapping[str, str],
    input_files: Sequence[str],
    config_hash: str,
    configured_adjust_method: str,
    withheld_ids: Sequence[str],
    sr_footprint_radius_km: float,
    fallbacks: Mapping[str, str] | None = None,
    sources: Mapping[str, Any] | None = None,
    capabilities: Mapping[str, str] | None = None,
) -> Provenance:
    """The provenance of one fused day.

    Parameters
    ----------
    fused : the day's fusion.
    errors : the error model the merge weights came from.
    versions : model name -> version (:func:`chain_model_versions`).
    input_files : where each upstream value was read from.
    config_hash : :func:`configuration_hash` of the run.
    configured_adjust_method : the adjustment asked for (``auto`` picks one each day).
    withheld_ids : station ids withheld from the adjustment (for the verification).
    sr_footprint_radius_km : the radius (km) the SR swath was gridded with (for the verification).
    fallbacks : :func:`chain_fallbacks` of the day; given, the quality attributes
        (:func:`quality_attrs`) are added; ``None``: not recorded.
    sources : :func:`sources_record` of the day (``rainfuse_sources``, JSON); ``None``: not
        recorded.
    capabilities : :func:`model_capabilities` (``rainfuse_model_capability``, JSON); ``None``:
        not recorded.

    Returns
    -------
    Provenance
        With the ``rainfuse_*`` extras: withheld gauges, adjustment, screening, error model and
        SR footprint radius, each as JSON text, then the quality flag and fallback models.
    """
    adjustment = {
        "method": fused.adjustment_method,
        "configured": configured_adjust_method,
        "cv_rmse_mm": fused.adjustment_cv_rmse_mm,
        "applied": fused.adjusted,
        "n_gauges": fused.n_adjusting_gauges,
        "library": "wradlib.adjust",
    }
    error_model = {
        "origin": errors.origin,
        "weights_from": fused.error_origin,
        "sr_std_mm_h": errors.sr_std_mm_h,
        "sat_std_mm_h": errors.sat_std_mm_h,
    }
    return Provenance(
        model_versions=versions,
        input_files=input_files,
        software_version=software_version(),
        configuration_hash=config_hash,
        extra={
            WITHHELD_GAUGES_ATTR: json.dumps(list(withheld_ids)),
            "rainfuse_adjustment": json.dumps(adjustment),
            "rainfuse_screening": json.dumps(fused.excluded, sort_keys=True),
            "rainfuse_error_model": json.dumps(error_model),
            SR_FOOTPRINT_RADIUS_ATTR: json.dumps(float(sr_footprint_radius_km)),
            **(quality_attrs(fallbacks) if fallbacks is not None else {}),
            **({SOURCES_ATTR: json.dumps(sources, sort_keys=True)} if sources is not None else {}),
            **(
                {MODEL_CAPABILITY_ATTR: json.dumps(dict(capabilities), sort_keys=True)}
                if capabilities is not None
                else {}
            ),
        },
    )
