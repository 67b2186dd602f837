"""`make bench` section: AssetShares gas (whole-transaction gas from receipts), next to a plain OpenZeppelin
ERC-20 transfer (the DevStablecoin) measured in the same run.

Figures:
- a share transfer between two verified holders that both hold shares (the steady case) and to a holder's
  first receipt, each next to the same transfer of the DevStablecoin (goal <= 2.0 on the steady ratio);
- `subscribe` (a first-time and a repeat subscriber), `depositRevenue`, `claim`;
- `depositRevenue` with 1,000 holders next to the same deposit with 1 holder, and `claim` after 1,000 deposits
  next to a claim after 1 deposit (goals <= 1.05: both are O(1) by construction).

The section deploys its own suite and three assets on the bench's Anvil; the 1,000 holders are plain
addresses (they only receive shares), verified and funded through raw transactions to keep the section fast.
"""

from __future__ import annotations

from typing import Any

from eth_utils import keccak, to_checksum_address

from scripts.benchmarks.core import Bench, quiet

MANY = 1_000
GOAL_TRANSFER_RATIO = "<= 2.0"
GOAL_O1_RATIO = "<= 1.05"
SOURCE = b"LEASE".ljust(32, b"\0")


def run(bench: Bench) -> None:
    with quiet():
        g = _measure()
    bench.record("shares.erc20_transfer.steady", g["erc20.steady"])
    bench.compare("shares.transfer.steady", g["shares.steady"], "shares.erc20_transfer.steady", g["erc20.steady"],
                  goal=GOAL_TRANSFER_RATIO)
    bench.record("shares.erc20_transfer.fresh_receiver", g["erc20.fresh"])
    bench.compare("shares.transfer.fresh_receiver", g["shares.fresh"], "shares.erc20_transfer.fresh_receiver",
                  g["erc20.fresh"], note="the receiver's first shares: its balance and correction slots are new")
    for name in ("subscribe.first", "subscribe.repeat", "depositRevenue", "claim"):
        bench.record(f"shares.{name}", g[name])
    bench.record("shares.depositRevenue.1holder", g["deposit.1"])
    bench.compare(f"shares.depositRevenue.{MANY}holders", g[f"deposit.{MANY}"], "shares.depositRevenue.1holder",
                  g["deposit.1"], goal=GOAL_O1_RATIO)
    bench.record("shares.claim.after1deposit", g["claim.1"])
    bench.compare(f"shares.claim.after{MANY}deposits", g[f"claim.{MANY}"], "shares.claim.after1deposit",
                  g["claim.1"], goal=GOAL_O1_RATIO)


