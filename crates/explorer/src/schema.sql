-- The explorer's tables, in SQL that Postgres and SQLite both take. Hashes and addresses are
-- lowercase 0x-hex text; wei amounts are decimal text (they overflow 64 bits); block numbers and
-- gas are BIGINT. Every row is keyed by where it came from, so indexing a block twice inserts
-- nothing new.
CREATE TABLE IF NOT EXISTS blocks (
    number BIGINT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    parent_hash TEXT NOT NULL,
    timestamp BIGINT NOT NULL,
    miner TEXT NOT NULL,
    gas_used BIGINT NOT NULL,
    gas_limit BIGINT NOT NULL,
    base_fee TEXT,
    tx_count BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS blocks_timestamp ON blocks (timestamp);
CREATE TABLE IF NOT EXISTS transactions (
    hash TEXT PRIMARY KEY,
    block_number BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr TEXT,
    value TEXT NOT NULL,
    nonce BIGINT NOT NULL,
    tx_type BIGINT NOT NULL,
    gas_limit BIGINT NOT NULL,
    gas_used BIGINT NOT NULL,
    gas_price TEXT NOT NULL,
    status BIGINT NOT NULL,
    contract_address TEXT,
    input TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS transactions_position ON transactions (block_number, idx);
CREATE INDEX IF NOT EXISTS transactions_from ON transactions (from_addr, block_number, idx);
CREATE INDEX IF NOT EXISTS transactions_to ON transactions (to_addr, block_number, idx);
CREATE INDEX IF NOT EXISTS transactions_created ON transactions (contract_address);
CREATE TABLE IF NOT EXISTS logs (
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    address TEXT NOT NULL,
    topic0 TEXT,
    topic1 TEXT,
    topic2 TEXT,
    topic3 TEXT,
    data TEXT NOT NULL,
    PRIMARY KEY (block_number, log_index)
);
CREATE INDEX IF NOT EXISTS logs_tx ON logs (tx_hash);
CREATE TABLE IF NOT EXISTS internal_transactions (
    tx_hash TEXT NOT NULL,
    idx BIGINT NOT NULL,
    block_number BIGINT NOT NULL,
    call_type TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr TEXT,
    value TEXT NOT NULL,
    gas_used BIGINT NOT NULL,
    error TEXT,
    PRIMARY KEY (tx_hash, idx)
);
CREATE INDEX IF NOT EXISTS internal_block ON internal_transactions (block_number);
CREATE TABLE IF NOT EXISTS token_transfers (
    block_number BIGINT NOT NULL,
    log_index BIGINT NOT NULL,
    batch_idx BIGINT NOT NULL,
    tx_hash TEXT NOT NULL,
    token TEXT NOT NULL,
    from_addr TEXT NOT NULL,
    to_addr TEXT NOT NULL,
    amount TEXT,
    token_id TEXT,
    PRIMARY KEY (block_number, log_index, batch_idx)
);
CREATE INDEX IF NOT EXISTS token_transfers_tx ON token_transfers (tx_hash);
CREATE INDEX IF NOT EXISTS token_transfers_token ON token_transfers (token, block_number);
CREATE INDEX IF NOT EXISTS token_transfers_from ON token_transfers (from_addr, block_number);
CREATE INDEX IF NOT EXISTS token_transfers_to ON token_transfers (to_addr, block_number);
CREATE TABLE IF NOT EXISTS tokens (
    address TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    name TEXT,
    symbol TEXT,
    decimals BIGINT,
    first_block BIGINT NOT NULL
);
