"""Exact custom-error assertions: the revert data must equal selector + ABI-encoded arguments, byte for byte.

brownie 1.22 only keeps a decoded, lossy string of a custom error (`VirtualMachineError.revert_msg`), so the
raw revert data is read back from the node: for a reverted transaction from Anvil's `debug_traceTransaction`
(`returnValue`), for a call from the `eth_call` error's `data`.

    with reverts("NotSigner(uint256,address)", 0, recovered):
        oracle.submit(version, reports, signers, signatures, {"from": keeper})

    assert_call_reverts(oracle.getReport, (asset_id, 7), "ReportNotFound(uint256,uint64)", asset_id, 7)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from eth_abi import encode
from eth_utils import keccak


def error_data(signature: str, *args: Any) -> bytes:
    """selector(signature) + abi.encode(args) for a custom error such as "EpochGap(uint256,uint64,uint64)"."""
    name, _, rest = signature.partition("(")
    if not name or not rest.endswith(")") or " " in signature:
        raise ValueError(f"not a canonical error signature: {signature!r}")
    types = [t for t in rest[:-1].split(",") if t]
    if len(types) != len(args):
        raise ValueError(f"{signature} takes {len(types)} arguments, {len(args)} given")
    normalised = [_normalise(t, a) for t, a in zip(types, args)]
    return keccak(text=signature)[:4] + encode(types, normalised)


def _normalise(abi_type: str, value: Any) -> Any:
    if abi_type == "address":
        return str(value)
    if abi_type.startswith("bytes") and isinstance(value, str):
        return bytes.fromhex(value[2:] if value.startswith("0x") else value)
    if abi_type.startswith("bytes") and not isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value


def _hex_to_bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return bytes.fromhex(value[2:] if value.startswith("0x") else value)


def _describe(data: bytes) -> str:
    """Decodes revert data with brownie's error table when it can, for readable failures."""
    try:
        from brownie.exceptions import decode_typed_error

        return f"{decode_typed_error('0x' + data.hex())} (0x{data.hex()})"
    except Exception:  # noqa: BLE001 (a description only)
        return "0x" + data.hex()


def transaction_revert_data(txid: str) -> bytes:
    """The raw revert data of a mined, reverted transaction (Anvil's trace `returnValue`)."""
    from brownie import web3

    reply = web3.provider.make_request(
        "debug_traceTransaction",
        [txid, {"disableStorage": True, "disableStack": True, "disableMemory": True, "enableReturnData": True}],
    )
    if "error" in reply:
        raise AssertionError(f"cannot trace {txid}: {reply['error']}")
    result = reply["result"]
    if not result.get("failed"):
        raise AssertionError(f"transaction {txid} did not revert")
    return _hex_to_bytes(result.get("returnValue"))


class _Expectation:
    def __init__(self, expected: bytes) -> None:
        self.expected = expected
        self.actual: bytes | None = None
        self.txid: str | None = None


@contextmanager
def reverts(signature: str, *args: Any) -> Iterator[_Expectation]:
    """Asserts that the transaction sent in the block reverts with exactly this custom error and arguments."""
    from brownie.exceptions import VirtualMachineError

    expectation = _Expectation(error_data(signature, *args))
    try:
        yield expectation
    except VirtualMachineError as exc:
        if not exc.txid:
            raise AssertionError(
                "the revert came from a call, whose raw data brownie drops: use assert_call_reverts"
            ) from exc
        expectation.txid = exc.txid
        expectation.actual = transaction_revert_data(exc.txid)
    else:
        raise AssertionError(f"did not revert; expected {_describe(expectation.expected)}")
    if expectation.actual != expectation.expected:
        raise AssertionError(
            f"wrong revert:\n  expected {_describe(expectation.expected)}\n  actual   {_describe(expectation.actual)}"
        )


def call_revert_data(fn: Any, args: tuple, sender: Any = None) -> bytes:
    """Raw revert data of `fn(*args)` as an eth_call at the latest block; fails when the call succeeds."""
    from brownie import web3

    call: dict[str, Any] = {"to": fn._address, "data": fn.encode_input(*args)}
    if sender is not None:
        call["from"] = str(sender)
    reply = web3.provider.make_request("eth_call", [call, "latest"])
    if "error" not in reply:
        raise AssertionError(f"{fn._name}{args} did not revert (returned {reply.get('result')})")
    return _hex_to_bytes(reply["error"].get("data"))


def assert_call_reverts(fn: Any, args: tuple, signature: str, *error_args: Any, sender: Any = None) -> None:
    """Asserts that the call `fn(*args)` reverts with exactly this custom error and arguments."""
    expected = error_data(signature, *error_args)
    actual = call_revert_data(fn, args, sender)
    if actual != expected:
        raise AssertionError(f"wrong revert:\n  expected {_describe(expected)}\n  actual   {_describe(actual)}")
