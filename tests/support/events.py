"""Event assertions for the brownie tests: every field of an event, checked by name and value."""

from __future__ import annotations

from typing import Any

from hexbytes import HexBytes


def _normalise(value: Any) -> Any:
    """Accounts and contracts to their address, hex strings and bytes to bytes, sequences element-wise."""
    if hasattr(value, "address") and not isinstance(value, (str, bytes)):
        value = value.address
    if isinstance(value, (list, tuple)):
        return [_normalise(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str) and value.startswith("0x"):
        return bytes(HexBytes(value))
    return value


def assert_event(tx: Any, name: str, *, index: int = 0, emitter: Any = None, **expected: Any) -> None:
    """Asserts that `tx` emitted event `name` (the `index`-th of that name) with exactly the fields `expected`.

    Every field of the event must be named: a field left out fails the assertion, so a test cannot pass
    while an event value silently changes. `emitter` checks the emitting contract's address.
    """
    assert name in tx.events, f"{name} not emitted; events: {list(tx.events.keys())}"
    event = tx.events[name][index]
    actual = {key.replace(" (indexed)", ""): value for key, value in event.items()}
    assert set(actual) == set(expected), f"{name} fields {sorted(actual)} != asserted {sorted(expected)}"
    for key, want in expected.items():
        assert _normalise(actual[key]) == _normalise(want), f"{name}.{key}: {actual[key]!r} != {want!r}"
    if emitter is not None:
        assert _normalise(event.address) == _normalise(emitter), f"{name} emitted by {event.address}"


def assert_no_event(tx: Any, name: str) -> None:
    assert name not in tx.events, f"{name} emitted unexpectedly: {tx.events[name]}"


def count_events(tx: Any, name: str) -> int:
    return len(tx.events[name]) if name in tx.events else 0
