//! The sweep of secrets no store record names. Each health-check schedule queues its first
//! page ([`HealthJob::Reclaim`]); each job lists one page of the secrets under
//! `SECRET_PREFIX` (Secrets Manager's listing, up to 100), hands every store secret unchanged
//! for [`HealthConfig::reclaim_after`] (an hour, [`RECLAIM_AFTER`]) to
//! [`crate::lifecycle::reclaim`], which schedules its deletion unless a live record names it
//! (unreadable at once, gone after Secrets Manager's 7-day recovery window, restored by a
//! connect of the shop meanwhile), and queues the next page.
//!
//! So a readable secret outlives its store by about an interval and an hour (Secrets
//! Manager's listing may lag a few minutes behind its changes), whatever stopped half-way: a
//! disconnect between its mark and the deletion (the store had already left the merchant's
//! list, so the DELETE that would finish it may never come), or a first connect between its
//! secret and its record. Nothing here grows with the number of stores: a page at a time; a
//! page a job deleted from or had no time to finish is listed again past the secrets that stay
//! (the listing's cursor into the next page counts the deleted ones).
//!
//! [`HealthConfig::reclaim_after`]: crate::health::check::HealthConfig::reclaim_after

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::deadline::Deadline;
use crate::health::check::{HealthError, HealthJob, HealthPorts};
use crate::lifecycle::{reclaim, Reclaimed};
use crate::secrets::SecretName;

/// How long a secret must have gone unchanged before the sweep looks at its store (the
/// default of [`HealthConfig::reclaim_after`](crate::health::check::HealthConfig::reclaim_after)): a connect or rotation changes its secret
/// moments before its record names it, and never takes longer than an API Gateway request
/// (29 s).
pub const RECLAIM_AFTER: Duration = Duration::from_secs(3600);

/// Time a sweep job keeps for one store (its reads, the mark, the deletion: each AWS call
/// ends within the clients' 5 s operation timeout) and for queueing what follows.
pub const RECLAIM_RESERVE: Duration = Duration::from_secs(20);

/// What one sweep job did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReclaimReport {
    /// Secrets listed on the page.
    pub listed: usize,
    /// Store secrets that a live record names.
    pub in_use: usize,
    /// Secrets whose deletion was scheduled: no live record named them.
    pub deleted: usize,
    /// Left alone: changed within [`HealthConfig::reclaim_after`](crate::health::check::HealthConfig::reclaim_after), not a store's, or being
    /// deleted already.
    pub skipped: usize,
    /// Stores whose storage failed (the next schedule tries again).
    pub failed: usize,
    /// The page was queued again for lack of time.
    pub requeued: bool,
}

