// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {LeaseMarket} from "../../../contracts/LeaseMarket.sol";
import {MeteringOracle} from "../../../contracts/MeteringOracle.sol";
import {ILeaseMarket} from "../../../contracts/interfaces/ILeaseMarket.sol";
import {IMeteringOracle} from "../../../contracts/interfaces/IMeteringOracle.sol";
import {LeaseFixture} from "./LeaseFixture.sol";

/// @notice Fuzz tests of the LeaseMarket's billing maths against ILeaseMarket's NatSpec restated here in
/// plain integers, each with a concrete twin whose figures are worked out by hand: the escrow quote, billing
/// for partial delivery, the SLA credit threshold, and the epoch split.
contract LeaseBillingTest is LeaseFixture {
    uint32 internal constant GPUS = 8;
    uint256 internal constant CAPACITY = 8 * 3600; // GPU-seconds per epoch
    uint16 internal constant PUE = 12_000;
    uint128 internal constant TARIFF = 120_000; // $0.12 per kWh
    uint16 internal constant FEE = 1_000;

    address internal operator;
    address internal lessee;
    uint256 internal assetId;
    /// @dev A second market on a 15-minute oracle: escrow quotes that do not divide evenly.
    LeaseMarket internal quarterMarket;

    function setUp() public {
        _deploy(3600);
        operator = makeAddr("operator");
        lessee = makeAddr("lessee");
        assetId = _registerAsset(operator, GPUS, 700, PUE, TARIFF, FEE);
        _fund(lessee, type(uint128).max);
        _fund(operator, type(uint128).max);
        MeteringOracle quarterOracle = new MeteringOracle(registry, GENESIS, 900, MARGIN_BPS, signerSet, 2, 0, admin);
        quarterMarket = new LeaseMarket(registry, quarterOracle, GRACE);
    }

    /* ESCROW QUOTE */

    /// escrow = ceil(gpus x price x epochs x epochLength / 3600)
    function testFuzz_quoteEscrow_is_gpus_times_price_times_hours_rounded_up(uint32 gpus, uint128 price, uint32 term)
        public
        view
    {
        price = uint128(bound(price, 0, market.MAX_PRICE_PER_GPU_HOUR()));
        uint256 hourly = uint256(gpus) * price * term;
        assertEq(market.quoteEscrow(gpus, price, term), hourly, "1-hour epochs: exact");
        assertEq(quarterMarket.quoteEscrow(gpus, price, term), _ceilDiv(hourly * 900, 3600), "15-minute epochs: up");
    }

    function test_quoteEscrow_concrete() public view {
        // 3 GPUs x $2 x 5 one-hour epochs = $30
        assertEq(market.quoteEscrow(3, 2 * uint128(USD), 5), 30 * USD, "3 x $2 x 5 h");
        // 5 quarter-hours = 1.25 h: 3 x $2 x 1.25 = $7.50
        assertEq(quarterMarket.quoteEscrow(3, 2 * uint128(USD), 5), 7_500_000, "3 x $2 x 1.25 h");
        // 1 GPU x 3 base units x 0.25 h = 0.75 -> 1 (rounded up: the market never holds less than it owes)
        assertEq(quarterMarket.quoteEscrow(1, 3, 1), 1, "0.75 rounds up");
        assertEq(quarterMarket.quoteEscrow(1, 4, 1), 1, "exactly 1");
        assertEq(quarterMarket.quoteEscrow(1, 5, 1), 2, "1.25 rounds up");
    }

    /* PARTIAL DELIVERY */

    /// A lease of g GPUs at p per GPU-hour is billed ceil(g x p x d) for one epoch, d = min(1, gpuSeconds /
    /// (g x epochLength)) (the leased capacity; WAD, rounded down); the epoch's gross is floor(g x p x d); the
    /// rest of the escrow is refundable.
    function testFuzz_partial_delivery_bills_the_delivered_fraction(uint32 gpus, uint128 price, uint64 gpuSeconds)
        public
    {
        gpus = uint32(bound(gpus, 1, GPUS));
        price = uint128(bound(price, 1, 1e15));
        gpuSeconds = uint64(bound(gpuSeconds, 0, CAPACITY));
        (uint256 leaseId, ILeaseMarket.EpochSettlement memory record) =
            _billOneEpoch(_terms(assetId, GPUS, price, 0, 0, ILeaseMarket.LeaseClass.Firm), gpus, gpuSeconds, 0, 0);

        uint256 rate = uint256(gpus) * price;
        uint256 d = uint256(gpuSeconds) * WAD / (uint256(gpus) * 3600);
        if (d > WAD) d = WAD;
        ILeaseMarket.LeaseAccount memory account = market.leaseAccount(leaseId);
        assertEq(record.deliveredWad, d, "d recorded");
        assertEq(record.leasedGpus, gpus, "leased GPUs recorded");
        assertEq(account.billed, _ceilDiv(rate * 3600 * d, 3600 * WAD), "billed = ceil(g x p x d)");
        assertEq(account.credited, 0, "no SLA: no credit");
        assertEq(account.refundable, rate - account.billed, "the undelivered part is refundable");
        assertEq(record.gross, rate * 3600 * d / (3600 * WAD), "gross = floor(g x p x d)");
        assertLe(record.gross, account.billed, "bills round up, revenue down");
        assertLe(account.billed - record.gross, 1, "by at most one unit");
    }

    function test_partial_delivery_concrete() public {
        // 4 GPUs x $2 for one epoch with 3 GPUs' worth of healthy time (10,800 of the leased 14,400 GPU-s):
        // billed $8 x 0.75 = $6, refundable $2.
        (uint256 leaseId, ILeaseMarket.EpochSettlement memory record) = _billOneEpoch(
            _terms(assetId, GPUS, uint128(2 * USD), 0, 0, ILeaseMarket.LeaseClass.Firm), 4, 10_800, 0, 0
        );
        ILeaseMarket.LeaseAccount memory account = market.leaseAccount(leaseId);
        assertEq(account.billed, 6 * USD, "billed $6");
        assertEq(account.refundable, 2 * USD, "refundable $2");
        assertEq(record.gross, 6 * USD, "gross $6");
    }

    function test_idle_faulty_gpus_do_not_lower_the_bill_concrete() public {
        // 4 GPUs x $2 leased; 6 of the asset's 8 GPUs healthy (21,600 GPU-s >= the leased 14,400): d = 1, $8.
        (uint256 leaseId, ILeaseMarket.EpochSettlement memory record) = _billOneEpoch(
            _terms(assetId, GPUS, uint128(2 * USD), 9_900, 1_000, ILeaseMarket.LeaseClass.Firm), 4, 21_600, 0, 0
        );
        assertEq(record.deliveredWad, WAD, "d capped at 1");
        assertEq(record.credits, 0, "no SLA breach");
        assertEq(market.leaseAccount(leaseId).billed, 8 * USD, "billed in full");
    }

    /* PROOF AT SETTLEMENT */

    /// A report proven at settlement against a committed root settles exactly as the same report stored by
    /// `submit`: same split, same lease accounts, and the same report digest in the audit record.
    function testFuzz_proof_at_settlement_settles_like_a_stored_report(
        uint32 gpus,
        uint64 gpuSeconds,
        uint64 curtailed,
        uint64 energyWh,
        uint16 creditBps
    ) public {
        gpus = uint32(bound(gpus, 1, GPUS));
        gpuSeconds = uint64(bound(gpuSeconds, 0, CAPACITY));
        curtailed = uint64(bound(curtailed, 0, CAPACITY - gpuSeconds));
        energyWh = uint64(bound(energyWh, 0, 6_720));
        creditBps = uint16(bound(creditBps, 0, BPS));
        _checkProvenLikeStored(gpus, gpuSeconds, curtailed, energyWh, creditBps);
    }

    function test_proof_at_settlement_settles_like_a_stored_report_concrete() public {
        // 4 GPUs, 10,800 healthy GPU-s (75%), 5,000 Wh, a 10% credit below 99%.
        _checkProvenLikeStored(4, 10_800, 0, 5_000, 1_000);
    }

    function _checkProvenLikeStored(uint32 gpus, uint64 gpuSeconds, uint64 curtailed, uint64 energyWh, uint16 creditBps)
        internal
    {
        ILeaseMarket.OfferTerms memory terms =
            _terms(assetId, GPUS, uint128(2 * USD), 9_900, creditBps, ILeaseMarket.LeaseClass.Firm);
        (uint256 storedLease, ILeaseMarket.EpochSettlement memory stored) =
            _billOneEpoch(terms, gpus, gpuSeconds, curtailed, energyWh);
        (uint256 provenLease, ILeaseMarket.EpochSettlement memory proven, bytes32 leaf) =
            _billOneEpochProven(terms, gpus, gpuSeconds, curtailed, energyWh);

        assertEq(proven.reportHash, leaf, "audit digest = the proven leaf");
        assertEq(proven.gross, stored.gross, "gross");
        assertEq(proven.credits, stored.credits, "credits");
        assertEq(proven.energyCost, stored.energyCost, "energy");
        assertEq(proven.fee, stored.fee, "fee");
        assertEq(proven.net, stored.net, "net");
        assertEq(proven.deliveredWad, stored.deliveredWad, "d");
        assertEq(proven.availableWad, stored.availableWad, "a");
        assertEq(proven.leasedGpus, stored.leasedGpus, "leased");
        assertEq(market.leaseAccount(provenLease).billed, market.leaseAccount(storedLease).billed, "billed");
        assertEq(market.leaseAccount(provenLease).credited, market.leaseAccount(storedLease).credited, "credited");
    }

    /* SLA CREDIT */

    /// Firm: the credit applies exactly when delivered / capacity < slaUptimeBps / 10,000; the lease is then
    /// billed g x p x d x (1 - c) (rounded up) and credited g x p x d x c (rounded down).
    function testFuzz_sla_credit_applies_strictly_below_the_uptime_target(
        uint64 gpuSeconds,
        uint16 slaBps,
        uint16 creditBps
    ) public {
        gpuSeconds = uint64(bound(gpuSeconds, 0, CAPACITY));
        slaBps = uint16(bound(slaBps, 0, BPS));
        creditBps = uint16(bound(creditBps, 0, BPS));
        (uint256 leaseId, ILeaseMarket.EpochSettlement memory record) = _billOneEpoch(
            _terms(assetId, GPUS, uint128(2 * USD), slaBps, creditBps, ILeaseMarket.LeaseClass.Firm),
            GPUS,
            gpuSeconds,
            0,
            0
        );

        bool breached = uint256(gpuSeconds) * BPS < uint256(slaBps) * CAPACITY; // exact rational comparison
        uint256 rate = GPUS * 2 * USD;
        uint256 d = uint256(gpuSeconds) * WAD / CAPACITY;
        uint256 charge = d * (BPS - (breached ? creditBps : 0)) / BPS;
        ILeaseMarket.LeaseAccount memory account = market.leaseAccount(leaseId);
        assertEq(account.billed, _ceilDiv(rate * 3600 * charge, 3600 * WAD), "billed");
        assertEq(account.credited, rate * 3600 * (d - charge) / (3600 * WAD), "credited");
        assertEq(record.credits, record.gross - rate * 3600 * charge / (3600 * WAD), "epoch credits");
        if (!breached || creditBps == 0) assertEq(record.credits, 0, "no breach, no credit");
        // The credit is paid back with the undelivered part: billed + refundable = escrow, credited <= refundable.
        assertEq(account.billed + account.refundable, rate, "billed + refundable = escrow");
        assertLe(account.credited, account.refundable, "the credit is refundable");
    }

    function test_sla_credit_threshold_concrete() public {
        ILeaseMarket.OfferTerms memory terms =
            _terms(assetId, GPUS, uint128(2 * USD), 9_900, 1_000, ILeaseMarket.LeaseClass.Firm);
        // exactly 99% (28,512 GPU-s): no credit; 8 GPUs x $2 x 0.99 = $15.84
        (uint256 atSla, ILeaseMarket.EpochSettlement memory r1) = _billOneEpoch(terms, GPUS, 28_512, 0, 0);
        assertEq(r1.credits, 0, "at the SLA: no credit");
        assertEq(market.leaseAccount(atSla).billed, 15_840_000, "billed $15.84");
        // one GPU-second less: 10% credit. d = 989,965,277,777,777,777; charge = 890,968,749,999,999,999
        // gross = floor($16 x d) = 15,839,444; charged = floor($16 x charge) = 14,255,499; credits 1,583,945
        (uint256 below, ILeaseMarket.EpochSettlement memory r2) = _billOneEpoch(terms, GPUS, 28_511, 0, 0);
        assertEq(r2.gross, 15_839_444, "gross");
        assertEq(r2.credits, 1_583_945, "credits");
        assertEq(market.leaseAccount(below).billed, 14_255_500, "billed, rounded up");
        assertEq(market.leaseAccount(below).credited, 1_583_944, "credited, rounded down");
    }

    /// Interruptible: curtailed seconds count as available, so a curtailment alone never earns a credit.
    function testFuzz_interruptible_curtailment_is_no_breach(uint64 gpuSeconds, uint64 curtailed) public {
        gpuSeconds = uint64(bound(gpuSeconds, 0, CAPACITY));
        curtailed = uint64(bound(curtailed, CAPACITY - gpuSeconds, CAPACITY - gpuSeconds)); // fully available
        (uint256 leaseId, ILeaseMarket.EpochSettlement memory record) = _billOneEpoch(
            _terms(assetId, GPUS, uint128(2 * USD), 10_000, 5_000, ILeaseMarket.LeaseClass.Interruptible),
            GPUS,
            gpuSeconds,
            curtailed,
            0
        );
        assertEq(record.credits, 0, "no credit");
        uint256 d = uint256(gpuSeconds) * WAD / CAPACITY;
        assertEq(market.leaseAccount(leaseId).billed, _ceilDiv(16 * USD * d, WAD), "billed for delivery only");
    }

    function test_interruptible_curtailment_concrete() public {
        // 90% delivered + 10% curtailed, 100% SLA with a 50% credit: interruptible, no credit, billed $16 x 0.9.
        (uint256 leaseId, ILeaseMarket.EpochSettlement memory record) = _billOneEpoch(
            _terms(assetId, GPUS, uint128(2 * USD), 10_000, 5_000, ILeaseMarket.LeaseClass.Interruptible),
            GPUS,
            25_920,
            2_880,
            0
        );
        assertEq(record.credits, 0, "no credit");
        assertEq(market.leaseAccount(leaseId).billed, 14_400_000, "billed $14.40");
    }

    /* THE SPLIT */

    /// gross = credits + energyCost + fee + net exactly; energy = min(Wh x PUE x tariff / 1e7, revenue);
    /// fee = (revenue - energy) x feeBps / 10,000.
    function testFuzz_epoch_split_adds_up(uint64 gpuSeconds, uint64 energyWh, uint256 added, uint16 creditBps) public {
        gpuSeconds = uint64(bound(gpuSeconds, 0, CAPACITY));
        energyWh = uint64(bound(energyWh, 0, 6_720)); // 8 x 700 W x 1 h x 1.2 margin
        added = bound(added, 0, 1_000 * USD);
        creditBps = uint16(bound(creditBps, 0, BPS));
        (, ILeaseMarket.EpochSettlement memory record) = _billOneEpoch(
            _terms(assetId, GPUS, uint128(2 * USD), 9_900, creditBps, ILeaseMarket.LeaseClass.Firm),
            GPUS,
            gpuSeconds,
            0,
            energyWh,
            added
        );
        uint256 revenue = record.gross - record.credits;
        uint256 energy = uint256(energyWh) * PUE * TARIFF / (BPS * 1000);
        if (energy > revenue) energy = revenue;
        assertEq(record.energyCost, energy, "energy cost");
        assertEq(record.fee, (revenue - energy) * FEE / BPS, "fee on revenue after energy");
        assertEq(record.gross, record.credits + record.energyCost + record.fee + record.net, "split adds up");
        assertEq(record.addedRevenue, added, "added revenue recorded");
    }

    function test_epoch_split_concrete() public {
        // 8 GPUs x $2, full delivery: gross $16; energy 5,000 Wh x 1.2 x $0.12 = $0.72;
        // fee 10% x $15.28 = $1.528; net $13.752. Plus $1 added: gross $17, fee $1.628, net $14.652.
        (, ILeaseMarket.EpochSettlement memory record) = _billOneEpoch(
            _terms(assetId, GPUS, uint128(2 * USD), 9_900, 1_000, ILeaseMarket.LeaseClass.Firm),
            GPUS,
            uint64(CAPACITY),
            0,
            5_000,
            USD
        );
        assertEq(record.gross, 17 * USD, "gross");
        assertEq(record.energyCost, 720_000, "energy");
        assertEq(record.fee, 1_628_000, "fee");
        assertEq(record.net, 14_652_000, "net");
        assertEq(market.operatorBalance(operator), 2_348_000, "operator: energy + fee");
    }

    /* HELPERS */

    /// @dev `_billOneEpoch` with root-only posting: each epoch's root is committed over this asset's report
    /// alone (a one-leaf tree: root = leaf, empty proof) and settled with `settleWithProof`.
    function _billOneEpochProven(
        ILeaseMarket.OfferTerms memory terms,
        uint32 gpus,
        uint64 gpuSeconds,
        uint64 curtailed,
        uint64 energyWh
    ) internal returns (uint256 leaseId, ILeaseMarket.EpochSettlement memory record, bytes32 leaf) {
        uint256 fresh = _registerAsset(operator, GPUS, 700, PUE, TARIFF, FEE);
        terms.assetId = fresh;
        vm.prank(operator);
        uint256 offerId = market.createOffer(terms);
        vm.prank(lessee);
        leaseId = market.openLease(offerId, gpus, 1, terms.pricePerGpuHour);
        uint64 epoch = _currentEpoch() + 1;
        vm.warp(_epochStart(epoch + 1) + INTO);
        IMeteringOracle.Report memory first = _report(fresh, epoch - 1, 0, 0, 0, 0);
        IMeteringOracle.Report memory second =
            _report(fresh, epoch, gpuSeconds, curtailed, gpuSeconds == 0 ? 0 : 8_000, energyWh);
        bytes32[] memory none = new bytes32[](0);
        _commitRoot(epoch - 1, oracle.hashReport(first), 1);
        market.settleWithProof(first, none);
        leaf = oracle.hashReport(second);
        _commitRoot(epoch, leaf, 1);
        market.settleWithProof(second, none);
        assertFalse(oracle.hasReport(fresh, epoch), "nothing stored");
        record = market.settlementOf(fresh, epoch);
    }

    function _billOneEpoch(
        ILeaseMarket.OfferTerms memory terms,
        uint32 gpus,
        uint64 gpuSeconds,
        uint64 curtailed,
        uint64 energyWh
    ) internal returns (uint256 leaseId, ILeaseMarket.EpochSettlement memory record) {
        return _billOneEpoch(terms, gpus, gpuSeconds, curtailed, energyWh, 0);
    }

    /// @dev Registers a fresh 8-GPU asset (the sample H100's economics), offers it on `terms`, opens a
    /// one-epoch lease of `gpus`, lets the epoch pass, posts its report and settles it; returns the lease and
    /// the epoch's record.
    function _billOneEpoch(
        ILeaseMarket.OfferTerms memory terms,
        uint32 gpus,
        uint64 gpuSeconds,
        uint64 curtailed,
        uint64 energyWh,
        uint256 added
    ) internal returns (uint256 leaseId, ILeaseMarket.EpochSettlement memory record) {
        uint256 fresh = _registerAsset(operator, GPUS, 700, PUE, TARIFF, FEE);
        terms.assetId = fresh;
        vm.prank(operator);
        uint256 offerId = market.createOffer(terms);
        vm.prank(lessee);
        leaseId = market.openLease(offerId, gpus, 1, terms.pricePerGpuHour);
        uint64 epoch = _currentEpoch() + 1;
        if (added != 0) {
            vm.prank(operator);
            market.addRevenue(fresh, epoch, added, "SPOT");
        }
        vm.warp(_epochStart(epoch + 1) + INTO);
        IMeteringOracle.Report[] memory reports = new IMeteringOracle.Report[](2);
        reports[0] = _report(fresh, epoch - 1, 0, 0, 0, 0);
        reports[1] = _report(fresh, epoch, gpuSeconds, curtailed, gpuSeconds == 0 ? 0 : 8_000, energyWh);
        _post(reports);
        assertEq(market.settleThrough(fresh, epoch), 2, "settled the enrolment epoch and the leased one");
        record = market.settlementOf(fresh, epoch);
    }
}
