"""Wellhead oracle: meters GPU clusters (DCGM via Prometheus, NVML, recordings), aggregates epoch reports,
signs them as EIP-712 typed data and posts them to the MeteringOracle.

The package imports without brownie; submodules are imported on demand (``oracle.aggregate``,
``oracle.eip712``, ``oracle.signer``...).
"""

__version__ = "0.1.0"
