//! The sidebar's share of a store's rate-limit bucket. The points its requests in flight
//! requested stay within what the bucket holds — as Shopify last reported it, refilled at its
//! restore rate since — less [`RESERVE`], which is left for the AI's order lookups: a sidebar
//! never makes a shopper's question wait for the bucket.

use std::time::Duration;

use crate::shopify::BucketReading;

/// Points of a store's bucket the sidebar leaves to the AI's order lookups: six lookups of
/// 116 requested points (696) are admitted at once whatever the sidebar reads, and so are
/// their six timelines right after, each requesting 104 (624) beside what the six lookups
/// spent: 18 points each for an order with a customer and two line items (108), 732 in all.
/// It is also the most a Standard-plan bucket (1,000) can keep while two of the sidebar's
/// batches (134 each) run at once. A bucket too small to keep it beside a batch (no Shopify
/// plan's is) keeps what a batch leaves of it.
pub const RESERVE: f64 = 732.0;

/// The longest wait for the bucket to refill that is worth planning (the sidebar's budget is
/// far shorter).
const MAX_REFILL: Duration = Duration::from_secs(60);

/// When a request of some points may be sent.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Room {
    /// Now.
    Now,
    /// Once the bucket has refilled this long, if nobody spends meanwhile (or sooner, when a
    /// request in flight finishes).
    After(Duration),
    /// Only once a request in flight finishes: no usable reading of the bucket, or it does
    /// not refill. With none in flight, never.
    WhenOneFinishes,
}

/// Whether a request of `points` fits beside requests in flight that requested `held`,
/// given the last `reading` of the store's bucket. Without a reading Shopify would give (none
/// yet, or absurd figures) one request is sent at a time.
pub(super) fn room(reading: Option<&BucketReading>, held: f64, points: f64) -> Room {
    let Some(reading) = reading.filter(|r| plausible(r)) else {
        return if held > 0.0 {
            Room::WhenOneFinishes
        } else {
            Room::Now
        };
    };
    let status = &reading.status;
    let reserve = RESERVE.min((status.maximum_available - points).max(0.0));
    let share = reading.available_now() - reserve - held;
    if share >= points {
        return Room::Now;
    }
    // A full bucket holds the reserve and this request only when what is in flight is done.
    let fits_when_full = status.maximum_available - reserve - held >= points;
    if status.restore_rate <= 0.0 || !fits_when_full {
        return Room::WhenOneFinishes;
    }
    let seconds = (points - share) / status.restore_rate;
    Room::After(
        Duration::try_from_secs_f64(seconds.clamp(0.0, MAX_REFILL.as_secs_f64()))
            .unwrap_or(MAX_REFILL),
    )
}

/// A reading a bucket could give.
fn plausible(reading: &BucketReading) -> bool {
    let status = &reading.status;
    status.maximum_available.is_finite()
        && status.maximum_available > 0.0
        && status.maximum_available <= 1e7
        && status.restore_rate.is_finite()
        && status.restore_rate >= 0.0
        && status.currently_available.is_finite()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shopify::ThrottleStatus;
    use tokio::time::Instant;

    fn reading(maximum: f64, available: f64, restore: f64) -> BucketReading {
        BucketReading {
            status: ThrottleStatus {
                maximum_available: maximum,
                currently_available: available,
                restore_rate: restore,
            },
            at: Instant::now(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn requests_go_at_once_while_the_reserve_stays_in_the_bucket() {
        let full = reading(2000.0, 1900.0, 100.0);
        // 1,900 − 732 = 1,168: eight batches of 134 (1,072) fit, a ninth does not: 38 points
        // short, at 100/s.
        assert_eq!(room(Some(&full), 7.0 * 134.0, 134.0), Room::Now);
        assert_eq!(
            room(Some(&full), 8.0 * 134.0, 134.0),
            Room::After(Duration::from_millis(380))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_does_not_fit_waits_for_the_missing_points_to_refill() {
        // 832 − 732 = 100 for the sidebar; 134 wanted: 34 points at 50/s.
        let low = reading(1000.0, 832.0, 50.0);
        assert_eq!(
            room(Some(&low), 0.0, 134.0),
            Room::After(Duration::from_millis(680))
        );
        tokio::time::advance(Duration::from_millis(680)).await;
        assert_eq!(room(Some(&low), 0.0, 134.0), Room::Now);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_that_cannot_hold_the_reserve_beside_what_is_in_flight_waits_for_it() {
        // A full 1,000-point bucket keeps 732 and holds 268 in flight: no third batch until
        // one of the two is done.
        let bucket = reading(1000.0, 1000.0, 50.0);
        assert_eq!(room(Some(&bucket), 268.0, 134.0), Room::WhenOneFinishes);
        let still = reading(1000.0, 0.0, 0.0);
        assert_eq!(room(Some(&still), 134.0, 134.0), Room::WhenOneFinishes);
        assert_eq!(room(Some(&still), 0.0, 134.0), Room::WhenOneFinishes);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bucket_smaller_than_the_reserve_still_takes_one_request_when_full() {
        let small = reading(500.0, 500.0, 10.0);
        assert_eq!(room(Some(&small), 0.0, 134.0), Room::Now);
        assert_eq!(room(Some(&small), 134.0, 134.0), Room::WhenOneFinishes);
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_usable_reading_one_request_goes_at_a_time() {
        assert_eq!(room(None, 0.0, 134.0), Room::Now);
        assert_eq!(room(None, 134.0, 134.0), Room::WhenOneFinishes);
        for absurd in [
            reading(f64::NAN, 0.0, 50.0),
            reading(f64::INFINITY, 1e308, 50.0),
            reading(1000.0, f64::NAN, 50.0),
            reading(1000.0, 1000.0, f64::NAN),
            reading(1000.0, 1000.0, -5.0),
            reading(-1000.0, 0.0, 50.0),
            reading(1e300, 1e300, 1e300),
        ] {
            assert_eq!(room(Some(&absurd), 0.0, 134.0), Room::Now, "{absurd:?}");
            assert_eq!(
                room(Some(&absurd), 134.0, 134.0),
                Room::WhenOneFinishes,
                "{absurd:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_long_refill_is_capped() {
        let empty = reading(1e7, 0.0, 1e-9);
        assert_eq!(room(Some(&empty), 0.0, 134.0), Room::After(MAX_REFILL));
    }
}
