"""Physical bounds of a report, each limit worked out by hand from the asset's registry profile:
GPU-seconds (healthy + curtailed) <= gpuCount x epochLength; utilisation <= 10,000 bps and 0 when no healthy
time; energy <= gpuCount x powerPerGpuW x epochLength x (10,000 + margin) / (3600 x 10,000) Wh."""

from __future__ import annotations

import pytest

from tests.contracts.oracle._quorum import (
    ENERGY_MARGIN_BPS,
    EPOCH_LENGTH,
    FIRST_EPOCH,
    H100_MAX_ENERGY_WH,
    H100_MAX_GPU_SECONDS,
    L40S_MAX_ENERGY_WH,
    L40S_MAX_GPU_SECONDS,
    full_h100,
)
from tests.contracts.oracle._reverts import reverts
from tests.contracts.oracle._signing import Report
from scripts.samples import H100_CLUSTER, L40S_EDGE

GPU_SECONDS = "GpuSecondsOutOfBounds(uint256,uint64,uint256,uint256)"
UTILIZATION = "UtilizationOutOfBounds(uint256,uint64,uint16,uint64)"
ENERGY = "EnergyOutOfBounds(uint256,uint64,uint64,uint256)"


def test_hand_computed_limits_match_the_sample_specs():
    assert H100_MAX_GPU_SECONDS == H100_CLUSTER.gpu_count * EPOCH_LENGTH == 28_800
    assert L40S_MAX_GPU_SECONDS == L40S_EDGE.gpu_count * EPOCH_LENGTH == 14_400
    # 8 x 700 W for an hour is 5,600 Wh; +20% margin = 6,720 Wh.  4 x 350 W: 1,400 Wh; +20% = 1,680 Wh.
    assert H100_MAX_ENERGY_WH == 6_720 and L40S_MAX_ENERGY_WH == 1_680
    assert ENERGY_MARGIN_BPS == 2_000


@pytest.mark.parametrize(
    "healthy, curtailed",
    [(H100_MAX_GPU_SECONDS + 1, 0), (0, H100_MAX_GPU_SECONDS + 1), (20_000, 8_801), (2**64 - 1, 2**64 - 1)],
)
def test_submit_reverts_when_gpu_seconds_exceed_gpu_count_times_epoch(oracle, quorum, started, keeper,
                                                                      healthy, curtailed):
    h100, _ = started
    report = Report(h100, FIRST_EPOCH, healthy, curtailed, 5_000 if healthy else 0, 100)
    with reverts(GPU_SECONDS, h100, FIRST_EPOCH, healthy + curtailed, H100_MAX_GPU_SECONDS):
        quorum.submit([report], keeper)


def test_submit_reverts_when_l40s_gpu_seconds_exceed_its_own_limit(oracle, quorum, started, keeper):
    _, l40s = started
    with reverts(GPU_SECONDS, l40s, FIRST_EPOCH, L40S_MAX_GPU_SECONDS + 1, L40S_MAX_GPU_SECONDS):
        quorum.submit([Report(l40s, FIRST_EPOCH, L40S_MAX_GPU_SECONDS, 1, 5_000, 100)], keeper)


@pytest.mark.parametrize("utilization", [10_001, 65_535])
def test_submit_reverts_when_utilization_exceeds_100_percent(oracle, quorum, started, keeper, utilization):
    h100, _ = started
    with reverts(UTILIZATION, h100, FIRST_EPOCH, utilization, 20_000):
        quorum.submit([Report(h100, FIRST_EPOCH, 20_000, 0, utilization, 100)], keeper)


def test_submit_reverts_when_utilization_is_positive_without_healthy_time(oracle, quorum, started, keeper):
    h100, _ = started
    with reverts(UTILIZATION, h100, FIRST_EPOCH, 1, 0):
        quorum.submit([Report(h100, FIRST_EPOCH, 0, 0, 1, 100)], keeper)
    with reverts(UTILIZATION, h100, FIRST_EPOCH, 1, 0):  # curtailed time is not healthy time either
        quorum.submit([Report(h100, FIRST_EPOCH, 0, 3_600, 1, 100)], keeper)


@pytest.mark.parametrize("energy", [H100_MAX_ENERGY_WH + 1, 2**64 - 1])
def test_submit_reverts_when_energy_exceeds_rated_power_plus_margin(oracle, quorum, started, keeper, energy):
    h100, _ = started
    with reverts(ENERGY, h100, FIRST_EPOCH, energy, H100_MAX_ENERGY_WH):
        quorum.submit([Report(h100, FIRST_EPOCH, 20_000, 0, 5_000, energy)], keeper)


def test_submit_energy_limit_follows_the_margin(oracle, quorum, started, actors, keeper):
    _, l40s = started
    oracle.setEnergyMargin(0, {"from": actors.admin})
    # 4 x 350 W x 3600 s x 10,000 / (3600 x 10,000) = 1,400 Wh with no margin.
    with reverts(ENERGY, l40s, FIRST_EPOCH, 1_401, 1_400):
        quorum.submit([Report(l40s, FIRST_EPOCH, 14_000, 0, 5_000, 1_401)], keeper)
    oracle.setEnergyMargin(5_000, {"from": actors.admin})
    # +50%: 2,100 Wh.
    with reverts(ENERGY, l40s, FIRST_EPOCH, 2_101, 2_100):
        quorum.submit([Report(l40s, FIRST_EPOCH, 14_000, 0, 5_000, 2_101)], keeper)
    quorum.submit([Report(l40s, FIRST_EPOCH, 14_000, 0, 5_000, 2_100)], keeper)
    assert oracle.hasReport(l40s, FIRST_EPOCH)


def test_submit_checks_bounds_in_order_gpu_seconds_then_utilization_then_energy(oracle, quorum, started, keeper):
    h100, _ = started
    with reverts(GPU_SECONDS, h100, FIRST_EPOCH, H100_MAX_GPU_SECONDS + 1, H100_MAX_GPU_SECONDS):
        quorum.submit([Report(h100, FIRST_EPOCH, H100_MAX_GPU_SECONDS + 1, 0, 10_001, 10**9)], keeper)
    with reverts(UTILIZATION, h100, FIRST_EPOCH, 10_001, 1):
        quorum.submit([Report(h100, FIRST_EPOCH, 1, 0, 10_001, 10**9)], keeper)


def test_submit_checks_the_epoch_before_the_values(oracle, quorum, started, keeper):
    h100, _ = started
    with reverts("EpochGap(uint256,uint64,uint64)", h100, FIRST_EPOCH + 1, FIRST_EPOCH):
        quorum.submit([Report(h100, FIRST_EPOCH + 1, H100_MAX_GPU_SECONDS + 1, 0, 0, 0)], keeper)


def test_submit_names_the_offending_report_of_a_batch(oracle, quorum, started, keeper):
    h100, l40s = started
    batch = [full_h100(h100, 10), full_h100(h100, 11), Report(l40s, 10, 1, 0, 100, L40S_MAX_ENERGY_WH + 1)]
    with reverts(ENERGY, l40s, 10, L40S_MAX_ENERGY_WH + 1, L40S_MAX_ENERGY_WH):
        quorum.submit(batch, keeper)
