//! The payout worker: the one place that signs with the faucet key. It takes queued claims in
//! order, gives each the next nonce, records the signed transaction before sending it, follows
//! receipts, and re-sends with a higher fee what stays unmined. With several replicas on one
//! Redis, only the holder of the lease pays, so nonces never collide.

use crate::App;
use crate::node_client::NodeError;
use crate::store::{Claim, ClaimStatus, ReserveRequest, StoreError};
use alloy_consensus::{SignableTransaction, TxEip1559, TxEnvelope};
use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::{Bytes, TxKind};
use alloy_signer::SignerSync;
use std::sync::Arc;
use std::time::Duration;

const LEASE_MS: u64 = 5_000;
const BATCH: usize = 256;
const TIP: u64 = 1_000_000_000;

#[derive(Debug, thiserror::Error)]
enum PayoutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("signing: {0}")]
    Sign(String),
}

pub async fn run(app: Arc<App>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let me = format!("{:032x}", crate::random_u128());
    let mut nonce: Option<u64> = None;
    let mut followed = 0u64;
    loop {
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = round(&app, &me, &mut nonce, &mut followed).await {
            tracing::warn!(error = %e, "payout round failed; retrying");
            app.stats.record_failure();
            // Whatever happened, the nonce is re-read from the node next time.
            nonce = None;
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// One round: pay what is queued first (claimants wait on it), then, once per new block,
/// follow what is pending.
async fn round(app: &App, me: &str, nonce: &mut Option<u64>, followed: &mut u64) -> Result<(), PayoutError> {
    if !app.store.lead(me, LEASE_MS).await? {
        *nonce = None;
        return Ok(());
    }
    let head = app.node.block_number().await?;
    let first_round = nonce.is_none();
    if first_round {
        *nonce = Some(app.node.pending_nonce(app.address).await?);
    }
    pay_queued(app, head, nonce).await?;
    if first_round || head > *followed {
        follow_pending(app, head, first_round).await?;
        *followed = head;
    }
    Ok(())
}

async fn pay_queued(app: &App, head: u64, nonce: &mut Option<u64>) -> Result<(), PayoutError> {
    let claims = app.store.queued(BATCH).await?;
    if claims.is_empty() {
        return Ok(());
    }
    let gas_price = u64::try_from(app.node.gas_price().await?).unwrap_or(u64::MAX);
    let max_fee = gas_price.saturating_mul(2).saturating_add(TIP);
    // Sign the batch with consecutive nonces and record it in one durable write before sending
    // anything: after a crash the same transactions are sent again, never signed anew.
    let first = nonce.unwrap_or_default();
    let mut batch = Vec::with_capacity(claims.len());
    for (i, mut claim) in claims.into_iter().enumerate() {
        let n = first + i as u64;
        let (raw, tx_hash) = sign(app, &claim, n, max_fee, TIP)?;
        claim.status = ClaimStatus::Pending { tx_hash, nonce: n, raw, sent_at_block: head, max_fee, tip: TIP };
        batch.push(claim);
    }
    app.store.save_all(&batch).await?;
    *nonce = Some(first + batch.len() as u64);
    for claim in &batch {
        let _ = app.signed.send(claim.id.clone());
    }
    for mut claim in batch {
        let ClaimStatus::Pending { raw, .. } = &claim.status else { continue };
        match app.node.send_raw(raw).await {
            Ok(_) => app.stats.record_sent(),
            Err(NodeError::Refused(msg)) if msg.contains("already known") => app.stats.record_sent(),
            Err(NodeError::Refused(msg)) if msg.contains("nonce too low") => {
                // Another signer used the key, or the node moved on: queue it again and re-read
                // the nonce next round.
                claim.status = ClaimStatus::Queued;
                app.store.save(&claim).await?;
                *nonce = None;
            }
            Err(NodeError::Refused(msg)) => {
                // Later nonces of this batch would wait behind the unused one: fill it with an
                // empty transfer to the faucet itself, then re-read the nonce.
                if let ClaimStatus::Pending { nonce: used, .. } = claim.status {
                    let filler = Claim { address: app.address, amount: Default::default(), ..claim.clone() };
                    if let Ok((raw, _)) = sign(app, &filler, used, max_fee, TIP) {
                        let _ = app.node.send_raw(&raw).await;
                    }
                }
                fail(app, &mut claim, msg).await?;
                *nonce = None;
            }
            // Kept pending with its nonce: re-sent when the node answers again.
            Err(e @ NodeError::Unreachable(_)) => return Err(e.into()),
        }
    }
    Ok(())
}

fn sign(app: &App, claim: &Claim, nonce: u64, max_fee: u64, tip: u64) -> Result<(Bytes, alloy_primitives::B256), PayoutError> {
    let tx = TxEip1559 {
        chain_id: app.chain_id,
        nonce,
        gas_limit: 21_000,
        max_fee_per_gas: max_fee.into(),
        max_priority_fee_per_gas: tip.min(max_fee).into(),
        to: TxKind::Call(claim.address),
        value: claim.amount,
        ..Default::default()
    };
    let signature = app.signer.sign_hash_sync(&tx.signature_hash()).map_err(|e| PayoutError::Sign(e.to_string()))?;
    let envelope = TxEnvelope::from(tx.into_signed(signature));
    Ok((envelope.encoded_2718().into(), *envelope.tx_hash()))
}

/// A payout that definitely failed gives its reservation back.
async fn fail(app: &App, claim: &mut Claim, error: String) -> Result<(), PayoutError> {
    tracing::warn!(claim = %claim.id, %error, "payout failed");
    app.stats.record_failure();
    claim.status = ClaimStatus::Failed { error };
    app.store.save(claim).await?;
    app.store.release(&app.reservation(claim)).await?;
    Ok(())
}

/// Confirms mined payouts; re-sends (on becoming leader: all; otherwise: those unmined for a
/// while, with the fee raised past the pool's 10 % replacement bump).
async fn follow_pending(app: &App, head: u64, resend_all: bool) -> Result<(), PayoutError> {
    for mut claim in app.store.pending().await? {
        let ClaimStatus::Pending { tx_hash, nonce, raw, sent_at_block, max_fee, tip } = claim.status.clone() else { continue };
        if let Some(receipt) = app.node.receipt(tx_hash).await? {
            if receipt.status.to::<u64>() == 1 {
                claim.status = ClaimStatus::Confirmed { tx_hash, block: receipt.block_number.to() };
                app.store.save(&claim).await?;
                app.stats.record_confirmed();
            } else {
                fail(app, &mut claim, "payout transaction reverted".into()).await?;
            }
            continue;
        }
        if resend_all {
            let _ = app.node.send_raw(&raw).await;
        } else if head.saturating_sub(sent_at_block) >= app.args.resend_after_blocks {
            let (max_fee, tip) = (max_fee.saturating_add(max_fee / 8 + 1), tip.saturating_add(tip / 8 + 1));
            let (raw, new_hash) = sign(app, &claim, nonce, max_fee, tip)?;
            claim.status = ClaimStatus::Pending { tx_hash: new_hash, nonce, raw: raw.clone(), sent_at_block: head, max_fee, tip };
            app.store.save(&claim).await?;
            match app.node.send_raw(&raw).await {
                Ok(_) => tracing::info!(claim = %claim.id, %new_hash, "re-sent payout with a higher fee"),
                Err(NodeError::Refused(msg)) if msg.contains("nonce too low") => {
                    // The previous version was mined after all; its receipt confirms it.
                    claim.status = ClaimStatus::Pending { tx_hash, nonce, raw: Bytes::new(), sent_at_block: head, max_fee, tip };
                    app.store.save(&claim).await?;
                }
                Err(e) => tracing::warn!(claim = %claim.id, error = %e, "re-send failed"),
            }
        }
    }
    Ok(())
}

impl App {
    pub fn reservation<'a>(&self, claim: &'a Claim) -> ReserveRequest<'a> {
        ReserveRequest {
            claim_id: &claim.id,
            address: claim.address,
            ip: &claim.ip,
            cooldown_secs: self.args.cooldown_secs,
            hourly_claims: self.hourly_claims,
        }
    }
}
