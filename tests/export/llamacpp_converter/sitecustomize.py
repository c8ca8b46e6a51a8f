# Debian bookworm's torch 1.13 lacks dtypes newer converters list in lookup tables (float8, uint16..64).
# Give the missing names placeholder objects: they are only table keys for checkpoints in those dtypes.
import torch
for _n in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "uint16", "uint32", "uint64", "float8_e8m0fnu", "float4_e2m1fn_x2"):
    if not hasattr(torch, _n):
        setattr(torch, _n, type(_n, (), {})())
