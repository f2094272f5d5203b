"""Imagery fusion assets (group ``imagery``): daily synthetic scene, trained nets, fused products.

Thin wrappers: each asset reads its inputs and resources, calls :mod:`fusion_ops.imagery`, and
reports quality metrics and PNG quicklooks as metadata.  Assets that train or run a network carry
the GPU pool, Celery queue and Kubernetes GPU request (:mod:`orchestration.runtime.tags`); their device comes
from the ``compute`` resource, so they run on CPU too.
"""

import functools
import zlib

import xarray as xr
from dagster import AssetExecutionContext, Config, MetadataValue, asset

from fusion_ops.imagery import products, scenes
from fusion_ops.imagery.train import TrainConfig
from orchestration.runtime.metadata import floats, png_markdown
from orchestration.runtime.partitions import daily_partitions
from orchestration.runtime.resources import ComputeResource
from orchestration.runtime.sources import partition_sources, planned
from orchestration.runtime.tags import GPU_OP_TAGS, GPU_POOL

GROUP = "imagery"
#: The assets that train or run a network: daily, in the GPU pool, routed to GPU workers.
gpu_asset = functools.partial(
    asset, group_name=GROUP, partitions_def=daily_partitions, pool=GPU_POOL, op_tags=GPU_OP_TAGS
)


class ImageryConfig(Config):
    """Scene size and training effort of the daily imagery products."""

    size_px: int = 64
    n_bands: int = 128
    ratio_hs: int = 4
    ratio_ms: int = 4
    train_steps: int = 150
    seed: int = 0
    lat_north_deg: float = 28.6
    lon_west_deg: float = -81.0
    pixel_deg: float = 0.0005


def _seed(context: AssetExecutionContext, config: ImageryConfig) -> int:
    return config.seed + zlib.crc32(context.partition_key.encode()) % 100_000


def _train_cfg(config: ImageryConfig, context: AssetExecutionContext, device) -> TrainConfig:
    return TrainConfig(
        steps=config.train_steps,
        batch=4,
        patch=min(48, config.size_px),
        seed=_seed(context, config),
        log_every=max(1, config.train_steps // 4),
        device=device,
        progress=None,
    )


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    description="Synthetic imagery scene of the day: reflectance cube (400-2500 nm) and what the "
    "HS, MS, PAN and RGB sensors see of it, on a lat/lon grid.",
)
def imagery_scene(context: AssetExecutionContext, config: ImageryConfig) -> xr.Dataset:
    views = scenes.synthetic_scene(
        (config.size_px, config.size_px),
        config.n_bands,
        _seed(context, config),
        ratio_hs=config.ratio_hs,
        ratio_ms=config.ratio_ms,
    )
    ds = scenes.scene_to_dataset(views, config.lat_north_deg, config.lon_west_deg, config.pixel_deg)
    context.add_output_metadata(
        {
            "bands": MetadataValue.int(int(ds.sizes["wavelength"])),
            "size_px": MetadataValue.int(config.size_px),
            "mean_reflectance": MetadataValue.float(float(ds["reflectance"].mean())),
        }
    )
    return ds


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"pytorch", "safetensors"},
    pool=GPU_POOL,
    op_tags=GPU_OP_TAGS,
    description="Two-branch pansharpening CNN trained on the day's own MS/PAN (Wald's protocol).",
)
def pansharpen_model(
    context: AssetExecutionContext,
    config: ImageryConfig,
    compute: ComputeResource,
    imagery_scene: xr.Dataset,
) -> bytes:
    device = compute.torch_device()
    model, info = products.pansharpen_dataset(imagery_scene, _train_cfg(config, context, device))
    context.add_output_metadata({**floats(info), "device": MetadataValue.text(str(device))})
    arch = {"n_bands": int(imagery_scene.sizes["ms_band"])}
    return products.model_to_bytes(model, "two_branch", arch, info)


@gpu_asset(
    kinds={"xarray", "netcdf"},
    description="Pansharpened MS on the PAN grid, with HQNR (and truth scores) as metadata and a "
    "before/after quicklook.",
)
def pansharpened_ms(
    context: AssetExecutionContext,
    compute: ComputeResource,
    imagery_scene: xr.Dataset,
    pansharpen_model: bytes,
) -> xr.Dataset:
    model = products.model_from_bytes(pansharpen_model)
    fused, metrics = products.apply_pansharpen(imagery_scene, model, compute.torch_device())
    ratio = int(imagery_scene.attrs["ratio_ms"])
    before = imagery_scene["ms"].values.repeat(ratio, 1).repeat(ratio, 2)
    png = products.quicklook_png(before, fused["ms_fused"].values, (2, 1, 0), "MS")
    context.add_output_metadata(
        {**floats(metrics), "quicklook": png_markdown(png, "MS before/after")}
    )
    return fused


@gpu_asset(
    kinds={"xarray", "netcdf"},
    description="Fine HS cube: MHF-Net fine-tuned on the day's coarse HS with the pansharpened MS "
    "as the fine guide; metrics and quicklook as metadata.",
)
def fused_hs(
    context: AssetExecutionContext,
    config: ImageryConfig,
    compute: ComputeResource,
    imagery_scene: xr.Dataset,
    pansharpened_ms: xr.Dataset,
) -> xr.Dataset:
    device = compute.torch_device()
    _, fused, metrics = products.hs_fusion(
        imagery_scene, pansharpened_ms["ms_fused"].values, _train_cfg(config, context, device)
    )
    wl = imagery_scene["wavelength"].values
    bands = tuple(int(abs(wl - w).argmin()) for w in (650, 550, 470))
    ratio = int(imagery_scene.attrs["ratio_hs"])
    before = imagery_scene["hs"].values.repeat(ratio, 1).repeat(ratio, 2)
    png = products.quicklook_png(before, fused["hs_fused"].values, bands, "HS")  # type: ignore[arg-type]
    context.add_output_metadata(
        {**floats(metrics), "quicklook": png_markdown(png, "HS before/after")}
    )
    return fused


@asset(
    group_name=GROUP,
    partitions_def=daily_partitions,
    kinds={"xarray", "netcdf"},
    description="ABI reflective bands (C01, C03, C05) sharpened to 0.5 km with the 0.5 km red "
    "band C02 (MTF-GLP, regression gain); HQNR and reduced-resolution scores as metadata.",
)
def abi_sharpened(context: AssetExecutionContext, satellite_native_scene: xr.Dataset) -> xr.Dataset:
    from fusion_ops.imagery.abi import sharpen_native_scene

    if "C02" not in satellite_native_scene:
        available, reason = planned(partition_sources(context.partition_key), "satellite")
        if available:
            context.log.warning("no ABI scene with C02 for this day: empty product")
        else:
            context.log.info(f"no ABI planned for this day ({reason}): empty product")
        meta = {"bands": MetadataValue.int(0)}
        if not available:
            meta["not_planned"] = MetadataValue.text(reason)
        context.add_output_metadata(meta)
        return xr.Dataset()
    out, metrics = sharpen_native_scene(satellite_native_scene)
    first = next(iter(out.data_vars), None)
    meta = {**floats(metrics), "bands": MetadataValue.int(len(out.data_vars))}
    if first is not None:
        # both at 2 km for the quicklook: the 1 km input every 2nd pixel, the product every 4th
        before = satellite_native_scene[first].values[::2, ::2][None]
        after = out[first].values[::4, ::4][None]
        png = products.quicklook_png(before, after, (0, 0, 0), first)
        meta["quicklook"] = png_markdown(png, f"{first} before/after")
    context.add_output_metadata(meta)
    return out
