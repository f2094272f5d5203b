"""Fusion networks: two-branch pansharpening CNN, MHF-Net unfolding, RGB-guided HS SR."""