/// Sweeps the page of secrets from `cursor` on (see the module), past the first `skip` of
/// it (handled by an earlier job and still listed), then queues what follows: the same page
/// again when this job deleted some of it or ran out of time (the listing's cursor into the
/// next page was made before the deletions, and may count them), else the next page.
pub async fn sweep(
    ports: &HealthPorts,
    cursor: Option<String>,
    skip: usize,
    now: DateTime<Utc>,
    deadline: &Deadline,
) -> Result<ReclaimReport, HealthError> {
    let storage = &ports.storage;
    let prefix = format!("{}/", storage.secret_prefix.trim_end_matches('/'));
    let page = deadline
        .run(storage.secrets.list(&prefix, cursor.as_deref()))
        .await?;
    let settled_before = chrono::Duration::from_std(ports.config.reclaim_after)
        .ok()
        .and_then(|after| now.checked_sub_signed(after));
    let mut report = ReclaimReport {
        listed: page.secrets.len(),
        ..ReclaimReport::default()
    };
    // The secrets at the front of this listing that are handled and stay listed.
    let mut kept = skip.min(page.secrets.len());
    for (handled, secret) in page.secrets.iter().skip(kept).enumerate() {
        // At least one store a job: a page always moves on.
        if handled > 0 && deadline.remaining() < RECLAIM_RESERVE {
            report.requeued = true;
            break;
        }
        let Some((org, shop)) = SecretName::store_of(&storage.secret_prefix, &secret.name) else {
            report.skipped += 1;
            kept += 1;
            continue;
        };
        let settled =
            matches!((secret.changed_at, settled_before), (Some(at), Some(before)) if at <= before);
        if !settled {
            report.skipped += 1;
            kept += 1;
            continue;
        }
        match reclaim(storage, deadline, &org, &shop).await {
            Ok(Reclaimed::Deleted) => {
                report.deleted += 1;
                continue;
            }
            Ok(Reclaimed::InUse) => report.in_use += 1,
            Ok(Reclaimed::Busy | Reclaimed::Gone) => report.skipped += 1,
            Err(error) => {
                tracing::warn!(org_id = %org, shop = %shop, %error, "could not sweep a store's secret; the next schedule tries again");
                report.failed += 1;
            }
        }
        kept += 1;
    }
    let next = if report.requeued || report.deleted > 0 {
        Some(HealthJob::Reclaim { cursor, skip: kept })
    } else {
        page.next.map(|next| HealthJob::Reclaim {
            cursor: Some(next),
            skip: 0,
        })
    };
    if let Some(job) = next {
        deadline.run(ports.queue.send(&job, Duration::ZERO)).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use async_trait::async_trait;
    use secrecy::SecretString;

    use super::*;
    use crate::domain::{OrganizationId, ShopDomain};
    use crate::health::check::{Checker, HealthConfig, Outcome};
    use crate::health::repo::MemoryHealth;
    use crate::lifecycle::Storage;
    use crate::queue::MemoryQueue;
    use crate::secrets::{MemorySecretStore, SecretStore};
    use crate::store::{test_record, Expect, MemoryStoreRepository, Slot, StoreRepository};

    struct NoChecks;

    #[async_trait]
    impl Checker for NoChecks {
        async fn check(&self, _: crate::store::StoreRecord, _: Deadline) -> Outcome {
            unreachable!("the sweep checks no store")
        }
        async fn flush(&self, _: &crate::store::StoreRecord, _: &Deadline) {}
    }

    struct Rig {
        ports: HealthPorts,
        secrets: Arc<MemorySecretStore>,
        queue: Arc<MemoryQueue<HealthJob>>,
    }

    fn rig(page_size: usize) -> Rig {
        let secrets = Arc::new(MemorySecretStore::with_page_size(page_size));
        rig_over(secrets.clone(), secrets)
    }

    /// The rig with `port` in front of the secrets `secrets` holds.
    fn rig_over(secrets: Arc<MemorySecretStore>, port: Arc<dyn SecretStore>) -> Rig {
        let stores: Arc<dyn StoreRepository> = Arc::new(MemoryStoreRepository::default());
        let queue = Arc::new(MemoryQueue::<HealthJob>::default());
        let ports = HealthPorts {
            stores: stores.clone(),
            storage: Storage {
                stores,
                secrets: port,
                secret_prefix: "app/shopify".into(),
            },
            repo: Arc::new(MemoryHealth::default()),
            queue: queue.clone(),
            checker: Arc::new(NoChecks),
            config: HealthConfig::for_interval(Duration::from_secs(3600)),
        };
        Rig {
            ports,
            secrets,
            queue,
        }
    }

    fn org() -> OrganizationId {
        OrganizationId::parse("org").unwrap()
    }

    async fn put_secret(rig: &Rig, handle: &str) -> String {
        let name = rig
            .ports
            .storage
            .secret_name(&org(), &ShopDomain::parse(handle).unwrap());
        rig.secrets
            .put(&name, &SecretString::from("{}"))
            .await
            .unwrap();
        name.to_string()
    }

    /// Connects `handle` (a live record), then leaves its slot as a disconnect does: a
    /// tombstone marked deleting since `deleting_since`, or a plain one. Answers the tombstone.
    async fn disconnected(
        rig: &Rig,
        handle: &str,
        write_id: &str,
        deleting_since: Option<DateTime<Utc>>,
    ) -> crate::store::Tombstone {
        let live = test_record(handle, "", "");
        let stores = &rig.ports.storage.stores;
        stores.put_live(&live, Expect::Absent).await.unwrap();
        let tombstone = crate::store::Tombstone {
            org_id: live.org_id.clone(),
            shop_domain: live.shop_domain.clone(),
            version: live.version + 1,
            write_id: write_id.into(),
            deleting_since,
            removed_at: Utc::now(),
            origin: crate::store::TombstoneOrigin::Disconnect,
        };
        stores
            .put_gone(&tombstone, Expect::Version(live.version))
            .await
            .unwrap();
        tombstone
    }

    /// An hour and a minute from now: every secret put so far has settled.
    fn later() -> DateTime<Utc> {
        Utc::now() + chrono::Duration::minutes(61)
    }

    /// Runs the sweep from its first page until it queues nothing more, each job within
    /// `budget`; at most 50 jobs.
    async fn sweep_all_within(rig: &Rig, now: DateTime<Utc>, budget: Duration) -> ReclaimReport {
        let mut total = ReclaimReport::default();
        let (mut cursor, mut skip) = (None, 0);
        for _ in 0..50 {
            let report = sweep(&rig.ports, cursor, skip, now, &Deadline::after(budget))
                .await
                .unwrap();
            total.listed += report.listed;
            total.in_use += report.in_use;
            total.deleted += report.deleted;
            total.skipped += report.skipped;
            total.failed += report.failed;
            match rig.queue.take() {
                Some((HealthJob::Reclaim { cursor: c, skip: s }, _)) => (cursor, skip) = (c, s),
                None => return total,
                Some((other, _)) => panic!("{other:?}"),
            }
        }
        panic!("the sweep still queues jobs after 50: {total:?}");
    }

    async fn sweep_all(rig: &Rig, now: DateTime<Utc>) -> ReclaimReport {
        sweep_all_within(rig, now, Duration::from_secs(60)).await
    }

    #[tokio::test]
    async fn every_page_is_swept_and_only_secrets_no_live_record_names_go() {
        let rig = rig(2);
        // Connected: a live record names the secret.
        let live = test_record("live-one", "", "");
        rig.ports
            .storage
            .stores
            .put_live(&live, Expect::Absent)
            .await
            .unwrap();
        let live_secret = put_secret(&rig, "live-one").await;
        // No record: a connect that stopped between its secret and its record.
        let mut orphans = Vec::new();
        for handle in ["lost-a", "lost-b", "lost-c", "lost-d"] {
            orphans.push(put_secret(&rig, handle).await);
        }
        // Under the prefix, but not a store's secret.
        rig.secrets
            .put(
                &crate::secrets::SecretName::for_store(
                    "app",
                    &OrganizationId::parse("shopify").unwrap(),
                    &ShopDomain::parse("elsewhere").unwrap(),
                ),
                &SecretString::from("{}"),
            )
            .await
            .unwrap();

        // Just changed: nothing is touched.
        let report = sweep_all(&rig, Utc::now()).await;
        assert_eq!((report.listed, report.deleted, report.skipped), (6, 0, 6));
        assert_eq!(rig.secrets.names().len(), 6);

        let report = sweep_all(&rig, later()).await;
        assert_eq!(
            (report.in_use, report.deleted, report.skipped, report.failed),
            (1, 4, 1, 0),
            "{report:?}"
        );
        let left = rig.secrets.names();
        assert_eq!(
            left,
            vec![
                "app/shopify/elsewhere.myshopify.com".to_owned(),
                live_secret
            ]
        );
        for orphan in &orphans {
            assert!(!left.contains(orphan));
        }
        // A shop never connected keeps an undo's tombstone, its mark cleared.
        let slot = rig
            .ports
            .storage
            .stores
            .slot(&org(), &ShopDomain::parse("lost-a").unwrap())
            .await
            .unwrap();
        match slot {
            Slot::Gone(tombstone) => {
                assert_eq!(tombstone.origin, crate::store::TombstoneOrigin::Undo);
                assert_eq!(tombstone.deleting_since, None);
            }
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_job_out_of_time_queues_its_page_again_after_one_store_and_loses_nothing() {
        let rig = rig(100);
        for handle in ["lost-a", "lost-b", "lost-c"] {
            put_secret(&rig, handle).await;
        }
        // Less than a store's reserve from the start: one store, then the page again.
        let short = Deadline::after(RECLAIM_RESERVE - Duration::from_secs(1));
        let report = sweep(&rig.ports, None, 0, later(), &short).await.unwrap();
        assert_eq!((report.deleted, report.requeued), (1, true));
        assert_eq!(
            rig.queue.take().map(|(job, _)| job),
            Some(HealthJob::Reclaim {
                cursor: None,
                skip: 0
            })
        );
        assert!(rig.queue.take().is_none());
        assert_eq!(rig.secrets.names().len(), 2);
        let report = sweep_all(&rig, later()).await;
        assert_eq!((report.deleted, report.skipped), (2, 0));
        assert!(rig.secrets.names().is_empty());
    }

    #[tokio::test]
    async fn jobs_out_of_time_move_on_past_the_secrets_that_stay() {
        let rig = rig(100);
        for handle in ["live-a", "live-b", "live-c"] {
            rig.ports
                .storage
                .stores
                .put_live(&test_record(handle, "", ""), Expect::Absent)
                .await
                .unwrap();
            put_secret(&rig, handle).await;
        }
        // Every job has time for one store only: each takes the next.
        let report =
            sweep_all_within(&rig, later(), RECLAIM_RESERVE - Duration::from_secs(1)).await;
        assert_eq!((report.in_use, report.deleted), (3, 0), "{report:?}");
        assert_eq!(rig.secrets.names().len(), 3);
    }

    #[tokio::test]
    async fn a_deletion_under_way_is_left_to_its_deleter() {
        let rig = rig(100);
        let secret = put_secret(&rig, "leaving").await;
        // A disconnect marked the slot a moment ago and is deleting the secret now.
        let mark = disconnected(&rig, "leaving", "the-disconnect", Some(Utc::now())).await;
        let stores = &rig.ports.storage.stores;

        let report = sweep_all(&rig, later()).await;

        assert_eq!((report.skipped, report.deleted), (1, 0));
        assert_eq!(rig.secrets.names(), vec![secret]);
        assert_eq!(
            stores.slot(&mark.org_id, &mark.shop_domain).await.unwrap(),
            Slot::Gone(mark.clone()),
            "the disconnect's mark, untouched: its deleter clears it"
        );
    }

    /// Secrets Manager's listing lagging behind its changes: a secret whose deletion was
    /// scheduled is still listed (as it was), forever; pages of two, by offset.
    struct LaggingListing {
        inner: Arc<MemorySecretStore>,
        ghosts: std::sync::Mutex<Vec<crate::secrets::ListedSecret>>,
        deletions: std::sync::atomic::AtomicUsize,
    }

    #[async_trait]
    impl SecretStore for LaggingListing {
        async fn put(
            &self,
            name: &crate::secrets::SecretName,
            value: &SecretString,
        ) -> Result<crate::secrets::PutOutcome, crate::secrets::SecretsError> {
            self.inner.put(name, value).await
        }
        async fn current_version(
            &self,
            name: &crate::secrets::SecretName,
        ) -> Result<Option<String>, crate::secrets::SecretsError> {
            self.inner.current_version(name).await
        }
        async fn get_version(
            &self,
            name: &crate::secrets::SecretName,
            version_id: &str,
        ) -> Result<Option<SecretString>, crate::secrets::SecretsError> {
            self.inner.get_version(name, version_id).await
        }
        async fn make_current(
            &self,
            name: &crate::secrets::SecretName,
            version_id: &str,
        ) -> Result<(), crate::secrets::SecretsError> {
            self.inner.make_current(name, version_id).await
        }
        async fn schedule_deletion(
            &self,
            name: &crate::secrets::SecretName,
        ) -> Result<(), crate::secrets::SecretsError> {
            self.deletions
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let listed = self.inner.list("", None).await?;
            if let Some(entry) = listed.secrets.into_iter().find(|e| e.name == name.as_str()) {
                self.ghosts.lock().unwrap().push(entry);
            }
            self.inner.schedule_deletion(name).await
        }
        async fn delete(
            &self,
            name: &crate::secrets::SecretName,
        ) -> Result<(), crate::secrets::SecretsError> {
            self.inner.delete(name).await
        }
        async fn list(
            &self,
            prefix: &str,
            cursor: Option<&str>,
        ) -> Result<crate::secrets::SecretPage, crate::secrets::SecretsError> {
            let mut all = self.inner.list(prefix, None).await?.secrets;
            all.extend(self.ghosts.lock().unwrap().iter().cloned());
            all.sort_by(|a, b| a.name.cmp(&b.name));
            let offset: usize = cursor.map_or(0, |c| c.parse().unwrap());
            let end = (offset + 2).min(all.len());
            Ok(crate::secrets::SecretPage {
                secrets: all.get(offset..end).unwrap_or_default().to_vec(),
                next: (end < all.len()).then(|| end.to_string()),
            })
        }
    }

    #[tokio::test]
    async fn a_listing_that_still_shows_deleted_secrets_ends_and_deletes_each_once() {
        let memory = Arc::new(MemorySecretStore::new());
        let lagging = Arc::new(LaggingListing {
            inner: memory.clone(),
            ghosts: Default::default(),
            deletions: Default::default(),
        });
        let rig = rig_over(memory, lagging.clone());
        for handle in ["live-a", "live-b"] {
            rig.ports
                .storage
                .stores
                .put_live(&test_record(handle, "", ""), Expect::Absent)
                .await
                .unwrap();
            put_secret(&rig, handle).await;
        }
        for handle in ["lost-a", "lost-b", "lost-c"] {
            put_secret(&rig, handle).await;
        }

        let report = sweep_all(&rig, later()).await;

        assert_eq!((report.in_use, report.deleted), (2, 3), "{report:?}");
        assert_eq!(
            lagging.deletions.load(std::sync::atomic::Ordering::SeqCst),
            3,
            "each deletion scheduled once"
        );
        assert_eq!(rig.secrets.names().len(), 2);
    }

    #[tokio::test]
    async fn a_finished_disconnect_gets_its_tombstone_back_without_a_mark() {
        let rig = rig(100);
        // Disconnected for good; then a reconnect put its secret and stopped before its record.
        let done = disconnected(&rig, "gone", "disconnected", None).await;
        let stores = &rig.ports.storage.stores;
        put_secret(&rig, "gone").await;

        let report = sweep_all(&rig, later()).await;

        assert_eq!(report.deleted, 1);
        match stores.slot(&done.org_id, &done.shop_domain).await.unwrap() {
            Slot::Gone(tombstone) => {
                assert_eq!(tombstone.deleting_since, None, "a DELETE still answers 404");
                assert_eq!(tombstone.origin, crate::store::TombstoneOrigin::Disconnect);
            }
            other => panic!("{other:?}"),
        }
    }
}
