"""Daily fused rainfall products: merging, gauge adjustment, accumulation, writers, verification.

Pure science library (no Dagster): every function takes arrays on the product grid and returns
arrays or xarray Datasets, so the same code runs in a notebook, a test or a Dagster asset.
"""

from fusion_ops.products.errors import ProductInputError

SOURCES: tuple[str, ...] = ("gr", "sr", "sat")
"""Single sources of the merge: ground radar (MLP-1), spaceborne radar (MLP-2), satellite (MLP-3)."""

__all__ = ["SOURCES", "ProductInputError"]
