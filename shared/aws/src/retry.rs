//! The one backoff the retry loops share: the store's own retries (`dynamo::errors`), the
//! change-event publisher's `PutEvents` retries (`events::with_retries`) and the Graph
//! client's (`entra-guest-cleanup`, which waits `Retry-After` instead when Graph names one).
//! Each loop keeps its own number of attempts; this only says how long to wait.

use std::time::Duration;

/// Exponential backoff with jitter: retry `n` (0 for the first retry) waits
/// `first * 2^n`, at most `cap`, scaled by a uniformly random factor in `spread`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub first: Duration,
    pub cap: Duration,
    /// The jitter factor's range, `(low, high)` with `low <= high`.
    pub spread: (f64, f64),
}

impl Backoff {
    /// The wait before retry `n`.
    pub fn delay(&self, n: u32) -> Duration {
        let full = self
            .first
            .saturating_mul(2u32.saturating_pow(n))
            .min(self.cap);
        let (low, high) = self.spread;
        full.mul_f64(low + (high - low) * fastrand::f64())
    }

    /// Sleeps [`Backoff::delay`]`(n)`.
    pub async fn wait(&self, n: u32) {
        tokio::time::sleep(self.delay(n)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_delay_doubles_within_its_spread_and_stops_at_the_cap() {
        let b = Backoff {
            first: Duration::from_millis(10),
            cap: Duration::from_millis(640),
            spread: (0.5, 1.5),
        };
        for n in 0..12 {
            let full = Duration::from_millis(10 << n.min(6));
            let d = b.delay(n);
            assert!(d >= full / 2 && d <= full * 3 / 2, "{n}: {d:?}");
        }
        let uncapped = Backoff {
            cap: Duration::MAX,
            ..b
        };
        assert!(uncapped.delay(200) >= Duration::from_secs(1));
    }
}
