"""Helpers of the lending tests: the module's world (clock, actors, markets), and the NatSpec formulas of
ILendingMarket, SharesMath, LinearKinkIrm and IShareValuation restated in plain integer Python.

Every figure a test asserts is written out by hand in that test's comments; the functions here only restate
the documented formulas (with the documented rounding) so that a test can check a whole table against them.
Nothing here reads the contracts' own maths: an independent model is the point.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scripts.samples import usd

HOUR = 3600
YEAR = 365 * 86_400
WAD = 10**18
BPS = 10_000
SHARE = 10**18  # one whole share in share units
MAX_UINT = 2**256 - 1
#: SharesMath's virtual borrow shares and assets (morpho-blue's SharesMathLib).
VIRTUAL_SHARES = 10**6
VIRTUAL_ASSETS = 1
#: LendingMarket's ERC-4626 decimals offset (vault shares carry 6 more decimals than the loan token).
DECIMALS_OFFSET = 6
LIQUIDATION_CURSOR = 3 * 10**17
MAX_LIF = 115 * 10**16

#: The module's clock: genesis this many whole epochs before the world starts...
EPOCHS_BEFORE_START = 11
#: ...and the world starts this many seconds into that epoch.
INTO_EPOCH = 60

STATUS_ACTIVE, STATUS_SUSPENDED, STATUS_RETIRED = 1, 2, 3

#: YieldValuation's loosest wash guards: a rise of up to 100% of the snapshot per hour, a snapshot every epoch,
#: and LeaseMarket's largest price per GPU-hour as the reference: only the per-epoch step binds (the guards
#: themselves are tested in tests/forge/lending/WashLeasing.t.sol and test_valuation.py).
MAX_RISE_BPS_PER_YEAR = 87_600_000
MAX_PRICE_PER_GPU_HOUR = 2**96 - 1
LOOSE_GUARDS = (MAX_RISE_BPS_PER_YEAR, 1, MAX_PRICE_PER_GPU_HOUR)
#: IShareValuation.ValuationParams order: window, capRate, decay/yr, maxMove/epoch, maxSilence, silence cut,
#: suspended cut, maxRise/yr, snapshot epochs, reference price per GPU-hour. "Clean": no GPU-age decay, a
#: silence threshold that never trips and loose wash guards, so the price stays at its $100 anchor until a
#: test moves it (no settled history: the anchor stands in for capitalised yield).
CLEAN_PARAMS = (24, 1_500, 0, 1_000, 1_000_000, 5_000, 5_000) + LOOSE_GUARDS
ANCHOR_PRICE = usd(100)

LLTV_50 = 5 * 10**17
LLTV_625 = 625 * 10**15
MARGIN = 5 * 10**16
#: Default LinearKinkIrm of the deploy script: 2% base, +8% up to the 80% kink, +100% above (annual, WAD).
DEFAULT_IRM = (2 * 10**16, 8 * 10**16, 10**18, 8 * 10**17)


# ------------------------------------------------------------------------------------------------ maths


def mul_div(a: int, b: int, c: int, up: bool = False) -> int:
    """OpenZeppelin Math.mulDiv (Floor or Ceil)."""
    q, r = divmod(a * b, c)
    return q + 1 if up and r else q


def to_shares_down(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS)


def to_shares_up(assets: int, total_assets: int, total_shares: int) -> int:
    return mul_div(assets, total_shares + VIRTUAL_SHARES, total_assets + VIRTUAL_ASSETS, up=True)


def to_assets_down(shares: int, total_assets: int, total_shares: int) -> int:
    return mul_div(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES)


def to_assets_up(shares: int, total_assets: int, total_shares: int) -> int:
    return mul_div(shares, total_assets + VIRTUAL_ASSETS, total_shares + VIRTUAL_SHARES, up=True)


def vault_shares_for(assets: int, total_assets: int, total_supply: int, up: bool = False) -> int:
    """OpenZeppelin ERC4626._convertToShares with the market's decimals offset."""
    return mul_div(assets, total_supply + 10**DECIMALS_OFFSET, total_assets + 1, up)


