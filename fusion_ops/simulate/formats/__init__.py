"""Encoders for the real archive file formats the synthetic observing system writes.

``nexrad_level2``: WSR-88D Level II (Archive II, message 31); ``abi_l1b``: GOES ABI L1b netCDF.
"""
