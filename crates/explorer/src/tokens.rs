//! Token transfers recognised in logs (ERC-20 and ERC-721 `Transfer`, ERC-1155 `TransferSingle`
//! and `TransferBatch`), and token metadata read with `eth_call`.

use crate::model::{Log, TokenKind, TokenTransfer};
use crate::node::Node;
use alloy_primitives::U256;

/// keccak256("Transfer(address,address,uint256)")
pub const TRANSFER_TOPIC: &str = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef";
/// keccak256("TransferSingle(address,address,address,uint256,uint256)")
const TRANSFER_SINGLE: &str = "0xc3d58168c5ae7397731d063d5bbf3d657854427343f4c083240f7aacaa2d0f62";
/// keccak256("TransferBatch(address,address,address,uint256[],uint256[])")
const TRANSFER_BATCH: &str = "0x4a39dc06d4c0dbc64b70af90fd698a233a518aa5d07e595d983b8c0526c8f7fb";

fn topic_address(topic: &str) -> String {
    format!("0x{}", &topic[topic.len().saturating_sub(40)..])
}

fn words(data: &str) -> Vec<U256> {
    let bytes = alloy_primitives::hex::decode(data).unwrap_or_default();
    bytes.chunks_exact(32).map(U256::from_be_slice).collect()
}

/// The token transfers one log records, if any.
pub fn transfers(log: &Log) -> Vec<TokenTransfer> {
    let base = |kind, from: String, to: String, amount: Option<U256>, token_id: Option<U256>, batch_index| TokenTransfer {
        block_number: log.block_number,
        log_index: log.log_index,
        batch_index,
        tx_hash: log.tx_hash.clone(),
        token: log.address.clone(),
        kind,
        from,
        to,
        amount: amount.map(|v| v.to_string()),
        token_id: token_id.map(|v| v.to_string()),
    };
    let topics = &log.topics;
    match (topics.first().map(String::as_str), topics.len()) {
        (Some(TRANSFER_TOPIC), 3) => match words(&log.data).as_slice() {
            [amount] => vec![base(TokenKind::Erc20, topic_address(&topics[1]), topic_address(&topics[2]), Some(*amount), None, 0)],
            _ => Vec::new(),
        },
        (Some(TRANSFER_TOPIC), 4) => {
            let id = U256::from_str_radix(topics[3].trim_start_matches("0x"), 16).ok();
            vec![base(TokenKind::Erc721, topic_address(&topics[1]), topic_address(&topics[2]), None, id, 0)]
        }
        (Some(TRANSFER_SINGLE), 4) => match words(&log.data).as_slice() {
            [id, amount] => vec![base(TokenKind::Erc1155, topic_address(&topics[2]), topic_address(&topics[3]), Some(*amount), Some(*id), 0)],
            _ => Vec::new(),
        },
        (Some(TRANSFER_BATCH), 4) => {
            // data: offset(ids), offset(amounts), then each array as length and items.
            let w = words(&log.data);
            let array = |offset: Option<&U256>| -> Option<Vec<U256>> {
                let at = usize::try_from(*offset?).ok()? / 32;
                let len = usize::try_from(*w.get(at)?).ok()?;
                w.get(at.checked_add(1)?..at.checked_add(1)?.checked_add(len)?).map(<[U256]>::to_vec)
            };
            match (array(w.first()), array(w.get(1))) {
                (Some(ids), Some(amounts)) if ids.len() == amounts.len() => ids
                    .iter()
                    .zip(&amounts)
                    .enumerate()
                    .map(|(i, (id, amount))| base(TokenKind::Erc1155, topic_address(&topics[2]), topic_address(&topics[3]), Some(*amount), Some(*id), i as u64))
                    .collect(),
                _ => Vec::new(),
            }
        }
        _ => Vec::new(),
    }
}

