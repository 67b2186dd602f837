"""`make bench` section: LendingMarket gas (supply, borrow, repay, liquidate), next to OpenZeppelin's plain
ERC-4626 deposit measured in the same run, with GOALS.md's goals (0.6 x Aave v3) checked on the absolute gas.

Figures are whole-transaction gas from receipts (21,000 intrinsic and calldata included, as Aave's anchors),
each measured in a WARM, realistic case: the market already has lenders, collateral and loans; an hour has
passed since the market was last touched, so each call accrues interest and rewrites the accrual slot; the
acting account already holds the tokens it sends or receives (no zero-to-nonzero balance write):
- supply:    a lender who already holds vault shares deposits again (ERC-4626 `deposit`);
- borrow:    a borrower with collateral posted and a loan outstanding borrows more;
- repay:     that borrower repays part of its loan by assets;
- liquidate: a verified liquidator that already holds shares and stablecoin liquidates part of an unhealthy
             loan in repay mode (the price fell, one bounded step an epoch, after the asset was suspended);
- the OpenZeppelin baseline is the same repeat deposit into a plain ERC-4626 vault (contracts/bench/PlainVault.sol)
  over the same stablecoin, with shares and assets already there.
borrow and liquidate call the valuation's `update()`, which anchors the price once an epoch: in the goal rows the
hour that passed also started a new epoch, so each of them is the first call of its epoch and pays for the
anchoring (the target's computation, one SSTORE, PriceUpdated). The `.price_anchored` rows measure the same call
in an epoch whose price a keeper (or any earlier call) already anchored, without goals.
First-time figures (a new lender's first deposit, a borrower's first loan) are recorded too, without goals.

The section deploys its own suite with the deploy script's function and a market at LLTV 62.5% with the
script's kink IRM; the share price comes from the suite's YieldValuation ($100 anchor, no settled history).
"""

from __future__ import annotations

import logging

from scripts.benchmarks.core import Bench, quiet

log = logging.getLogger(__name__)

HOUR = 3600
MAX_UINT = 2**256 - 1
LLTV = 625 * 10**15
#: GOALS.md: 0.6 x Aave v3 (supply 139,678 / borrow 209,306 / repay 145,712 / liquidate 349,519).
AAVE_V3 = {"supply": 139_678, "borrow": 209_306, "repay": 145_712, "liquidate": 349_519}
GOAL_FACTOR = 0.6
#: window 24, cap rate 15%, no decay, 10% a epoch, never silent, -50% silent, -50% suspended; wash guards:
#: 50% a year from a weekly snapshot, a $2.50 reference price per GPU-hour
VALUATION_PARAMS = (24, 1_500, 0, 1_000, 1_000_000, 5_000, 5_000, 5_000, 168, 2_500_000)


def _usd(amount: int) -> int:
    return amount * 10**6


def _shares(amount: int) -> int:
    return amount * 10**18


class _Harness:
    """A suite, one asset with share holders, a lending market and the plain vault, ready to measure."""

    def __init__(self) -> None:
        from brownie import LendingMarket, PlainVault, accounts, chain

        from scripts.deploy import SuiteConfig, deploy_suite
        from scripts.samples import H100_CLUSTER, register_asset

        self.chain = chain
        self.admin = accounts[0]
        self.lender, self.lender2, self.borrower, self.borrower2, self.liquidator, self.keeper = accounts[1:7]
        self.suite = suite = deploy_suite(self.admin, SuiteConfig())
        coin, tx = suite.stablecoin, {"from": self.admin}
        self.coin = coin
        asset = register_asset(suite, self.admin, self.admin, H100_CLUSTER)
        self.token = token = asset.shares
        expiry = chain.time() + 10 * 365 * 86_400
        for who in (self.lender, self.lender2, self.borrower, self.borrower2, self.liquidator, self.keeper):
            suite.investor_registry.addInvestor(who, expiry, 756, tx)
            coin.mint(who, _usd(10_000_000), tx)
        token.openOffering(_usd(100), _shares(1_000), chain.time() + 86_400, tx)
        for who, n in ((self.borrower, 400), (self.borrower2, 400), (self.liquidator, 200)):
            coin.approve(token, MAX_UINT, {"from": who})
            token.subscribe(_shares(n), _usd(100) * n, {"from": who})
        suite.valuation.configure(asset.asset_id, VALUATION_PARAMS, _usd(100), tx)
        self.asset_id = asset.asset_id
        created = suite.lending_factory.createMarket((coin, token, suite.valuation, suite.irm, LLTV),
                                                     {"from": self.keeper})
        self.market = market = LendingMarket.at(created.return_value)
        self.vault = vault = PlainVault.deploy(coin, tx)
        for who in (self.lender, self.lender2, self.borrower, self.borrower2, self.liquidator, self.keeper):
            coin.approve(market, MAX_UINT, {"from": who})
            coin.approve(vault, MAX_UINT, {"from": who})
            token.approve(market, MAX_UINT, {"from": who})

    def later(self, seconds: int = HOUR) -> None:
        self.chain.sleep(seconds)
        self.chain.mine()


