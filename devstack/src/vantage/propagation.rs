//! IAM eventual consistency: a brand-new role cannot be assumed for a while. The stand-in makes
//! a role "not assumable yet" until it has existed for the configured delay, counting from its
//! IAM creation date when the verifier knows it, else from the first registration attempt.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use crate::aws::verifier::RoleFacts;

pub struct Propagation {
    default_delay: Duration,
    delay: Mutex<Duration>,
    first_seen: Mutex<HashMap<String, SystemTime>>,
}

impl Propagation {
    pub fn new(delay: Duration) -> Self {
        Self {
            default_delay: delay,
            delay: Mutex::new(delay),
            first_seen: Mutex::default(),
        }
    }

    pub fn delay(&self) -> Duration {
        *self.delay.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn set_delay(&self, delay: Duration) {
        *self.delay.lock().unwrap_or_else(PoisonError::into_inner) = delay;
    }

    /// Remembers the first time a registration named `role_arn`.
    pub fn note_attempt(&self, role_arn: &str, now: SystemTime) {
        self.first_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(role_arn.to_owned())
            .or_insert(now);
    }

    /// Err with Vantage's message while the role is too young to assume.
    pub fn check(&self, role_arn: &str, facts: &RoleFacts, now: SystemTime) -> Result<(), String> {
        let delay = self.delay();
        if delay.is_zero() {
            return Ok(());
        }
        let since = facts.created_at.or_else(|| {
            self.first_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get(role_arn)
                .copied()
        });
        let age = since
            .and_then(|since| now.duration_since(since).ok())
            .unwrap_or(Duration::ZERO);
        if age >= delay {
            Ok(())
        } else {
            Err(format!(
                "Vantage cannot assume {role_arn}: the role is not assumable yet (IAM propagation); \
                 retry in a few seconds"
            ))
        }
    }

    /// Forgets every role and restores the command-line delay.
    pub fn reset(&self) {
        self.set_delay(self.default_delay);
        self.first_seen.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/r";

    #[test]
    fn young_roles_are_refused_until_the_delay_passes() {
        let p = Propagation::new(Duration::from_secs(10));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        p.note_attempt(ROLE, t0);
        let facts = RoleFacts::default();
        let err = p
            .check(ROLE, &facts, t0 + Duration::from_secs(9))
            .expect_err("too young");
        assert!(err.contains("not assumable yet"), "{err}");
        // A second attempt does not restart the clock.
        p.note_attempt(ROLE, t0 + Duration::from_secs(9));
        assert!(p.check(ROLE, &facts, t0 + Duration::from_secs(10)).is_ok());
    }

    #[test]
    fn iam_creation_date_wins_over_first_sighting() {
        let p = Propagation::new(Duration::from_secs(10));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1000);
        p.note_attempt(ROLE, t0);
        let old = RoleFacts {
            created_at: Some(t0 - Duration::from_secs(60)),
        };
        assert!(p.check(ROLE, &old, t0).is_ok());
    }

    #[test]
    fn zero_delay_and_reset() {
        let p = Propagation::new(Duration::ZERO);
        assert!(p.check(ROLE, &RoleFacts::default(), SystemTime::now()).is_ok());
        p.set_delay(Duration::from_secs(5));
        assert_eq!(p.delay(), Duration::from_secs(5));
        p.reset();
        assert_eq!(p.delay(), Duration::ZERO);
    }
}
