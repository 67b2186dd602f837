"""EIP-2612 permits signed off-chain with eth-account, for the tests, the benches and the demo.

The settlement token (DevStablecoin, like USDC) and every share token implement EIP-2612 with OpenZeppelin's
ERC20Permit, whose EIP-712 domain is (name, version "1", chainId, the token's address).
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data

PERMIT_TYPES = {
    "EIP712Domain": [
        {"name": "name", "type": "string"},
        {"name": "version", "type": "string"},
        {"name": "chainId", "type": "uint256"},
        {"name": "verifyingContract", "type": "address"},
    ],
    "Permit": [
        {"name": "owner", "type": "address"},
        {"name": "spender", "type": "address"},
        {"name": "value", "type": "uint256"},
        {"name": "nonce", "type": "uint256"},
        {"name": "deadline", "type": "uint256"},
    ],
}


def permit_message(token: Any, owner: Any, spender: Any, value: int, nonce: int, deadline: int) -> dict[str, Any]:
    """The EIP-712 typed data of a permit of `token` (a brownie contract) from `owner` to `spender`."""
    from brownie import chain

    return {
        "types": PERMIT_TYPES,
        "primaryType": "Permit",
        "domain": {"name": token.name(), "version": "1", "chainId": chain.id, "verifyingContract": token.address},
        "message": {
            "owner": str(owner),
            "spender": str(spender),
            "value": value,
            "nonce": nonce,
            "deadline": deadline,
        },
    }


def sign_permit(
    token: Any,
    owner_key: bytes | str,
    spender: Any,
    value: int,
    deadline: int,
    nonce: int | None = None,
    owner: Any = None,
) -> tuple[int, bytes, bytes]:
    """(v, r, s) of a permit signed with `owner_key`. The owner defaults to the key's address (pass another
    to forge a signature for a test) and the nonce to the owner's current one."""
    owner = str(owner) if owner is not None else Account.from_key(owner_key).address
    nonce = token.nonces(owner) if nonce is None else nonce
    typed = permit_message(token, owner, spender, value, nonce, deadline)
    signed = Account.sign_message(encode_typed_data(full_message=typed), owner_key)
    return signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
