"""Encoders for the real archive file formats the synthetic observing system writes.

``nexrad_level2``: WSR-88D Level II (Archive II, message 31 and legacy message 1);
``abi_l1b``: GOES ABI L1b netCDF; ``trmm_hdf4``: TRMM PR V7 2A25 / 2A23 HDF4 granules.
"""