def _measure() -> dict[str, int]:
    from brownie import accounts, chain

    from scripts.deploy import SuiteConfig, deploy_suite
    from scripts.samples import H100_CLUSTER, register_asset, shares, usd
    from tests.support.actors import Actors

    a = Actors.from_accounts(accounts)
    suite = deploy_suite(a.admin, SuiteConfig(compliance=a.compliance))
    coin, investors = suite.stablecoin, suite.investor_registry
    g: dict[str, int] = {}
    expiry = chain.time() + 365 * 86_400

    def verify(*who: Any) -> None:
        for account in who:
            investors.addInvestor(account, expiry, 756, {"from": a.compliance})

    def offering(operator: Any) -> Any:
        asset = register_asset(suite, a.admin, operator, H100_CLUSTER)
        asset.shares.openOffering(usd(100), shares(1_000_000), chain.time() + 86_400, {"from": operator})
        return asset.shares

    def buy(token: Any, who: Any, count: int) -> int:
        cost = token.previewSubscribe(shares(count))
        coin.approve(token, cost, {"from": who})
        return token.subscribe(shares(count), cost, {"from": who}).gas_used

    def deposit(token: Any, amount: int) -> int:
        return token.depositRevenue(amount, SOURCE, {"from": a.operator}).gas_used

    verify(a.alice, a.bob, a.carol)
    for who in (a.alice, a.bob, a.carol, a.operator):
        coin.mint(who, usd(10_000_000), {"from": a.admin})

    # --- transfers, subscriptions, deposit, claim on one token with three holders ---------------------------
    token = offering(a.operator)
    g["subscribe.first"] = buy(token, a.alice, 100)
    g["subscribe.repeat"] = buy(token, a.alice, 100)
    buy(token, a.bob, 100)
    coin.approve(token, 2**256 - 1, {"from": a.operator})
    deposit(token, usd(1_000))  # the first distribution: the accumulator slot goes from zero
    g["depositRevenue"] = deposit(token, usd(1_000))
    token.transfer(a.bob, shares(1), {"from": a.alice})  # both correction slots are written once from zero
    g["shares.steady"] = token.transfer(a.bob, shares(1), {"from": a.alice}).gas_used
    g["shares.fresh"] = token.transfer(a.carol, shares(1), {"from": a.alice}).gas_used
    g["claim"] = token.claim({"from": a.bob}).gas_used
    coin.transfer(a.bob, usd(1), {"from": a.alice})
    g["erc20.steady"] = coin.transfer(a.bob, usd(1), {"from": a.alice}).gas_used
    fresh = accounts.add(keccak(text="wellhead-bench-fresh"))
    g["erc20.fresh"] = coin.transfer(fresh, usd(1), {"from": a.alice}).gas_used

    # --- deposit with 1 holder vs 1,000 holders ----------------------------------------------------------------
    one, many = offering(a.operator2), offering(a.operator2)
    for t in (one, many):
        coin.mint(a.operator2, usd(10_000_000), {"from": a.admin})
        coin.approve(t, 2**256 - 1, {"from": a.operator2})
    buy(one, a.carol, 1_000)
    buy(many, a.carol, 1_000)
    holders = [to_checksum_address(keccak(text=f"wellhead-bench-holder-{i}")[-20:]) for i in range(MANY - 1)]
    _send_many(investors, "addInvestor", [(h, expiry, 756) for h in holders], a.compliance)
    _send_many(many, "transfer", [(h, shares(1)) for h in holders], a.carol)
    assert many.balanceOf(holders[-1]) == shares(1)
    for t in (one, many):  # first distribution of each (writes the accumulator from zero), then the measured one
        t.depositRevenue(usd(100), SOURCE, {"from": a.operator2})
    g["deposit.1"] = one.depositRevenue(usd(100), SOURCE, {"from": a.operator2}).gas_used
    g[f"deposit.{MANY}"] = many.depositRevenue(usd(100), SOURCE, {"from": a.operator2}).gas_used

    # --- claim after 1 deposit vs after 1,000 deposits -------------------------------------------------------
    after_one, after_many = offering(a.operator), offering(a.operator)
    for t in (after_one, after_many):
        buy(t, a.bob, 10)
        coin.approve(t, 2**256 - 1, {"from": a.operator})
    after_one.depositRevenue(usd(5), SOURCE, {"from": a.operator})
    _send_many(after_many, "depositRevenue", [(usd(5), SOURCE)] * MANY, a.operator)
    assert after_many.totalDeposited() == MANY * usd(5)
    g["claim.1"] = after_one.claim({"from": a.bob}).gas_used
    g[f"claim.{MANY}"] = after_many.claim({"from": a.bob}).gas_used
    return g


def _send_many(contract: Any, method: str, calls: list[tuple], sender: Any) -> None:
    """Sends many transactions from an unlocked node account without brownie's per-transaction bookkeeping,
    then checks every receipt."""
    from brownie import web3

    fn = getattr(contract, method)
    hashes = [
        web3.eth.send_transaction(
            {"from": sender.address, "to": contract.address, "data": fn.encode_input(*args), "gas": 300_000,
             "gasPrice": 0}
        )
        for args in calls
    ]
    failed = [h for h in hashes if web3.eth.wait_for_transaction_receipt(h, timeout=60)["status"] != 1]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(hashes)} {method} transactions failed")
