//! The interfaces the stack calls, written from the contracts' published ABIs (the same for
//! EntryPoint v0.7 and v0.8).

alloy_sol_types::sol! {
    /// ERC-4337's user operation as the EntryPoint takes it.
    #[derive(Debug, Default, PartialEq, Eq)]
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

    #[derive(Debug, Default, PartialEq, Eq)]
    struct DepositInfo {
        uint256 deposit;
        bool staked;
        uint112 stake;
        uint32 unstakeDelaySec;
        uint48 withdrawTime;
    }

    #[derive(Debug, Default, PartialEq, Eq)]
    struct StakeInfo {
        uint256 stake;
        uint256 unstakeDelaySec;
    }

    #[derive(Debug, Default, PartialEq, Eq)]
    struct ReturnInfo {
        uint256 preOpGas;
        uint256 prefund;
        uint256 accountValidationData;
        uint256 paymasterValidationData;
        bytes paymasterContext;
    }

    #[derive(Debug, Default, PartialEq, Eq)]
    struct AggregatorStakeInfo {
        address aggregator;
        StakeInfo stakeInfo;
    }

    #[derive(Debug, Default, PartialEq, Eq)]
    struct ValidationResult {
        ReturnInfo returnInfo;
        StakeInfo senderInfo;
        StakeInfo factoryInfo;
        StakeInfo paymasterInfo;
        AggregatorStakeInfo aggregatorInfo;
    }

    #[derive(Debug, Default, PartialEq, Eq)]
    struct ExecutionResult {
        uint256 preOpGas;
        uint256 paid;
        uint256 accountValidationData;
        uint256 paymasterValidationData;
        bool targetSuccess;
        bytes targetResult;
    }

    interface IEntryPoint {
        event UserOperationEvent(bytes32 indexed userOpHash, address indexed sender, address indexed paymaster, uint256 nonce, bool success, uint256 actualGasCost, uint256 actualGasUsed);
        event AccountDeployed(bytes32 indexed userOpHash, address indexed sender, address factory, address paymaster);
        event UserOperationRevertReason(bytes32 indexed userOpHash, address indexed sender, uint256 nonce, bytes revertReason);
        event BeforeExecution();

        error FailedOp(uint256 opIndex, string reason);
        error FailedOpWithRevert(uint256 opIndex, string reason, bytes inner);
        error SignatureValidationFailed(address aggregator);

        function handleOps(PackedUserOperation[] calldata ops, address payable beneficiary) external;
        function getNonce(address sender, uint192 key) external view returns (uint256 nonce);
        function balanceOf(address account) external view returns (uint256);
        function getDepositInfo(address account) external view returns (DepositInfo memory info);
        function getUserOpHash(PackedUserOperation calldata userOp) external view returns (bytes32);
        function depositTo(address account) external payable;
        function incrementNonce(uint192 key) external;
        function addStake(uint32 unstakeDelaySec) external payable;
    }

    interface IEntryPointSimulations {
        function simulateValidation(PackedUserOperation calldata userOp) external returns (ValidationResult memory);
        function simulateHandleOp(PackedUserOperation calldata op, address target, bytes calldata targetCallData) external returns (ExecutionResult memory);
    }

    interface ISimpleAccountFactory {
        function createAccount(address owner, uint256 salt) external returns (address);
        function getAddress(address owner, uint256 salt) external view returns (address);
    }

    interface ISimpleAccount {
        function execute(address dest, uint256 value, bytes calldata func) external;
    }

    interface IVerifyingPaymaster {
        function getHash(PackedUserOperation calldata userOp, uint48 validUntil, uint48 validAfter) external view returns (bytes32);
        function verifyingSigner() external view returns (address);
        function deposit() external payable;
        function getDeposit() external view returns (uint256);
    }
}
