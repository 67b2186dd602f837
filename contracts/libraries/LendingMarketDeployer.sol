// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

import {LendingMarket} from "../LendingMarket.sol";
import {IAssetShares} from "../interfaces/IAssetShares.sol";
import {IInterestRateModel} from "../interfaces/IInterestRateModel.sol";
import {IInvestorRegistry} from "../interfaces/IInvestorRegistry.sol";
import {IShareValuation} from "../interfaces/IShareValuation.sol";
import {ILendingFactory} from "../interfaces/ILendingFactory.sol";

/// @title LendingMarketDeployer
/// @notice Creates a LendingMarket with CREATE2 (salt: the market id). An external library reached by
/// DELEGATECALL, so the factory stays under the contract size limit while being the market's creator.
library LendingMarketDeployer {
    function deploy(
        bytes32 id,
        string calldata name,
        string calldata symbol,
        ILendingFactory.MarketParams calldata params,
        uint256 borrowMarginWad,
        IInvestorRegistry investors
    ) external returns (address) {
        return address(
            new LendingMarket{salt: id}(
                name,
                symbol,
                IERC20(params.loanToken),
                IAssetShares(params.collateralToken),
                IShareValuation(params.valuation),
                IInterestRateModel(params.irm),
                params.lltv,
                borrowMarginWad,
                investors
            )
        );
    }
}
