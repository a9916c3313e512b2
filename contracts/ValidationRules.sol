// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// Test probes for the bundler's ERC-7562 rules (EntryPoint v0.7's interfaces): accounts, a
/// factory and a paymaster whose validation does what the test asks, and a contract holding
/// storage for them to reach into. Never deploy these on a real network.

struct PackedUserOperation {
    address sender;
    uint256 nonce;
    bytes initCode;
    bytes callData;
    bytes32 accountGasLimits;
    uint256 preVerificationGas;
    bytes32 gasFees;
    bytes paymasterAndData;
    bytes signature;
}

interface IStakeManagerLite {
    function depositTo(address account) external payable;
    function addStake(uint32 unstakeDelaySec) external payable;
}

/// Storage of others: a mapping keyed by address (associated storage) and a shared slot.
contract Store {
    mapping(address => uint256) public balanceOf;
    uint256 public shared;

    function credit(address account, uint256 value) external {
        balanceOf[account] = value;
    }
}

/// An account whose validation breaks the rule its signature's first byte names; 0 breaks none.
contract RuleAccount {
    address public immutable entryPoint;
    Store public immutable store;

    constructor(address entryPoint_, Store store_) {
        entryPoint = entryPoint_;
        store = store_;
    }

    function validateUserOp(PackedUserOperation calldata op, bytes32, uint256 missingFunds) external returns (uint256) {
        uint8 mode = op.signature.length > 0 ? uint8(op.signature[0]) : 0;
        if (mode == 1) {
            // OP-011: an environment opcode.
            if (block.timestamp == 0) revert("never");
        } else if (mode == 2) {
            // STO: a slot of another contract, not associated with the sender.
            if (store.shared() == 42) revert("never");
        } else if (mode == 3) {
            // STO-021: associated storage of an existing account is allowed.
            if (store.balanceOf(address(this)) == 42) revert("never");
        } else if (mode == 4) {
            // OP-012: GAS other than right before a call.
            if (gasleft() == 0) revert("never");
        } else if (mode == 5) {
            // OP-080: SELFBALANCE from an unstaked entity.
            if (address(this).balance == 0) revert("never");
        } else if (mode == 6) {
            // OP-020: a call that runs out of gas.
            (bool ok, ) = address(this).call{gas: 2000}(abi.encodeWithSelector(this.burn.selector));
            ok;
        } else if (mode == 7) {
            // OP-041: a call to an address without code.
            (bool ok, ) = address(0xdeadbeef).call("");
            ok;
        }
        if (missingFunds > 0) {
            (bool paid, ) = payable(entryPoint).call{value: missingFunds}("");
            paid;
        }
        return 0;
    }

    function burn() external pure {
        uint256 x;
        for (uint256 i = 0; i < 1000; i++) x += i;
    }

    function execute(address to, uint256 value, bytes calldata data) external {
        require(msg.sender == entryPoint, "not from the EntryPoint");
        (bool ok, ) = to.call{value: value}(data);
        require(ok, "call failed");
    }

    receive() external payable {}
}

/// The smallest account: pays its prefund, accepts any signature, executes for the EntryPoint.
contract MinimalAccount {
    address public immutable entryPoint;

    constructor(address entryPoint_) {
        entryPoint = entryPoint_;
    }

    function validateUserOp(PackedUserOperation calldata, bytes32, uint256 missingFunds) external returns (uint256) {
        if (missingFunds > 0) {
            (bool paid, ) = payable(entryPoint).call{value: missingFunds}("");
            paid;
        }
        return 0;
    }

    function execute(address to, uint256 value, bytes calldata data) external {
        require(msg.sender == entryPoint, "not from the EntryPoint");
        (bool ok, ) = to.call{value: value}(data);
        require(ok, "call failed");
    }

    receive() external payable {}
}

/// Deploys MinimalAccounts with CREATE2; with `touchOther`, also writes storage associated with
/// another address (ERC-7562 forbids it to an unstaked factory).
contract RuleFactory {
    address public immutable entryPoint;
    Store public immutable store;

    constructor(address entryPoint_, Store store_) {
        entryPoint = entryPoint_;
        store = store_;
    }

    function createAccount(bytes32 salt, address touchOther) external returns (address account) {
        account = address(new MinimalAccount{salt: salt}(entryPoint));
        if (touchOther != address(0)) store.credit(touchOther, 1);
    }

    function accountAddress(bytes32 salt) external view returns (address) {
        bytes32 hash = keccak256(abi.encodePacked(bytes1(0xff), address(this), salt, keccak256(abi.encodePacked(type(MinimalAccount).creationCode, abi.encode(entryPoint)))));
        return address(uint160(uint256(hash)));
    }
}

/// A paymaster that pays for everything. It returns a context when built `withContext`; built
/// `canFail`, its validation reads its own storage and reverts while `failing` is set (reading
/// its own storage needs a stake).
contract RulePaymaster {
    address public immutable entryPoint;
    bool public immutable withContext;
    bool public immutable canFail;
    bool public failing;

    constructor(address entryPoint_, bool withContext_, bool canFail_) {
        entryPoint = entryPoint_;
        withContext = withContext_;
        canFail = canFail_;
    }

    function setFailing(bool failing_) external {
        failing = failing_;
    }

    function deposit() external payable {
        IStakeManagerLite(entryPoint).depositTo{value: msg.value}(address(this));
    }

    function stake(uint32 unstakeDelaySec) external payable {
        IStakeManagerLite(entryPoint).addStake{value: msg.value}(unstakeDelaySec);
    }

    function validatePaymasterUserOp(PackedUserOperation calldata, bytes32, uint256) external view returns (bytes memory context, uint256 validationData) {
        if (canFail) require(!failing, "paymaster says no");
        context = withContext ? bytes("ctx") : bytes("");
        validationData = 0;
    }

    function postOp(uint8, bytes calldata, uint256, uint256) external {}
}
