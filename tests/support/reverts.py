"""Exact custom-error assertions for the brownie tests.

brownie 1.22 turns revert data into a *string*: it decodes the 4-byte selector against every ABI it has seen
(`brownie/exceptions.py: decode_typed_error`) into `"NotOperator: 0x15d3..., 0x3c44..."`, and
`brownie.reverts("...")` compares that string. The string loses the argument types (a uint and an address
print alike), and a selector brownie has not seen prints as `Unknown typed error`. These helpers compare
the raw revert data instead, byte for byte, against the selector and ABI-encoded arguments computed from
the contract's ABI:

    with reverts_with(shares, "NotOperator", alice, operator):
        shares.openOffering(price, cap, closes_at, {"from": alice})

Where the raw data comes from:
- a reverted transaction (the development network's `reverting_tx_gas_limit: max` mines it) carries a txid;
  `debug_traceTransaction` with the call tracer returns the top frame's output, the revert data;
- a reverted call (`.call()`, a view) raises from web3 with the revert data in the JSON-RPC error, which
  brownie keeps as the exception's context.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from eth_abi import encode as abi_encode
from eth_utils import function_signature_to_4byte_selector
from hexbytes import HexBytes


def _abi_of(source: Any) -> list[dict]:
    """The ABI of a brownie contract, container or interface, or an ABI list itself."""
    if isinstance(source, list):
        return source
    return source.abi


def _type_string(param: dict) -> str:
    if param["type"].startswith("tuple"):
        inner = ",".join(_type_string(c) for c in param["components"])
        return f"({inner}){param['type'][5:]}"
    return param["type"]


def error_abi(source: Any, name: str) -> dict:
    """The ABI entry of custom error `name` declared in (or reachable from) `source`'s ABI."""
    errors = [item for item in _abi_of(source) if item.get("type") == "error" and item["name"] == name]
    if not errors:
        raise KeyError(f"no custom error {name!r} in the ABI")
    if len(errors) > 1:
        raise KeyError(f"custom error {name!r} is overloaded in the ABI; pass an ABI list with one entry")
    return errors[0]


def encode_error(source: Any, name: str, *args: Any) -> HexBytes:
    """Selector + ABI-encoded arguments of `name(args...)`, as the contract reverts with it."""
    from brownie.convert.normalize import format_input

    abi = error_abi(source, name)
    types = [_type_string(p) for p in abi["inputs"]]
    if len(args) != len(types):
        raise TypeError(f"{name} takes {len(types)} arguments ({', '.join(types)}), {len(args)} given")
    values = format_input(abi, list(args)) if types else []
    selector = function_signature_to_4byte_selector(f"{name}({','.join(types)})")
    return HexBytes(selector + abi_encode(types, values))


def revert_data(exc: BaseException) -> HexBytes | None:
    """The raw revert data of a brownie VirtualMachineError (None when the node gave none)."""
    txid = getattr(exc, "txid", "")
    if txid:
        from brownie import web3

        reply = web3.provider.make_request("debug_traceTransaction", [txid, {"tracer": "callTracer"}])
        frame = reply.get("result") or {}
        output = frame.get("output")
        return HexBytes(output) if output is not None else HexBytes(b"")
    seen: BaseException | None = exc
    while seen is not None:
        payload = seen.args[0] if seen.args else None
        if isinstance(payload, dict):
            data = payload.get("data")
            if isinstance(data, str) and data.startswith("0x"):
                return HexBytes(data)
        seen = seen.__cause__ or seen.__context__
    return None


def describe(source: Any, data: HexBytes | None) -> str:
    """Readable form of revert data, decoded against `source`'s ABI when the selector is known."""
    from eth_abi import decode as abi_decode

    if data is None:
        return "no revert data"
    if len(data) < 4:
        return f"0x{bytes(data).hex()}"
    for item in _abi_of(source):
        if item.get("type") != "error":
            continue
        types = [_type_string(p) for p in item["inputs"]]
        if function_signature_to_4byte_selector(f"{item['name']}({','.join(types)})") == bytes(data[:4]):
            try:
                return f"{item['name']}{tuple(abi_decode(types, bytes(data[4:])))}"
            except Exception:  # undecodable arguments: show the raw bytes below
                break
    return f"0x{bytes(data).hex()}"


@contextmanager
def reverts_with(source: Any, name: str, *args: Any) -> Iterator[HexBytes]:
    """Asserts that the block reverts with exactly custom error `name(*args)` from `source`'s ABI.

    `source` is the contract (or container, or ABI list) that declares the error; for an error that bubbles
    up from another contract (the stablecoin's `AccountBlocklisted` inside `claim`), pass that contract.
    Yields the expected revert data.
    """
    from brownie.exceptions import VirtualMachineError

    expected = encode_error(source, name, *args)
    try:
        yield expected
    except VirtualMachineError as exc:
        actual = revert_data(exc)
        if actual != expected:
            raise AssertionError(
                f"expected revert {describe(source, expected)}, got {describe(source, actual)} "
                f"(brownie: {exc.revert_msg!r})"
            ) from None
    else:
        raise AssertionError(f"expected revert {describe(source, expected)}, but nothing reverted")


@contextmanager
def reverts_with_panic(code: int) -> Iterator[HexBytes]:
    """Asserts a Solidity `Panic(uint256)` with `code` (0x11 overflow, 0x12 division by zero...)."""
    panic_abi = [{"type": "error", "name": "Panic", "inputs": [{"name": "code", "type": "uint256"}]}]
    with reverts_with(panic_abi, "Panic", code) as expected:
        yield expected
