//! The payout worker: takes queued claims in order and hands them to the stack's sender under
//! their claim ids, so a claim is signed once whatever crashes, then follows the sender's records
//! into the claims' statuses. With several replicas on one Redis, only the holder of the
//! sender's lease pays.

use crate::App;
use crate::store::{Claim, ClaimStatus, ReserveRequest, StoreError};
use ande_sender::{Record, SendError, State, TxRequest};
use std::sync::Arc;
use std::time::Duration;

const BATCH: usize = 256;
const TRANSFER_GAS: u64 = 21_000;

#[derive(Debug, thiserror::Error)]
enum PayoutError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Send(#[from] SendError),
}

/// How often the store drops what retention no longer needs.
const SWEEP_EVERY: Duration = Duration::from_secs(3600);

pub async fn run(app: Arc<App>, mut shutdown: tokio::sync::watch::Receiver<bool>) {
    let mut settled_head = None;
    let mut swept_at: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
            _ = shutdown.changed() => return,
        }
        if let Err(e) = round(&app, &mut settled_head).await {
            tracing::warn!(error = %e, "payout round failed; retrying");
            app.stats.record_failure();
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        if swept_at.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
            swept_at = Some(std::time::Instant::now());
            match app.store.sweep(app.args.claim_retention.as_secs()).await {
                Ok(swept) if swept != Default::default() => tracing::info!(cooldowns = swept.cooldowns, claims = swept.claims, "dropped records past retention"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "sweeping records past retention failed; trying again in an hour"),
            }
        }
    }
}

/// One round: pay what is queued first (claimants wait on it), then, once per new block,
/// settle what is pending.
async fn round(app: &App, settled_head: &mut Option<u64>) -> Result<(), PayoutError> {
    if !app.sender.lead().await? {
        *settled_head = None;
        return Ok(());
    }
    pay_queued(app).await?;
    let head = app.node.block_number().await.map_err(SendError::from)?;
    if *settled_head != Some(head) {
        app.sender.follow().await?;
        settle(app).await?;
        *settled_head = Some(head);
    }
    Ok(())
}

async fn pay_queued(app: &App) -> Result<(), PayoutError> {
    let claims = app.store.queued(BATCH).await?;
    if claims.is_empty() {
        return Ok(());
    }
    let batch = claims
        .iter()
        .map(|c| (c.id.clone(), TxRequest { to: Some(c.address), value: c.amount, input: Default::default(), gas_limit: TRANSFER_GAS, conditions: None }))
        .collect();
    let records = app.sender.submit(batch).await?;
    let mut updated = Vec::with_capacity(claims.len());
    for (mut claim, record) in claims.into_iter().zip(records) {
        apply(app, &mut claim, &record);
        updated.push(claim);
    }
    app.store.save_all(&updated).await?;
    for claim in &updated {
        match &claim.status {
            ClaimStatus::Pending { .. } => app.stats.record_sent(),
            ClaimStatus::Failed { .. } => app.store.release(&app.reservation(claim)).await?,
            _ => {}
        }
        let _ = app.signed.send(claim.id.clone());
    }
    Ok(())
}

/// Brings pending claims in step with their transactions: mined, refused, or re-sent under a
/// new hash.
async fn settle(app: &App) -> Result<(), PayoutError> {
    for mut claim in app.store.pending().await? {
        let Some(record) = app.sender.get(&claim.id).await? else { continue };
        let before = claim.status.clone();
        apply(app, &mut claim, &record);
        if claim.status == before {
            continue;
        }
        app.store.save(&claim).await?;
        if let ClaimStatus::Failed { .. } = claim.status {
            app.store.release(&app.reservation(&claim)).await?;
        }
    }
    Ok(())
}

/// The claim's status as its transaction's record says.
fn apply(app: &App, claim: &mut Claim, record: &Record) {
    claim.status = match &record.state {
        State::Pending => ClaimStatus::Pending { tx_hash: record.signed.hash },
        State::Mined { hash, block, success: true } => {
            app.stats.record_confirmed();
            ClaimStatus::Confirmed { tx_hash: *hash, block: *block }
        }
        State::Mined { success: false, .. } => failed(app, claim, "payout transaction reverted".into()),
        State::Refused { reason } => failed(app, claim, reason.clone()),
        State::Dropped => failed(app, claim, "payout transaction dropped".into()),
    };
}

fn failed(app: &App, claim: &Claim, error: String) -> ClaimStatus {
    tracing::warn!(claim = %claim.id, %error, "payout failed");
    app.stats.record_failure();
    ClaimStatus::Failed { error }
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