def vault_assets_for(shares: int, total_assets: int, total_supply: int, up: bool = False) -> int:
    """OpenZeppelin ERC4626._convertToAssets with the market's decimals offset."""
    return mul_div(shares, total_assets + 1, total_supply + 10**DECIMALS_OFFSET, up)


def lif(lltv: int) -> int:
    """min(1.15, 1 / (1 - 0.3 x (1 - LLTV))) in WAD, each step rounded down (morpho-blue)."""
    return min(MAX_LIF, mul_div(WAD, WAD, WAD - mul_div(LIQUIDATION_CURSOR, WAD - lltv, WAD)))


def kink_rate_per_second(u: int, base: int, slope1: int, slope2: int, kink: int) -> int:
    """LinearKinkIrm: annual `base + slope1 u` up to the kink, then `+ slope2 (u - kink)`, per second."""
    u = min(u, WAD)
    if u <= kink:
        annual = base + slope1 * u // WAD
    else:
        annual = base + slope1 * kink // WAD + slope2 * (u - kink) // WAD
    return annual // YEAR


def taylor_compounded(rate: int, seconds: int) -> int:
    """e^(rate x seconds) - 1 to the third order (WAD), morpho-blue's wTaylorCompounded."""
    first = rate * seconds
    second = mul_div(first, first, 2 * WAD)
    third = mul_div(second, first, 3 * WAD)
    return first + second + third


def max_debt(collateral: int, price: int, ltv: int) -> int:
    """Collateral value (rounded down) times an LTV (rounded down)."""
    return mul_div(mul_div(collateral, price, SHARE), ltv, WAD)


def seize_for_repaid_shares(repaid_shares: int, price: int, lltv: int, total_assets: int, total_shares: int) -> int:
    """Repay mode: seized = repaid value (down) x LIF (down) / price (down)."""
    value = to_assets_down(repaid_shares, total_assets, total_shares)
    return mul_div(mul_div(value, lif(lltv), WAD), SHARE, price)


def shares_for_seized(seized: int, price: int, lltv: int, total_assets: int, total_shares: int) -> int:
    """Seize mode: repaid shares = seized value (up) / LIF (up), to shares (up)."""
    quoted = mul_div(seized, price, SHARE, up=True)
    repaid = mul_div(quoted, WAD, lif(lltv), up=True)
    return to_shares_up(repaid, total_assets, total_shares)


def step_price(anchor: int, target: int, max_move_bps: int) -> int:
    """IShareValuation, one anchoring: from the previous anchor toward the target by at most maxMoveBpsPerEpoch
    of that anchor, rounded up (of the target when the anchor is 0, so that a price can recover), however many
    epochs passed since the anchor. `quote` in an epoch without an anchor is this step; in the anchor's own
    epoch it is the anchor itself."""
    scale = target if anchor == 0 else anchor
    move = mul_div(scale, max_move_bps, BPS, up=True)
    if target >= anchor:
        return min(target, anchor + move)
    return anchor - min(anchor - target, move)


def walk_prices(anchor: int, targets: list[int], max_move_bps: int) -> list[int]:
    """The anchors written by successive anchorings (one per epoch) toward `targets` (one per anchoring)."""
    prices = []
    for target in targets:
        anchor = step_price(anchor, target, max_move_bps)
        prices.append(anchor)
    return prices


# ------------------------------------------------------------------------------------------------ chain


def warp(timestamp: int) -> None:
    """Mines one block at exactly `timestamp` (later views read this block's time)."""
    from brownie import chain, web3

    reply = web3.provider.make_request("evm_setNextBlockTimestamp", [int(timestamp)])
    assert "error" not in reply, reply
    chain.mine()


def at(timestamp: int) -> int:
    """Pins the next transaction's block timestamp (so interest and epochs in its events are exact)."""
    from brownie import web3

    reply = web3.provider.make_request("evm_setNextBlockTimestamp", [int(timestamp)])
    assert "error" not in reply, reply
    return int(timestamp)


