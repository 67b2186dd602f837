// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {ShareVenue} from "../../../contracts/ShareVenue.sol";
import {IAssetRegistry} from "../../../contracts/interfaces/IAssetRegistry.sol";
import {IAssetShares} from "../../../contracts/interfaces/IAssetShares.sol";
import {IShareVenue} from "../../../contracts/interfaces/IShareVenue.sol";
import {SharesFixture} from "../shares/SharesFixture.sol";

/// @notice The share layer of SharesFixture plus a ShareVenue approved as a holder (as the deploy script does),
/// its market open, and makers that hold shares and have approved the venue on both tokens.
abstract contract VenueFixture is SharesFixture {
    uint256 internal constant MAX_PRICE = 1e12 * USD; // a trillion dollars a share: far past any real price

    ShareVenue internal venue;
    IAssetShares internal book; // `shares` as the venue's interface type

    function _deployVenue() internal {
        _deploySuite(address(0));
        _openOffering(uint128(USD));
        venue = new ShareVenue(IAssetRegistry(address(registry)));
        vm.startPrank(admin);
        investors.grantRole(investors.HOLDER_MANAGER_ROLE(), admin);
        investors.setApprovedHolder(address(venue), true);
        vm.stopPrank();
        venue.openMarket(1);
        book = IAssetShares(address(shares));
    }

    /// @dev Verifies `trader`, gives it `holding` shares and `cash` stablecoin, and approves the venue on both.
    function _trader(string memory name, uint256 holding, uint256 cash) internal returns (address trader) {
        trader = makeAddr(name);
        _verify(trader);
        if (holding != 0) _subscribe(trader, holding);
        _fund(trader, cash);
        vm.startPrank(trader);
        shares.approve(address(venue), type(uint256).max);
        coin.approve(address(venue), type(uint256).max);
        vm.stopPrank();
    }

    function _place(address maker, IShareVenue.Side side, uint256 price, uint256 amount) internal returns (uint256) {
        vm.prank(maker);
        return venue.placeOrder(book, side, uint128(price), uint128(amount), uint40(block.timestamp + 1 days));
    }

    function _ids(uint256 a) internal pure returns (uint256[] memory ids) {
        ids = new uint256[](1);
        ids[0] = a;
    }

    /// @dev ceil(amount x price / 1e18), the venue's value of `amount` share units.
    function _valueUp(uint256 amount, uint256 price) internal pure returns (uint256) {
        return (amount * price + SHARE - 1) / SHARE;
    }
}
