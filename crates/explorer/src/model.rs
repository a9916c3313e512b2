//! What the indexer stores, as read from the node.

#[derive(Debug, Clone)]
pub struct Block {
    pub number: u64,
    pub hash: String,
    pub parent_hash: String,
    pub timestamp: u64,
    pub miner: String,
    pub gas_used: u64,
    pub gas_limit: u64,
    pub base_fee: Option<String>,
    pub txs: Vec<Tx>,
    pub logs: Vec<Log>,
    pub internal: Vec<InternalTx>,
}

#[derive(Debug, Clone)]
pub struct Tx {
    pub hash: String,
    pub block_number: u64,
    pub index: u64,
    pub from: String,
    pub to: Option<String>,
    pub value: String,
    pub nonce: u64,
    pub tx_type: u64,
    pub gas_limit: u64,
    pub gas_used: u64,
    pub gas_price: String,
    pub status: u64,
    pub contract_address: Option<String>,
    pub input: String,
}

#[derive(Debug, Clone)]
pub struct Log {
    pub block_number: u64,
    pub log_index: u64,
    pub tx_hash: String,
    pub address: String,
    pub topics: Vec<String>,
    pub data: String,
}

#[derive(Debug, Clone)]
pub struct InternalTx {
    pub tx_hash: String,
    pub index: u64,
    pub block_number: u64,
    pub call_type: String,
    pub from: String,
    pub to: Option<String>,
    pub value: String,
    pub gas_used: u64,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Erc20,
    Erc721,
    Erc1155,
}

impl TokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Erc20 => "ERC-20",
            Self::Erc721 => "ERC-721",
            Self::Erc1155 => "ERC-1155",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenTransfer {
    pub block_number: u64,
    pub log_index: u64,
    /// Position within an ERC-1155 batch; 0 otherwise.
    pub batch_index: u64,
    pub tx_hash: String,
    pub token: String,
    pub kind: TokenKind,
    pub from: String,
    pub to: String,
    /// Amount (ERC-20, ERC-1155), decimal.
    pub amount: Option<String>,
    /// Token id (ERC-721, ERC-1155), decimal.
    pub token_id: Option<String>,
}

/// A token seen for the first time, with what its contract says of itself.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub address: String,
    pub kind: TokenKind,
    pub name: Option<String>,
    pub symbol: Option<String>,
    pub decimals: Option<i64>,
    pub first_block: u64,
}
