"""The contract ABIs the ``oracle`` package ships, generated from the compiled contracts.

``scripts/gen_abi.py`` (``make abi``) copies each ABI in :data:`SHIPPED` from ``build/contracts/<Name>.json``
into ``oracle/abi/<Name>.json``; a test compares every shipped file with the build, so the daemon's calldata
and the admin CLI's can never drift from the contracts. The package needs neither brownie nor a compiler at
run time: these JSON files are package data.

Helpers here turn ABI entries into what eth-abi and a human need: canonical signatures
(``submit(uint64,(uint256,...)[],address[],(bytes32,bytes32)[])``), 4-byte selectors, and every custom
error of the suite by selector.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from eth_hash.auto import keccak

from oracle.errors import ConfigError

__all__ = [
    "SHIPPED",
    "AbiError",
    "abi_of",
    "canonical_type",
    "error_registry",
    "find_entry",
    "selector",
    "signature",
]

SHIPPED: tuple[str, ...] = (
    "AssetRegistry",
    "AssetShares",
    "DevStablecoin",
    "InvestorRegistry",
    "LeaseMarket",
    "LeaseMarketLens",
    "LeasePositions",
    "LeaseSettlement",
    "LendingFactory",
    "LendingMarket",
    "LinearKinkIrm",
    "MeteringOracle",
    "YieldValuation",
)
"""Contracts whose ABI the package ships: every deployable contract a daemon, keeper or admin talks to, and
the external library whose custom errors bubble up through ``LeaseMarket``."""

AbiEntry = Mapping[str, Any]


@cache
def abi_of(name: str) -> tuple[dict[str, Any], ...]:
    """The shipped ABI of contract ``name``.

    Raises:
        ConfigError: the package ships no ABI of that name.
    """
    if name not in SHIPPED:
        raise ConfigError(f"no shipped ABI for {name!r} (shipped: {', '.join(SHIPPED)})")
    text = resources.files(__package__).joinpath(f"{name}.json").read_text(encoding="utf-8")
    return tuple(json.loads(text))


def canonical_type(param: AbiEntry) -> str:
    """The canonical ABI type of one input or output: tuples spelled out (``(uint256,bytes32)[]``)."""
    kind = str(param["type"])
    if kind.startswith("tuple"):
        inner = ",".join(canonical_type(c) for c in param.get("components", ()))
        return f"({inner}){kind[len('tuple'):]}"
    return kind


def signature(entry: AbiEntry) -> str:
    """``name(type,...)`` of a function, event or error entry."""
    return f"{entry['name']}({','.join(canonical_type(p) for p in entry.get('inputs', ()))})"


def selector(entry: AbiEntry) -> bytes:
    """The 4-byte selector of a function or error entry."""
    return keccak(signature(entry).encode())[:4]


def find_entry(abi: Iterable[AbiEntry], name: str, kind: str = "function") -> AbiEntry:
    """The one entry named ``name`` of type ``kind``.

    Raises:
        ConfigError: none, or more than one (an overloaded name must be picked by signature).
    """
    found = [e for e in abi if e.get("type") == kind and e.get("name") == name]
    if len(found) != 1:
        raise ConfigError(f"expected one {kind} named {name!r} in the ABI, found {len(found)}")
    return found[0]


@dataclass(frozen=True)
class AbiError:
    """A custom error: its name, argument names and canonical argument types."""

    name: str
    arg_names: tuple[str, ...]
    arg_types: tuple[str, ...]

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.arg_types)})"


_BUILTIN_ERRORS = (
    {"type": "error", "name": "Error", "inputs": [{"name": "message", "type": "string"}]},
    {"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]},
)


def error_registry(abis: Sequence[Iterable[AbiEntry]] | None = None) -> dict[bytes, AbiError]:
    """Every custom error of ``abis`` (default: all shipped ABIs) and Solidity's ``Error(string)`` and
    ``Panic(uint256)``, by 4-byte selector."""
    sources: Sequence[Iterable[AbiEntry]] = abis if abis is not None else [abi_of(n) for n in SHIPPED]
    registry: dict[bytes, AbiError] = {}
    for abi in [*sources, _BUILTIN_ERRORS]:
        for entry in abi:
            if entry.get("type") != "error":
                continue
            inputs = entry.get("inputs", ())
            registry[selector(entry)] = AbiError(
                str(entry["name"]),
                tuple(str(p.get("name") or f"arg{i}") for i, p in enumerate(inputs)),
                tuple(canonical_type(p) for p in inputs),
            )
    return registry
