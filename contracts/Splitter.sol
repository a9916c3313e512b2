// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// Splits the value it receives between two recipients: a contract call that makes internal
/// value transfers, for tracing and the explorer's internal-transaction view.
contract Splitter {
    event Split(address indexed from, uint256 value);

    function split(address payable a, address payable b) external payable {
        uint256 half = msg.value / 2;
        (bool okA, ) = a.call{value: half}("");
        require(okA, "Splitter: first transfer failed");
        (bool okB, ) = b.call{value: msg.value - half}("");
        require(okB, "Splitter: second transfer failed");
        emit Split(msg.sender, msg.value);
    }
}