def now() -> int:
    from brownie import web3

    return int(web3.eth.get_block("latest")["timestamp"])


@dataclass
class Clock:
    """The oracle's epochs: `epoch = (t - genesis) / 3600`."""

    genesis: int

    def start(self, epoch: int) -> int:
        return self.genesis + epoch * HOUR

    def epoch_at(self, timestamp: int) -> int:
        return (timestamp - self.genesis) // HOUR

    def goto(self, epoch: int, into: int = INTO_EPOCH) -> int:
        """Mines a block `into` seconds into `epoch`; returns its timestamp."""
        timestamp = self.start(epoch) + into
        warp(timestamp)
        return timestamp


# ------------------------------------------------------------------------------------------------ world


@dataclass
class World:
    """What every lending test module starts from (see conftest.py)."""

    suite: Any
    coin: Any  # the DevStablecoin: settlement token, loan token, valuation quote token
    token: Any  # the H100 asset's AssetShares (collateral)
    asset_id: int
    asset: Any  # scripts.samples.RegisteredAsset
    valuation: Any
    factory: Any
    irm: Any  # the deploy script's kink model
    flat_irm: Any  # a zero-rate kink model the admin enabled (exact figures without interest)
    clock: Clock
    e0: int  # the epoch the world starts in (valuation anchored, reporting started)
    t0: int  # the world's start time (INTO_EPOCH seconds into e0)
    poster: Any  # signs and posts meter reports
    actors: Any
    markets: dict[str, Any] = field(default_factory=dict)

    def create_market(self, lltv: int = LLTV_625, irm: Any = None, valuation: Any = None, loan: Any = None,
                      sender: Any = None) -> Any:
        """Creates (permissionlessly) and returns the market for these parameters, approved by every actor."""
        from brownie import LendingMarket

        params = (loan or self.coin, self.token, valuation or self.valuation, irm or self.irm, lltv)
        tx = self.factory.createMarket(params, {"from": sender or self.actors.keeper})
        market = LendingMarket.at(tx.return_value)
        loan_token = loan or self.coin
        for who in self.everyone():
            loan_token.approve(market, MAX_UINT, {"from": who})
            self.token.approve(market, MAX_UINT, {"from": who})
        return market

    def everyone(self) -> list:
        a = self.actors
        return [a.alice, a.bob, a.carol, a.liquidator, a.keeper, a.mallory]

    def set_status(self, status: int) -> Any:
        return self.suite.asset_registry.setStatus(self.asset_id, status, {"from": self.actors.admin})

    def price(self) -> int:
        return self.valuation.quote(self.asset_id)[0]

    def anchor_each_epoch(self, first: int, last: int, into: int = INTO_EPOCH) -> list[int]:
        """A keeper anchors the price once in each epoch `first`..`last` (as any market's borrow, withdrawal in
        debt or liquidation would), moving to each epoch first unless already in it; returns the anchors."""
        prices = []
        for epoch in range(first, last + 1):
            if self.clock.epoch_at(now()) < epoch:
                self.clock.goto(epoch, into)
            tx = self.valuation.update(self.asset_id, {"from": self.actors.keeper})
            assert tx.events["PriceUpdated"]["epoch"] == epoch, f"no anchoring in epoch {epoch}"
            prices.append(int(tx.return_value[0]))
        return prices

    def pay_revenue(self, amount: int) -> Any:
        """Revenue paid straight into the share token (as a settled lease epoch would), by the keeper."""
        return self.token.depositRevenue(amount, b"TEST".ljust(32, b"\0"), {"from": self.actors.keeper})


def ints(value: Any) -> Any:
    """A brownie return value (tuple, struct, Wei) as plain Python ints and tuples, for `==` with literals."""
    if isinstance(value, (tuple, list)):
        return tuple(ints(item) for item in value)
    if isinstance(value, bool):
        return value
    return int(value)
