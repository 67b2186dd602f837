"""`make demo`: Wellhead's whole story on a local Anvil this script starts and stops itself.

1. The asset layer: deploy the suite, register an 8x H100 NeoCloud cluster and a 4x L40S edge node, verify
   three investors, sell shares in a primary offering, distribute a revenue deposit, claim.
2. The market: offers on both assets (firm, and interruptible with dynamic pricing); lessees open leases.
3. Collateral: valuations and lending markets; a lender supplies; two investors borrow against shares.
4. The meter: the oracle daemon (`python -m oracle run`, a separate process, without brownie) posts every
   epoch, signing with the operator's keystore while an independent auditor co-signs from its own meter
   view (`python -m oracle cosign`): first over the DCGM recording in tests/data, then over a deterministic
   simulated fleet in which the L40S node suffers a long outage. The demo is the clock: it moves Anvil's time
   epoch by epoch, and the keeper role settles every epoch, re-anchors the valuations and applies yield.
5. What happened: per asset and epoch (delivered GPU-hours, uptime, energy, gross, SLA credits, energy cost,
   fee, net, annualised yield), the loans (the H100 one shrinking with yield, the L40S one liquidated after
   the outage) and a PNG chart.

The recording's epochs are replayed one epoch after the oracle's genesis (epoch 0 is the set-up hour), so
that leases opened during set-up start exactly when the recorded GPUs do.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from scripts.localnode import ROOT, detach_brownie, free_port, load_project, start_anvil  # noqa: E402
from scripts.samples import H100_CLUSTER, L40S_EDGE, AssetSpec, register_asset, shares, usd  # noqa: E402
from scripts.tables import render  # noqa: E402

RUN = ROOT / ".run" / "demo"
DATA = ROOT / "tests" / "data"
REPORTS = ROOT / "reports"

HOUR = 3600
#: The recording starts here (tests/data/dcgm-sample-assets.json); the oracle's epoch 0 is the hour before.
RECORDING_START = 1_779_998_400
GENESIS = RECORDING_START - HOUR
RECORDED_EPOCHS = (1, 2)
#: Simulated epochs after the recording, and the L40S outage within them.
LAST_EPOCH = 26
OUTAGE_FROM_EPOCH = 10
WAD = 10**18
KEYSTORE_PASSWORD = "wellhead-demo"  # demo keystores only: never a password in a file you care about

TAG_SPOT = b"SPOT".ljust(32, b"\0")

#: The demo's own output. brownie prints every transaction to stdout; that goes to a log file instead.
OUT = sys.stdout


def say(*args: Any) -> None:
    print(*args, file=OUT, flush=True)


@dataclass
class Party:
    """An oracle signer: a key in an encrypted keystore, as the daemon and the co-signer load it."""

    name: str
    key: bytes
    keystore: Path
    password_file: Path

    @property
    def address(self) -> str:
        from eth_account import Account

        return Account.from_key(self.key).address


@dataclass
class Story:
    """Everything the demo creates, and the figures it collects along the way."""

    node: Any = None
    suite: Any = None
    actors: Any = None
    h100: Any = None
    l40s: Any = None
    h100_market: Any = None
    l40s_market: Any = None
    parties: list[Party] = field(default_factory=list)
    epochs: list[dict[str, Any]] = field(default_factory=list)
    loans: list[dict[str, Any]] = field(default_factory=list)
    liquidations: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen] = field(default_factory=list)


def main() -> int:
    if RUN.exists():
        shutil.rmtree(RUN)
    (RUN / "keys").mkdir(parents=True)
    REPORTS.mkdir(exist_ok=True)
    story = Story()
    started = time.monotonic()
    load_project()
    story.node = start_anvil(timestamp=GENESIS + 120, log_dir=RUN)
    try:
        from scripts.localnode import attach_brownie

        attach_brownie(story.node.url)
        _quiet_brownie()
        asset_layer(story)
        market(story)
        collateral(story)
        meter(story)
        report(story)
    finally:
        for process in story.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
        detach_brownie()
        story.node.stop()
    say(f"\nDone in {time.monotonic() - started:.0f}s; Anvil stopped. Logs and configs: {RUN.relative_to(ROOT)}/")
    return 0


# ------------------------------------------------------------------------------------------- 1. asset layer


def asset_layer(story: Story) -> None:
    from brownie import accounts, chain

    from scripts.deploy import SuiteConfig, deploy_suite, write_deployment
    from tests.support.actors import Actors

    _section("1. The asset layer")
    story.actors = a = Actors.from_accounts(accounts)
    story.parties = _make_parties()
    config = SuiteConfig(
        compliance=a.compliance,
        oracle_genesis=GENESIS,
        oracle_signers=[p.address for p in story.parties],
        oracle_threshold=2,
        grace_period=6 * HOUR,
    )
    story.suite = s = deploy_suite(a.admin, config)
    write_deployment(s, RUN)
    for party in story.parties[:2]:  # the operator's and the auditor's keys pay for their own transactions
        a.admin.transfer(party.address, 10**18)
    say(f"Suite deployed on chain {s.chain_id}: MeteringOracle {s.oracle.address} (2 of 3 signers: "
          + ", ".join(p.name for p in story.parties) + ")")

    story.h100 = register_asset(s, a.admin, a.operator, _spec(H100_CLUSTER, price=usd(600), cap=1_000))
    story.l40s = register_asset(s, a.admin, a.operator2, _spec(L40S_EDGE, price=usd(40), cap=4_000))
    expiry = chain.time() + 365 * 86_400
    for investor in (a.alice, a.bob, a.carol, a.liquidator):
        s.investor_registry.addInvestor(investor, expiry, 756, {"from": a.compliance})
        s.stablecoin.mint(investor, usd(1_000_000), {"from": a.admin})
    for asset in (story.h100, story.l40s):
        asset.shares.openOffering(asset.spec.share_price, shares(asset.spec.share_cap), chain.time() + 86_400,
                                  {"from": asset.operator})
    h100_buys = [(a.alice, 500), (a.bob, 300), (a.carol, 200)]
    holdings = [(story.h100, h100_buys), (story.l40s, [(a.alice, 1_000), (a.bob, 2_000), (a.carol, 1_000)])]
    for asset, buys in holdings:
        for investor, count in buys:
            cost = asset.shares.previewSubscribe(shares(count))
            s.stablecoin.approve(asset.shares, cost, {"from": investor})
            asset.shares.subscribe(shares(count), cost, {"from": investor})
        asset.shares.withdrawProceeds(asset.operator, {"from": asset.operator})

    # A first distribution: revenue the H100 operator earned before the market opened (spot work).
    s.stablecoin.mint(a.operator, usd(1_000), {"from": a.admin})
    s.stablecoin.approve(story.h100.shares, usd(1_000), {"from": a.operator})
    story.h100.shares.depositRevenue(usd(1_000), TAG_SPOT, {"from": a.operator})
    claimed = {}
    for investor, _ in h100_buys:
        claimed[investor] = story.h100.shares.claim({"from": investor}).return_value

    say(render(
        ("asset", "tier", "GPUs", "model", "shares", "price/share", "raised"),
        [(f"{x.asset_id}: {x.spec.shares_symbol}", ("Hyperscale", "NeoCloud", "Edge")[x.spec.tier], x.spec.gpu_count,
          x.spec.gpu_model, f"{x.shares.totalSupply() // 10**18:,}", _usd(x.spec.share_price),
          _usd(x.shares.totalSupply() * x.spec.share_price // 10**18)) for x in (story.h100, story.l40s)],
        title="\nAssets",
    ))
    say(render(
        ("investor", "H100 shares", "L40S shares", "$1,000 deposit: claimed"),
        [(name, f"{story.h100.shares.balanceOf(who) // 10**18:,}", f"{story.l40s.shares.balanceOf(who) // 10**18:,}",
          _usd(claimed[who])) for name, who in (("alice", a.alice), ("bob", a.bob), ("carol", a.carol))],
        title="\nHolders (verified investors; shares move only between verified holders)",
    ))


# ------------------------------------------------------------------------------------------------ 2. market


def market(story: Story) -> None:
    s, a = story.suite, story.actors
    m = s.lease_market
    _section("2. The lease market")
    for asset in (story.h100, story.l40s):
        s.oracle.startReporting(asset.asset_id, 0, {"from": a.admin})
    no_dynamic = (False, 0, 0, 0, 0)
    # H100: 6 GPUs firm at $2.50/GPU-h (99% uptime SLA, 10% credit); 2 interruptible at $1.20, dynamically
    # priced toward 80% utilisation (+-5% per epoch, within $0.80..$2.00).
    firm = m.createOffer((story.h100.asset_id, 6, usd("2.50"), 4, 200, 2, 9_900, 1_000, 500, 0, no_dynamic),
                         {"from": a.operator}).return_value
    spot = m.createOffer((story.h100.asset_id, 2, usd("1.20"), 4, 200, 0, 9_000, 0, 0, 1,
                          (True, 8_000, 500, usd("0.80"), usd("2.00"))), {"from": a.operator}).return_value
    edge = m.createOffer((story.l40s.asset_id, 4, usd("0.95"), 4, 200, 2, 9_800, 1_500, 500, 0, no_dynamic),
                         {"from": a.operator2}).return_value
    term = 48  # epochs 1..48: still running when the demo ends
    leases = []
    for lessee, offer, gpus in ((a.lessee, firm, 6), (a.lessee2, spot, 2), (a.lessee2, edge, 4)):
        s.stablecoin.mint(lessee, usd(100_000), {"from": a.admin})
        terms = m.offerTerms(offer)
        escrow = m.quoteEscrow(gpus, terms["pricePerGpuHour"], term)
        s.stablecoin.approve(m, escrow, {"from": lessee})
        lease = m.openLease(offer, gpus, term, terms["pricePerGpuHour"], {"from": lessee}).return_value
        leases.append((lease, offer, gpus, escrow))
    say(render(
        ("lease", "asset", "class", "GPUs", "price/GPU-h", "epochs", "escrow"),
        [(f"#{lease}", m.offerTerms(offer)["assetId"], ("firm", "interruptible")[m.offerTerms(offer)["leaseClass"]],
          gpus, _usd(m.getLease(lease)["pricePerGpuHour"]), f"{term} from epoch 1", _usd(escrow))
         for lease, offer, gpus, escrow in leases],
        title="Leases (ERC-721 positions; the whole term prepaid into escrow; billed only for metered delivery)",
    ))


# -------------------------------------------------------------------------------------------- 3. collateral


def collateral(story: Story) -> None:
    from brownie import LendingMarket

    s, a = story.suite, story.actors
    _section("3. Collateral")
    # Yield over the last 6 settled epochs, capitalised at 20%, 20% a year of GPU ageing, silent after 3 epochs
    # (borrowing frozen, value halved), at most 10% of movement per epoch; wash-leasing guards: the price rises
    # at most 50% a year from a weekly snapshot, and revenue counts only up to a reference price per GPU-hour
    # (each asset's firm offer price: $2.50 for the H100s, $0.95 for the L40S).
    for asset, reference in ((story.h100, usd("2.50")), (story.l40s, usd("0.95"))):
        params = (6, 2_000, 2_000, 1_000, 3, 5_000, 5_000, 5_000, 168, reference)
        s.valuation.configure(asset.asset_id, params, asset.spec.share_price, {"from": a.admin})
    lltv = 5 * 10**17
    for asset in (story.h100, story.l40s):
        tx = s.lending_factory.createMarket((s.stablecoin, asset.shares, s.valuation, s.irm, lltv), {"from": a.keeper})
        market_ = LendingMarket.at(tx.return_value)
        if asset is story.h100:
            story.h100_market = market_
        else:
            story.l40s_market = market_
        s.stablecoin.approve(market_, usd(200_000), {"from": a.carol})
        market_.deposit(usd(200_000), a.carol, {"from": a.carol})
    # alice posts 400 H100 shares and borrows a little; bob posts his 2,000 L40S shares and borrows near the limit.
    _borrow(story, story.h100_market, story.h100, a.alice, 400, usd(2_000))
    _borrow(story, story.l40s_market, story.l40s, a.bob, 2_000, usd(16_000))
    say(render(
        ("borrower", "collateral", "value", "debt", "health"),
        [_loan_row(story, *row) for row in (("alice", story.h100_market, a.alice), ("bob", story.l40s_market, a.bob))],
        title="Loans (LLTV 50%, borrowing up to 45%; carol lends $200,000 in each market)",
    ))


def _borrow(story: Story, market_: Any, asset: Any, who: Any, count: int, amount: int) -> None:
    asset.shares.approve(market_, shares(count), {"from": who})
    market_.supplyCollateral(shares(count), who, {"from": who})
    market_.borrow(amount, who, {"from": who})


# ------------------------------------------------------------------------------------------------- 4. meter


def meter(story: Story) -> None:
    _section("4. The meter: the oracle daemon posts every epoch")
    assets_file = _asset_map()
    recording = {"kind": "recording", "grace_s": "0",
                 "recording": {"path": str(DATA / "dcgm-sample.om.gz")}}
    say("Phase A: the DCGM recording (epoch 0 is the set-up hour: no readings, so an outage report)")
    _run_phase(story, recording, assets_file, list(range(0, RECORDED_EPOCHS[-1] + 1)), port_offset=0)
    simulator = {"kind": "simulator", "simulator": {
        "seed": 7,
        "start": GENESIS + (RECORDED_EPOCHS[-1] + 1) * HOUR - 900,
        # Scrapes past the last epoch's end plus the daemon's outage horizon (`outage_after_s`, 900 s by
        # default): only then may the dark L40S's last epoch be posted as an outage rather than held.
        "end": GENESIS + (LAST_EPOCH + 1) * HOUR + 900 + 60,
        "power_w": {"1": 700, "2": 350},
        "outages": [{"asset": 2, "start": GENESIS + OUTAGE_FROM_EPOCH * HOUR, "end": GENESIS + (LAST_EPOCH + 2) * HOUR}],
    }}
    say(f"\nPhase B: a simulated fleet; the L40S node goes dark from epoch {OUTAGE_FROM_EPOCH}")
    _run_phase(story, simulator, assets_file, list(range(RECORDED_EPOCHS[-1] + 1, LAST_EPOCH + 1)), port_offset=1)


def _run_phase(story: Story, source: dict[str, Any], assets_file: Path, epochs: list[int], port_offset: int) -> None:
    from tqdm import tqdm

    operator, auditor = story.parties[0], story.parties[1]
    cosign_port = free_port()
    auditor_cfg = _daemon_config(f"auditor-{port_offset}", auditor, source, assets_file, story, cosign_port=cosign_port)
    daemon_cfg = _daemon_config(f"operator-{port_offset}", operator, source, assets_file, story,
                                peer=f"http://127.0.0.1:{cosign_port}")
    cosigner = _spawn(story, ["cosign", "--config", str(auditor_cfg)], f"auditor-{port_offset}")
    _wait_for_port(cosign_port, cosigner)
    daemon = _spawn(story, ["run", "--config", str(daemon_cfg), "--until-epoch", str(epochs[-1])],
                    f"operator-{port_offset}")
    with tqdm(total=len(epochs), unit="epoch", ncols=88, file=OUT) as bar:
        for epoch in epochs:
            _advance_to(GENESIS + (epoch + 1) * HOUR + 30)
            _wait_for_reports(story, epoch, daemon)
            _keeper(story, epoch)
            bar.set_postfix_str(f"epoch {epoch} posted and settled")
            bar.update(1)
    if daemon.wait(timeout=60) != 0:
        raise SystemExit(f"the daemon exited with {daemon.returncode}: see {RUN / f'operator-{port_offset}.log'}")
    cosigner.terminate()
    cosigner.wait(timeout=10)


def _keeper(story: Story, epoch: int) -> None:
    """What a keeper does after each epoch: settle it, re-anchor the valuations, let yield repay debt,
    liquidate what became unhealthy."""
    s, a = story.suite, story.actors
    for asset in (story.h100, story.l40s):
        s.lease_market.settle(asset.asset_id, epoch, {"from": a.keeper})
        s.valuation.update(asset.asset_id, {"from": a.keeper})
        story.epochs.append(_epoch_row(story, asset, epoch))
    story.h100_market.applyYield(a.alice, {"from": a.keeper})
    story.l40s_market.applyYield(a.bob, {"from": a.keeper})
    for name, market_, who in (("alice", story.h100_market, a.alice), ("bob", story.l40s_market, a.bob)):
        row = dict(zip(("borrower", "collateral", "value", "debt", "health"), _loan_row(story, name, market_, who)))
        row["epoch"] = epoch
        row["debt_usd"] = market_.debtOf(who) / 1e6
        row["price_usd"] = s.valuation.quote(market_.assetId())[0] / 1e6
        story.loans.append(row)
        if market_.healthFactor(who) < WAD and market_.positionOf(who)["borrowShares"] > 0:
            _liquidate(story, name, market_, who, epoch)


def _liquidate(story: Story, name: str, market_: Any, who: Any, epoch: int) -> None:
    s, a = story.suite, story.actors
    debt_shares = market_.positionOf(who)["borrowShares"]
    s.stablecoin.approve(market_, usd(1_000_000), {"from": a.liquidator})
    tx = market_.liquidate(who, 0, debt_shares // 2, {"from": a.liquidator})
    event = tx.events["Liquidated"]
    story.liquidations.append(
        f"epoch {epoch}: {name}'s loan liquidated by a verified liquidator: repaid {_usd(event['repaidAssets'])}, "
        f"seized {event['seizedCollateral'] / 1e18:,.1f} shares at {_usd(event['price'])} per share"
    )


# ----------------------------------------------------------------------------------------------- 5. report


def report(story: Story) -> None:
    s = story.suite
    _section("5. What happened")
    for asset in (story.h100, story.l40s):
        rows = [r for r in story.epochs if r["asset"] == asset.asset_id]
        say(render(
            ("epoch", "GPU-h", "uptime", "energy kWh", "gross", "SLA credits", "energy cost", "fee", "net", "yield/yr"),
            [(r["epoch"], f"{r['gpu_hours']:.2f}", f"{r['uptime']:.1%}", f"{r['energy_kwh']:.2f}", _usd(r["gross"]),
              _usd(r["credits"]), _usd(r["energy_cost"]), _usd(r["fee"]), _usd(r["net"]), f"{r['yield']:.1%}")
             for r in rows],
            title=f"\nAsset {asset.asset_id} ({asset.spec.gpu_count}x {asset.spec.gpu_model}): per epoch"
                  + (" - void epochs bill nothing" if asset is story.l40s else ""),
        ))
        holders = [("alice", story.actors.alice), ("bob", story.actors.bob), ("carol", story.actors.carol)]
        say("  claimable now: " + ", ".join(f"{n} {_usd(asset.shares.claimable(w))}" for n, w in holders)
              + f"; lending market (collateral) {_usd(asset.shares.claimable(_market_of(story, asset)))}")
    loans = [r for r in story.loans if r["epoch"] in (0, 1, 2, 5, 10, 15, 20) or r["epoch"] == LAST_EPOCH]
    say(render(("epoch", "borrower", "collateral", "value", "debt", "health"),
                 [(r["epoch"], r["borrower"], r["collateral"], r["value"], r["debt"], r["health"]) for r in loans],
                 title="\nLoans as epochs settle (alice's shrinks with her collateral's yield)"))
    for line in story.liquidations[:3] or ["no liquidation"]:
        say("  " + line)
    m = s.lease_market
    say(render(
        ("lease", "asset", "class", "billed", "SLA credits", "refundable now", "still reserved", "offer price now"),
        [(f"#{lease}", m.offerTerms(m.getLease(lease)["offerId"])["assetId"],
          ("firm", "interruptible")[m.offerTerms(m.getLease(lease)["offerId"])["leaseClass"]],
          _usd(acct["billed"]), _usd(acct["credited"]), _usd(acct["refundable"]), _usd(acct["reserved"]),
          _usd(m.offerTerms(m.getLease(lease)["offerId"])["pricePerGpuHour"]))
         for lease in (1, 2, 3) for acct in (m.leaseAccount(lease),)],
        title="\nLeases so far (undelivered capacity and SLA credits are refundable; the interruptible offer is "
              "priced dynamically)",
    ))
    lens = s.lease_lens
    say(render(
        ("asset", "leased now", "utilisation (24 ep.)", "GPU-h per MWh", "net/share/yr", "yield on offering price"),
        [(x.spec.shares_symbol, f"{lens.leasedFractionBps(x.asset_id) / 100:.1f}%",
          f"{lens.trailingUtilizationBps(x.asset_id, 24) / 100:.1f}%", f"{lens.gpuHoursPerMWh(x.asset_id, 24):,}",
          _usd(lens.annualizedNetPerShare(x.asset_id, 24)),
          f"{lens.annualizedYieldBps(x.asset_id, 24, x.spec.share_price) / 100:.1f}%") for x in (story.h100, story.l40s)],
        title="\nWhat investors see (LeaseMarketLens)",
    ))
    chart = _chart(story)
    say(f"\nChart: {chart}")


def _chart(story: Story) -> Path:
    """reports/demo.png: five panels, each answering one question an investor asks (as the app's charts do)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(18, 9.5))
    parts = (("net", "to share holders", "#2f6fdf"), ("fee", "operator fee", "#e0a03a"),
             ("energy_cost", "energy", "#d05a5a"), ("credits", "SLA credits back to lessees", "#7a8699"))
    for axis, asset in zip(axes[0][:2], (story.h100, story.l40s), strict=True):
        rows = [r for r in story.epochs if r["asset"] == asset.asset_id]
        epochs = [r["epoch"] for r in rows]
        bottom = [0.0] * len(rows)
        for key, label, color in parts:
            values = [r[key] / 1e6 for r in rows]
            axis.bar(epochs, values, bottom=bottom, label=label, color=color)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        # The meter saw a fault: say so on the bars, once per run of epochs at the same uptime, not in a legend.
        previous = None
        for r, top in zip(rows, bottom, strict=True):
            uptime = round(r["uptime"], 2)
            if uptime < 0.99 and uptime != previous:
                text = f"{uptime:.0%} up" + (" (outage)" if uptime == 0 and top == 0 else "")
                axis.annotate(text, (r["epoch"], top), xytext=(0, 2), textcoords="offset points", ha="left",
                              va="bottom", fontsize=7, color="#c0392b", rotation=60)
            previous = uptime if uptime < 0.99 else None
        axis.set_title(f"{asset.spec.shares_symbol}: where did each epoch's revenue go?", fontsize=11)
        axis.set_ylabel("\\$ per epoch")
        axis.set_xlabel("epoch")
        axis.set_ylim(top=max(bottom or [1]) * 1.25)

    # Why does the L40S share price move before any outage? The valuation starts at the offering price and
    # moves a bounded step per epoch toward the capitalised metered yield.
    valuation = axes[0][2]
    price_rows = [r for r in story.loans if r["borrower"] == "bob"]
    valuation.plot([r["epoch"] for r in price_rows], [r["price_usd"] for r in price_rows], color="#7570b3",
                   marker=".", label="valuation (lending price)")
    valuation.axhline(story.l40s.spec.share_price / 1e6, color="#999999", linestyle="--", linewidth=1,
                      label="offering price")
    valuation.set_title("L40S share: why does its price move?", fontsize=11)
    valuation.text(0.02, 0.03, "It starts at the offering price and moves a bounded step per epoch\n"
                   "toward the capitalised metered yield; an outage cuts that yield.",
                   transform=valuation.transAxes, fontsize=8, color="#444444")
    valuation.set_ylabel("\\$ per share")
    valuation.set_xlabel("epoch")
    valuation.legend(loc="upper right", fontsize=8)

    # Each borrower on its own scale: debt as a share of what was borrowed, so a small loan shrinking with
    # yield is as visible as a large one.
    loans = axes[1][0]
    for name, color in (("alice", "#1b9e77"), ("bob", "#d95f02")):
        mine = [r for r in story.loans if r["borrower"] == name]
        if not mine or not mine[0]["debt_usd"]:
            continue
        first = mine[0]["debt_usd"]
        loans.plot([r["epoch"] for r in mine], [100 * r["debt_usd"] / first for r in mine], color=color, marker=".",
                   label=f"{name}: \\${first:,.0f} borrowed, \\${mine[-1]['debt_usd']:,.0f} owed at the end")
    if story.liquidations:
        loans.annotate(story.liquidations[0][:90].replace("$", "\\$"), (0.02, 0.22), xycoords="axes fraction", fontsize=8,
                       color="#c0392b")
    loans.axhline(100, color="#bbbbbb", linewidth=0.8)
    loans.set_title("Is my loan shrinking? (collateral yield repays it)", fontsize=11)
    loans.set_ylabel("debt, % of the amount borrowed")
    loans.set_xlabel("epoch")
    loans.legend(loc="lower left", fontsize=8)

    # What each investor earned: revenue on the shares in the wallet (claimed + claimable), by asset, and
    # interest earned as a lender. Yield on collateral repays the loan instead (the panel on the left).
    earned = axes[1][1]
    a = story.actors
    names = ("alice", "bob", "carol")
    people = (a.alice, a.bob, a.carol)
    bottom = [0.0] * 3
    for asset, color in ((story.h100, "#2f6fdf"), (story.l40s, "#3aa37a")):
        values = [asset.shares.accumulatedRevenueOf(who) / 1e6 for who in people]
        earned.bar(names, values, bottom=bottom, color=color, label=f"{asset.spec.shares_symbol} revenue")
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    interest = []
    for who in people:
        total = 0.0
        for market_ in (story.h100_market, story.l40s_market):
            lent = market_.balanceOf(who)
            if lent:
                total += (market_.convertToAssets(lent) - 200_000 * 10**6) / 1e6
        interest.append(max(total, 0.0))
    earned.bar(names, interest, bottom=bottom, color="#8a5bd6", label="interest as lender")
    for x, (b, i) in enumerate(zip(bottom, interest, strict=True)):
        earned.annotate(f"\\${b + i:,.2f}", (x, b + i), ha="center", va="bottom", fontsize=9)
    earned.set_ylim(top=max(b + i for b, i in zip(bottom, interest, strict=True)) * 1.2 or 1)
    earned.set_title("What did each investor earn?", fontsize=11)
    earned.set_ylabel("\\$ earned (claimed + claimable)")
    earned.legend(loc="upper right", fontsize=8)

    key = axes[1][2]
    key.axis("off")
    handles, labels = axes[0][0].get_legend_handles_labels()
    key.legend(handles, labels, loc="upper left", title="Revenue of an epoch (top row)", fontsize=9, frameon=False)
    key.text(0.0, 0.35, "Every figure is read from the chain: settled epochs\n(LeaseMarket.settlementOf), loans "
             "(LendingMarket),\nshare revenue (AssetShares.accumulatedRevenueOf).\nThe investor app shows the same "
             "series per asset.", transform=key.transAxes, fontsize=9, color="#444444", va="top")
    fig.tight_layout()
    path = REPORTS / "demo.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ------------------------------------------------------------------------------------------------- helpers


def _epoch_row(story: Story, asset: Any, epoch: int) -> dict[str, Any]:
    s = story.suite
    settled = s.lease_market.settlementOf(asset.asset_id, epoch)
    gpu_seconds = energy_wh = 0
    if s.oracle.hasReport(asset.asset_id, epoch):
        report_, _ = s.oracle.getReport(asset.asset_id, epoch)
        gpu_seconds, energy_wh = report_["gpuSeconds"], report_["energyWh"]
    capacity = asset.spec.gpu_count * HOUR
    supply = asset.shares.totalSupply()
    price = asset.spec.share_price
    yearly = settled["net"] * (365 * 24) * 10**18 / supply if supply else 0
    return {
        "asset": asset.asset_id, "epoch": epoch, "gpu_hours": gpu_seconds / HOUR, "uptime": gpu_seconds / capacity,
        "energy_kwh": energy_wh / 1000, "gross": settled["gross"], "credits": settled["credits"],
        "energy_cost": settled["energyCost"], "fee": settled["fee"], "net": settled["net"],
        "yield": yearly / price if price else 0,
    }


def _loan_row(story: Story, name: str, market_: Any, who: Any) -> tuple:
    position = market_.positionOf(who)
    health = market_.healthFactor(who)
    return (name, f"{position['collateral'] / 1e18:,.0f} shares", _usd(market_.collateralValueOf(who)),
            _usd(market_.debtOf(who)), "-" if health > 10**30 else f"{health / 1e18:.2f}")


def _market_of(story: Story, asset: Any) -> Any:
    return story.h100_market if asset is story.h100 else story.l40s_market


def _spec(spec: AssetSpec, *, price: int, cap: int) -> AssetSpec:
    from dataclasses import replace

    return replace(spec, share_price=price, share_cap=cap)


def _make_parties() -> list[Party]:
    """Three independent signers: the operator (runs the daemon), an auditor (co-signs from its own view of
    the meters) and the utility (a third key, unused here: 2 of 3 suffice)."""
    from eth_account import Account
    from eth_utils import keccak

    parties = []
    for name in ("operator", "auditor", "utility"):
        key = keccak(text=f"wellhead-demo-{name}")
        keystore = RUN / "keys" / f"{name}.json"
        password_file = RUN / "keys" / f"{name}.pass"
        keystore.write_text(json.dumps(Account.encrypt(key, KEYSTORE_PASSWORD, iterations=2**10)))
        password_file.write_text(KEYSTORE_PASSWORD)
        os.chmod(password_file, 0o600)
        parties.append(Party(name, key, keystore, password_file))
    return parties


def _asset_map() -> Path:
    document = json.loads((DATA / "dcgm-sample-assets.json").read_text())
    document["genesis"] = GENESIS
    path = RUN / "assets.json"
    path.write_text(json.dumps(document, indent=1))
    return path


def _daemon_config(name: str, party: Party, source: dict[str, Any], assets_file: Path, story: Story, *,
                   cosign_port: int | None = None, peer: str | None = None) -> Path:
    """A TOML config for `python -m oracle run` (or `cosign`), written next to its outbox."""
    lines = [
        "poll_interval_s = 0.3",
        "[chain]",
        f'rpc_url = "{story.node.url}"',
        f"chain_id = {story.suite.chain_id}",
        f'deployment = "{RUN / f"{story.suite.chain_id}.json"}"',
        "[signers]",
        f'keystores = [{{ path = "{party.keystore}", password_file = "{party.password_file}" }}]',
        "[source]",
        f'kind = "{source["kind"]}"',
        'scrape_interval_s = "15"',
    ]
    if "grace_s" in source:
        lines.append(f'grace_s = "{source["grace_s"]}"')
    section = source[source["kind"]]
    lines.append(f"[source.{source['kind']}]")
    for key, value in section.items():
        lines.append(f"{key} = {_toml(value)}")
    lines += [
        "[assets]",
        f'map = "{assets_file}"',
        "[outbox]",
        f'path = "{RUN / (party.name + ".outbox.sqlite")}"',
        "[ops]",
        "port = 0",
        'log_format = "text"',
        "[submission]",
        "replace_after_blocks = 20",
        "retry_base_s = 0.2",
        "retry_max_s = 2.0",
    ]
    if cosign_port is not None:
        lines += ["[cosign]", f"listen_port = {cosign_port}"]
    if peer is not None:
        lines += ["[cosign]", f'peers = [{{ name = "auditor", url = "{peer}" }}]']
    path = RUN / f"{name}.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return str(value)


def _spawn(story: Story, args: list[str], name: str) -> subprocess.Popen:
    log = (RUN / f"{name}.log").open("ab")
    process = subprocess.Popen([sys.executable, "-m", "oracle", *args], cwd=ROOT, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    story.processes.append(process)
    return process


def _wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the co-signer exited with {process.returncode}: see {RUN}/auditor-*.log")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise SystemExit(f"the co-signer did not listen on {port}")


def _advance_to(timestamp: int) -> None:
    from brownie import chain

    if chain[-1].timestamp < timestamp:
        chain.mine(timestamp=timestamp)


def _wait_for_reports(story: Story, epoch: int, daemon: subprocess.Popen, timeout: float = 120.0) -> None:
    oracle = story.suite.oracle
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(oracle.cursorOf(x.asset_id)["nextEpoch"] > epoch for x in (story.h100, story.l40s)):
            return
        if daemon.poll() is not None and daemon.returncode != 0:
            raise SystemExit(f"the daemon exited with {daemon.returncode}: see {RUN}/operator-*.log")
        time.sleep(0.2)
    raise SystemExit(f"epoch {epoch} was not posted within {timeout:.0f}s: see {RUN}/operator-*.log")


def _quiet_brownie() -> None:
    """The demo prints its own tables; brownie's per-transaction lines go to a log file instead."""
    sys.stdout = (RUN / "brownie.log").open("a")


def _section(title: str) -> None:
    say(f"\n{'=' * 100}\n{title}\n{'=' * 100}")


def _usd(amount: int) -> str:
    return f"${amount / 1e6:,.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
