"""The exact-revert helper itself: it must fail on a different error or different arguments."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from tests.contracts.oracle._reverts import assert_call_reverts, error_data, reverts
from tests.contracts.oracle._signing import Report


def test_error_data_is_selector_and_abi_encoded_args():
    assert error_data("EmptyBatch()") == keccak(text="EmptyBatch()")[:4]
    data = error_data("EpochGap(uint256,uint64,uint64)", 1, 12, 10)
    assert data[:4] == keccak(text="EpochGap(uint256,uint64,uint64)")[:4]
    assert data[4:] == (1).to_bytes(32, "big") + (12).to_bytes(32, "big") + (10).to_bytes(32, "big")
    with pytest.raises(ValueError):
        error_data("EpochGap(uint256,uint64,uint64)", 1, 12)


def test_reverts_fails_on_other_arguments_other_error_or_no_revert(oracle, quorum, started, keeper):
    h100, _ = started
    gap = [Report(h100, 12, 1, 0, 1, 1)]
    with pytest.raises(AssertionError, match="wrong revert"):
        with reverts("EpochGap(uint256,uint64,uint64)", h100, 12, 11):
            quorum.submit(gap, keeper)
    with pytest.raises(AssertionError, match="wrong revert"):
        with reverts("EpochAlreadyReported(uint256,uint64)", h100, 12):
            quorum.submit(gap, keeper)
    with pytest.raises(AssertionError, match="did not revert"):
        with reverts("EmptyBatch()"):
            quorum.submit([Report(h100, 10, 1, 0, 1, 1)], keeper)
    with pytest.raises(AssertionError, match="wrong revert"):
        assert_call_reverts(oracle.getReport, (h100, 3), "ReportNotFound(uint256,uint64)", h100, 4)
