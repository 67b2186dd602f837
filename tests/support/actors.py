"""Named actors for the contract tests (morpho's `makeAddr` idea): each role is an account with a name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Actors:
    admin: Any  # deployer and default admin of every contract; registrar; stablecoin minter
    compliance: Any  # COMPLIANCE_ROLE on the InvestorRegistry
    operator: Any  # operates asset 1 (H100)
    operator2: Any  # operates asset 2 (L40S)
    alice: Any  # verified investor
    bob: Any  # verified investor
    carol: Any  # verified investor
    mallory: Any  # never verified
    lessee: Any  # rents capacity
    lessee2: Any  # rents capacity
    liquidator: Any  # verified later by the lending tests
    keeper: Any  # anyone: settles epochs, pokes valuations

    @classmethod
    def from_accounts(cls, accounts: Any) -> "Actors":
        names = list(cls.__dataclass_fields__)
        return cls(**{name: accounts[index] for index, name in enumerate(names)})
