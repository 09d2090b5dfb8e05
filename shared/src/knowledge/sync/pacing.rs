//! Pacing: before each query a run waits until the store's bucket, as Shopify last reported
//! it, would keep half its capacity after the query, so live lookups always find room.

use std::time::Duration;

use super::SyncPorts;
use crate::deadline::Deadline;
use crate::knowledge::KnowledgeError;
use crate::shopify::content::{requested_cost, ContentQuery};
use crate::store::StoreRecord;

/// The longest a run waits for the bucket before a query; past it the run steps aside.
const MAX_PACE: Duration = Duration::from_secs(60);

/// Waits until the store's bucket, as Shopify last reported it, keeps half its capacity after
/// a query of `kind`; `Err(Pause)` when that wait does not fit before the deadline.
pub(super) async fn pace(
    ports: &SyncPorts,
    record: &StoreRecord,
    kind: ContentQuery,
    deadline: &Deadline,
) -> Result<(), KnowledgeError> {
    let shopify = ports.shopify();
    let Some(reading) = shopify.bucket(&record.shop_domain) else {
        return Ok(());
    };
    let wait = pace_wait(
        &reading.status,
        reading.available_now(),
        requested_cost(kind),
    );
    if wait.is_zero() {
        return Ok(());
    }
    if deadline.allows(wait, ports.config.step_reserve) {
        tokio::time::sleep(wait).await;
        Ok(())
    } else {
        Err(KnowledgeError::Pause(wait))
    }
}

/// How long until a bucket reading like `status`, with `available` points now, keeps half
/// its capacity after a query of `cost`. Whatever Shopify reports (negative, infinite or
/// not-a-number figures included) the answer is between zero and [`MAX_PACE`].
fn pace_wait(status: &crate::shopify::ThrottleStatus, available: f64, cost: f64) -> Duration {
    let capacity = status.maximum_available;
    // A reading no bucket could give is ignored (Shopify's own throttling still paces the
    // run), so it can neither panic nor hold the run back query after query.
    let plausible = capacity.is_finite()
        && capacity > 0.0
        && capacity <= 1e7
        && status.restore_rate.is_finite()
        && status.restore_rate > 0.0
        && available.is_finite();
    if !plausible {
        return Duration::ZERO;
    }
    let needed = (capacity / 2.0 + cost).min(capacity);
    if available >= needed {
        return Duration::ZERO;
    }
    let seconds = (needed - available) / status.restore_rate.max(1.0);
    if seconds.is_nan() {
        return Duration::from_secs(1);
    }
    Duration::try_from_secs_f64(seconds.clamp(0.0, MAX_PACE.as_secs_f64())).unwrap_or(MAX_PACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket(maximum: f64, available: f64, restore: f64) -> crate::shopify::ThrottleStatus {
        crate::shopify::ThrottleStatus {
            maximum_available: maximum,
            currently_available: available,
            restore_rate: restore,
        }
    }

    #[test]
    fn a_run_waits_until_half_the_bucket_is_left_after_its_query() {
        assert_eq!(
            pace_wait(&bucket(1000.0, 900.0, 50.0), 900.0, 100.0),
            Duration::ZERO
        );
        // 600 needed, 100 there, 50 a second: 10 s.
        assert_eq!(
            pace_wait(&bucket(1000.0, 100.0, 50.0), 100.0, 100.0),
            Duration::from_secs(10)
        );
    }

    #[test]
    fn an_absurd_throttle_status_never_panics_and_waits_at_most_a_minute() {
        let absurd = [
            bucket(f64::NAN, 0.0, 50.0),
            bucket(f64::INFINITY, 0.0, 50.0),
            bucket(1e308, -1e308, 1e-300),
            bucket(1000.0, 0.0, f64::NAN),
            bucket(1000.0, 0.0, -5.0),
            bucket(-1000.0, -1e308, 0.0),
            bucket(f64::MAX, f64::MIN, f64::MIN_POSITIVE),
        ];
        for status in absurd {
            for available in [f64::NAN, f64::NEG_INFINITY, -1e308, 0.0, 1e308] {
                let wait = pace_wait(&status, available, 3.0);
                assert!(wait <= MAX_PACE, "{status:?} {available}: {wait:?}");
            }
        }
    }

    #[test]
    fn a_reading_no_bucket_could_give_holds_nothing_back() {
        for status in [
            bucket(1e300, 0.0, 50.0),
            bucket(1000.0, 0.0, 0.0),
            bucket(-5.0, 0.0, 50.0),
        ] {
            assert_eq!(pace_wait(&status, 0.0, 3.0), Duration::ZERO, "{status:?}");
        }
        assert_eq!(
            pace_wait(&bucket(1000.0, 0.0, 50.0), f64::NAN, 3.0),
            Duration::ZERO
        );
    }
}
