//! The interfaces the stack calls, written from the contracts' published ABIs (the same for
//! EntryPoint v0.7 and v0.8; Hyperlane's from @hyperlane-xyz/core 12.1.0).

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

    interface IMailbox {
        event Dispatch(address indexed sender, uint32 indexed destination, bytes32 indexed recipient, bytes message);

        function initialize(address owner, address defaultIsm, address defaultHook, address requiredHook) external;
        function localDomain() external view returns (uint32);
        function owner() external view returns (address);
        function defaultIsm() external view returns (address);
        function defaultHook() external view returns (address);
        function requiredHook() external view returns (address);
        function setDefaultIsm(address module) external;
        function setDefaultHook(address hook) external;
        function setRequiredHook(address hook) external;
        function delivered(bytes32 id) external view returns (bool);
        function recipientIsm(address recipient) external view returns (address);
        function deployedBlock() external view returns (uint256);
        function process(bytes calldata metadata, bytes calldata message) external payable;
    }

    interface IMerkleTreeHook {
        event InsertedIntoTree(bytes32 messageId, uint32 index);

        function count() external view returns (uint32);
        function deployedBlock() external view returns (uint256);
        function latestCheckpoint() external view returns (bytes32 root, uint32 index);
    }

    interface IValidatorAnnounce {
        function announce(address validator, string calldata storageLocation, bytes calldata signature) external returns (bool);
        function getAnnouncedStorageLocations(address[] calldata validators) external view returns (string[][] memory);
        function getAnnouncementDigest(string memory storageLocation) external view returns (bytes32);
    }

    /// Hyperlane's static message-id multisig ISM factory: one ISM per (validators, threshold),
    /// at an address that depends on nothing else.
    interface IMultisigIsmFactory {
        function deploy(address[] calldata validators, uint8 threshold) external returns (address);
        function getAddress(address[] calldata validators, uint8 threshold) external view returns (address);
    }

    interface IMultisigIsm {
        function validatorsAndThreshold(bytes calldata message) external view returns (address[] memory validators, uint8 threshold);
    }

    /// A warp route: HypNative (the chain's own currency, locked) or HypERC20 (minted and burned).
    interface IWarpRoute {
        function initialize(address hook, address ism, address owner) external;
        function initialize(uint256 totalSupply, string memory name, string memory symbol, address hook, address ism, address owner) external;
        function routers(uint32 domain) external view returns (bytes32);
        function enrollRemoteRouter(uint32 domain, bytes32 router) external;
    }
}
