//! Table layout. Composite keys are big-endian byte strings so that redb's byte order is the
//! order we range over.

use redb::TableDefinition;

pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub const HEAD_KEY: &str = "head";
pub const GENESIS_KEY: &str = "genesis_hash";
pub const EARLIEST_STATE_KEY: &str = "earliest_state";
/// The last block known to be in DA (posted by this sequencer, or read by this full node).
pub const DA_INCLUDED_KEY: &str = "da_included";
/// A full node's next DA height to read.
pub const DA_CURSOR_KEY: &str = "da_cursor";
/// The DA head when a submission was sent and its outcome not yet recorded (sequencer).
pub const DA_IN_FLIGHT_KEY: &str = "da_in_flight";

/// number -> hash (32) | RLP(header)
pub const HEADERS: TableDefinition<u64, &[u8]> = TableDefinition::new("headers");
/// hash -> number
pub const HASH_TO_NUMBER: TableDefinition<&[u8], u64> = TableDefinition::new("hash_to_number");
/// number -> concatenated 32-byte transaction hashes
pub const BLOCK_TXS: TableDefinition<u64, &[u8]> = TableDefinition::new("block_txs");
/// tx hash -> block (8) | index (4) | sender (20) | EIP-2718 bytes
pub const TRANSACTIONS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("transactions");
/// number -> receipts, each length-prefixed EIP-2718
pub const RECEIPTS: TableDefinition<u64, &[u8]> = TableDefinition::new("receipts");
/// address -> nonce (8) | balance (32) | code hash (32)
pub const ACCOUNTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("accounts");
/// address | slot -> value (32)
pub const STORAGE: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage");
/// code hash -> bytecode
pub const CODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("codes");
/// address | block -> account written at that block (empty: deleted)
pub const ACCOUNT_HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("account_history");
/// address | slot | block -> value written at that block
pub const STORAGE_HISTORY: TableDefinition<&[u8], &[u8]> = TableDefinition::new("storage_history");
/// number -> the keys that block wrote
pub const CHANGESETS: TableDefinition<u64, &[u8]> = TableDefinition::new("changesets");
/// number -> the DA height that includes the block
pub const DA_HEIGHTS: TableDefinition<u64, u64> = TableDefinition::new("da_heights");