def _measure(h: _Harness) -> dict[str, int]:
    m, coin = h.market, h.coin
    gas: dict[str, int] = {}

    # Set-up: a lender, two borrowers with collateral, one with a loan; the same lender in the plain vault.
    gas["supply.first_lender"] = m.deposit(_usd(500_000), h.lender, {"from": h.lender}).gas_used
    h.vault.deposit(_usd(500_000), h.lender, {"from": h.lender})
    m.supplyCollateral(_shares(400), h.borrower, {"from": h.borrower})
    m.supplyCollateral(_shares(400), h.borrower2, {"from": h.borrower2})
    h.later()
    gas["borrow.first_loan"] = m.borrow(_usd(10_000), h.borrower, {"from": h.borrower}).gas_used
    h.later()
    m.borrow(_usd(20_000), h.borrower2, {"from": h.borrower2})
    h.later()

    # Warm figures.
    gas["oz_deposit"] = h.vault.deposit(_usd(1_000), h.lender, {"from": h.lender}).gas_used
    gas["supply"] = m.deposit(_usd(1_000), h.lender, {"from": h.lender}).gas_used
    gas["supply.first_in_plain_vault"] = h.vault.deposit(_usd(1_000), h.lender2, {"from": h.lender2}).gas_used
    h.later()
    gas["borrow"] = m.borrow(_usd(5_000), h.borrower, {"from": h.borrower}).gas_used
    h.later()
    gas["repay"] = m.repay(_usd(1_000), 0, h.borrower, {"from": h.borrower}).gas_used
    h.later()
    # The same borrow in an epoch whose price a keeper (or an earlier call) already anchored.
    h.suite.valuation.update(h.asset_id, {"from": h.keeper})
    gas["borrow.price_anchored"] = m.borrow(_usd(1_000), h.borrower, {"from": h.borrower}).gas_used
    h.later()

    # The asset is suspended: each anchoring (once an epoch) moves its value down 10% of the last anchor.
    # Borrower 2 owes 20,000 on 400 shares: liquidatable once 400 x price x 0.625 < 20,000, i.e. below $80:
    # a keeper anchors $90 and $81, the liquidation anchors $72.90 an hour later.
    h.suite.asset_registry.setStatus(h.asset_id, 2, {"from": h.admin})
    for _ in range(2):
        h.later()
        h.suite.valuation.update(h.asset_id, {"from": h.keeper})
    h.later()
    if m.healthFactor(h.borrower2) >= 10**18:
        raise RuntimeError("bench: borrower 2 should be liquidatable by now")
    gas["liquidate"] = m.liquidate(h.borrower2, 0, 10**15, {"from": h.liquidator}).gas_used
    # An hour later, in an epoch a keeper already anchored ($65.61), the next partial liquidation.
    h.later()
    h.suite.valuation.update(h.asset_id, {"from": h.keeper})
    gas["liquidate.price_anchored"] = m.liquidate(h.borrower2, 0, 10**15, {"from": h.liquidator}).gas_used
    if coin.balanceOf(m) == 0:
        raise RuntimeError("bench: the market holds nothing")
    return gas


def run(bench: Bench) -> None:
    """Deploys a lending suite and the plain vault, and records the lending gas figures."""
    with quiet():
        harness = _Harness()
        gas = _measure(harness)
    oz_name = "lending.baseline.oz_erc4626_deposit"
    bench.record(oz_name, gas["oz_deposit"], note="OpenZeppelin ERC4626, repeat deposit, same run")
    for op in ("supply", "borrow", "repay", "liquidate"):
        bench.compare(f"lending.{op}", gas[op], oz_name, gas["oz_deposit"], note="warm, whole transaction")
        goal = round(GOAL_FACTOR * AAVE_V3[op])
        bench.record(f"lending.{op}.goal", gas[op], goal=f"<= {goal:,}",
                     note=f"GOALS.md: 0.6 x Aave v3 {op} ({AAVE_V3[op]:,})")
    bench.record("lending.supply.first_lender", gas["supply.first_lender"], note="empty market, new lender")
    bench.record("lending.baseline.oz_erc4626_deposit.first_in_vault", gas["supply.first_in_plain_vault"],
                 note="new lender, non-empty plain vault")
    bench.record("lending.borrow.first_loan", gas["borrow.first_loan"], note="collateral posted, first loan")
    for op in ("borrow", "liquidate"):
        bench.record(f"lending.{op}.price_anchored", gas[f"{op}.price_anchored"],
                     note="warm, price already anchored this epoch (the goal row anchors it)")
    _wait_for_brownie_bookkeeping()


def _wait_for_brownie_bookkeeping(timeout: float = 10.0) -> None:
    """brownie records each transaction for `chain.undo` in a thread of its own; wait for them, so that none
    is still querying the node when bench.py stops it."""
    import threading

    from brownie.network.state import Chain

    for thread in threading.enumerate():
        owner = getattr(getattr(thread, "_target", None), "__self__", None)
        if thread is not threading.current_thread() and isinstance(owner, Chain):
            thread.join(timeout)