/// name, symbol and decimals, each `None` when the contract does not answer it.
pub async fn metadata(node: &Node, token: &str) -> (Option<String>, Option<String>, Option<i64>) {
    let name = node.call(token, [0x06, 0xfd, 0xde, 0x03]).await.and_then(|out| abi_string(&out));
    let symbol = node.call(token, [0x95, 0xd8, 0x9b, 0x41]).await.and_then(|out| abi_string(&out));
    let decimals = node
        .call(token, [0x31, 0x3c, 0xe5, 0x67])
        .await
        .filter(|out| out.len() == 32)
        .and_then(|out| u8::try_from(U256::from_be_slice(&out)).ok())
        .map(i64::from);
    (name, symbol, decimals)
}

/// An ABI-encoded `string` return value (or a `bytes32` one, as some old tokens give).
fn abi_string(out: &[u8]) -> Option<String> {
    let text = if out.len() == 32 {
        out.iter().take_while(|b| **b != 0).copied().collect::<Vec<u8>>()
    } else {
        let offset = usize::try_from(U256::from_be_slice(out.get(..32)?)).ok()?;
        let start = offset.checked_add(32)?;
        let len = usize::try_from(U256::from_be_slice(out.get(offset..start)?)).ok()?;
        out.get(start..start.checked_add(len)?)?.to_vec()
    };
    String::from_utf8(text).ok().map(|s| s.chars().filter(|c| !c.is_control()).take(64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(topics: &[&str], data: &str) -> Log {
        Log {
            block_number: 7,
            log_index: 3,
            tx_hash: "0xaa".into(),
            address: "0xtoken".into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            data: data.into(),
        }
    }

    const FROM: &str = "0x000000000000000000000000f39fd6e51aad88f6f4ce6ab8827279cfffb92266";
    const TO: &str = "0x00000000000000000000000070997970c51812dc3a010c7d01b50e0d17dc79c8";

    #[test]
    fn erc20_erc721_erc1155() {
        let amount = format!("0x{:064x}", 42);
        let t = transfers(&log(&[TRANSFER_TOPIC, FROM, TO], &amount));
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].kind, t[0].amount.as_deref(), t[0].from.as_str()), (TokenKind::Erc20, Some("42"), "0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266"));
        let id = format!("0x{:064x}", 9);
        let t = transfers(&log(&[TRANSFER_TOPIC, FROM, TO, &id], "0x"));
        assert_eq!((t[0].kind, t[0].token_id.as_deref(), t[0].amount.as_deref()), (TokenKind::Erc721, Some("9"), None));
        let single = format!("0x{:064x}{:064x}", 5, 100);
        let t = transfers(&log(&[TRANSFER_SINGLE, FROM, FROM, TO], &single));
        assert_eq!((t[0].kind, t[0].token_id.as_deref(), t[0].amount.as_deref()), (TokenKind::Erc1155, Some("5"), Some("100")));
        let batch = format!("0x{:064x}{:064x}{:064x}{:064x}{:064x}{:064x}{:064x}{:064x}", 64, 160, 2, 1, 2, 2, 10, 20);
        let t = transfers(&log(&[TRANSFER_BATCH, FROM, FROM, TO], &batch));
        assert_eq!(t.iter().map(|x| (x.token_id.clone().unwrap(), x.amount.clone().unwrap(), x.batch_index)).collect::<Vec<_>>(),
            vec![("1".into(), "10".into(), 0), ("2".into(), "20".into(), 1)]);
        // Not a transfer, or malformed: nothing.
        assert!(transfers(&log(&[TRANSFER_TOPIC, FROM, TO], "0x")).is_empty());
        assert!(transfers(&log(&["0x1234"], "0x")).is_empty());
    }

    #[test]
    fn abi_strings() {
        let mut out = vec![0u8; 96];
        out[31] = 32;
        out[63] = 4;
        out[64..68].copy_from_slice(b"ANDE");
        assert_eq!(abi_string(&out).as_deref(), Some("ANDE"));
        let mut b32 = [0u8; 32];
        b32[..3].copy_from_slice(b"MKR");
        assert_eq!(abi_string(&b32).as_deref(), Some("MKR"));
        assert_eq!(abi_string(&[1, 2]), None);
    }
}
