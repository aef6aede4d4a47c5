//! The integration status state machine (README.md, "Status"):
//!
//! ```text
//! registered / PUT changes role or bucket ──> pending
//! pending  ──role verified, no bucket──────> connected
//! pending  ──CUR/Data Export targets bucket─> importing
//! pending | importing ──CUR file delivered──> connected
//! any      ──role no longer assumable───────> error
//! error    ──role verified again────────────> connected (no bucket, or CUR seen before) | pending
//! admin hook ──────────────────────────────> any status, pinned until the next PUT
//! ```
//!
//! Pinned statuses ignore the verification that runs on every read, so a test can hold an
//! integration in `error` or `importing`; events from the AWS side still apply.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pending,
    Importing,
    Imported,
    Connected,
    Error,
    Disconnected,
}

impl Status {
    pub const ALL: [Status; 6] = [
        Status::Pending,
        Status::Importing,
        Status::Imported,
        Status::Connected,
        Status::Error,
        Status::Disconnected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Importing => "importing",
            Status::Imported => "imported",
            Status::Connected => "connected",
            Status::Error => "error",
            Status::Disconnected => "disconnected",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|status| status.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The role or bucket changed (v1 PUT): verification and import start over.
    Reconfigured,
    /// A read verified that Vantage can assume the role.
    RoleVerified { has_bucket: bool },
    /// A read found the role no longer assumable.
    RoleUnassumable,
    /// A CUR report or Data Export now delivers into the integration's bucket.
    CurConfigured,
    /// A CUR file arrived in the integration's bucket.
    CurDelivered,
    /// The admin hook set a status.
    Override(Status),
}

/// Status plus the facts the transitions depend on; persisted with the integration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tracker {
    pub status: Status,
    /// When cost data was last imported (Unix seconds): set on becoming connected and on every
    /// CUR delivery; `None` until then.
    pub last_updated: Option<u64>,
    pub cur_delivered: bool,
    pub pinned: bool,
}

impl Default for Tracker {
    fn default() -> Self {
        Self {
            status: Status::Pending,
            last_updated: None,
            cur_delivered: false,
            pinned: false,
        }
    }
}

impl Tracker {
    /// Applies `event` at `now` (Unix seconds); true when anything changed.
    pub fn apply(&mut self, event: Event, now: u64) -> bool {
        let before = self.clone();
        match event {
            Event::Reconfigured => {
                self.status = Status::Pending;
                self.cur_delivered = false;
                self.pinned = false;
            }
            Event::RoleVerified { .. } | Event::RoleUnassumable if self.pinned => {}
            Event::RoleVerified { has_bucket } => {
                if matches!(self.status, Status::Pending | Status::Error) {
                    if !has_bucket || self.cur_delivered {
                        self.become_connected(now);
                    } else {
                        self.status = Status::Pending;
                    }
                }
            }
            Event::RoleUnassumable => self.status = Status::Error,
            Event::CurConfigured => {
                if self.status == Status::Pending {
                    self.status = Status::Importing;
                }
            }
            Event::CurDelivered => {
                self.cur_delivered = true;
                self.last_updated = Some(now);
                if matches!(self.status, Status::Pending | Status::Importing) {
                    self.status = Status::Connected;
                }
            }
            Event::Override(status) => {
                self.pinned = true;
                if status == Status::Connected && self.status != Status::Connected {
                    self.last_updated = Some(now);
                }
                self.status = status;
            }
        }
        *self != before
    }

    fn become_connected(&mut self, now: u64) {
        self.status = Status::Connected;
        self.last_updated = Some(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_bucket_the_first_verified_read_connects() {
        let mut t = Tracker::default();
        assert_eq!(t.status, Status::Pending);
        assert!(t.apply(Event::RoleVerified { has_bucket: false }, 10));
        assert_eq!(t.status, Status::Connected);
        assert_eq!(t.last_updated, Some(10));
        // Later reads change nothing.
        assert!(!t.apply(Event::RoleVerified { has_bucket: false }, 20));
        assert_eq!(t.last_updated, Some(10));
    }

    #[test]
    fn with_bucket_it_waits_for_cur_then_connects() {
        let mut t = Tracker::default();
        assert!(!t.apply(Event::RoleVerified { has_bucket: true }, 10));
        assert_eq!(t.status, Status::Pending);
        t.apply(Event::CurConfigured, 11);
        assert_eq!(t.status, Status::Importing);
        t.apply(Event::RoleVerified { has_bucket: true }, 12);
        assert_eq!(t.status, Status::Importing);
        t.apply(Event::CurDelivered, 13);
        assert_eq!(t.status, Status::Connected);
        assert_eq!(t.last_updated, Some(13));
    }

    #[test]
    fn losing_the_role_errors_and_recovering_restores() {
        let mut t = Tracker::default();
        t.apply(Event::CurDelivered, 5);
        t.apply(Event::RoleUnassumable, 6);
        assert_eq!(t.status, Status::Error);
        t.apply(Event::RoleVerified { has_bucket: true }, 7);
        assert_eq!(t.status, Status::Connected, "CUR was seen before");

        let mut fresh = Tracker::default();
        fresh.apply(Event::RoleUnassumable, 1);
        fresh.apply(Event::RoleVerified { has_bucket: true }, 2);
        assert_eq!(fresh.status, Status::Pending);
    }

    #[test]
    fn override_pins_until_reconfigured() {
        let mut t = Tracker::default();
        t.apply(Event::Override(Status::Error), 1);
        assert!(!t.apply(Event::RoleVerified { has_bucket: false }, 2));
        assert_eq!(t.status, Status::Error);
        t.apply(Event::Reconfigured, 3);
        assert!(!t.pinned);
        assert_eq!(t.status, Status::Pending);
        t.apply(Event::RoleVerified { has_bucket: false }, 4);
        assert_eq!(t.status, Status::Connected);
    }

    #[test]
    fn reconfiguring_forgets_cur() {
        let mut t = Tracker::default();
        t.apply(Event::CurDelivered, 1);
        t.apply(Event::Reconfigured, 2);
        t.apply(Event::RoleVerified { has_bucket: true }, 3);
        assert_eq!(t.status, Status::Pending);
    }

    #[test]
    fn statuses_round_trip_through_names() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.as_str()), Some(status));
            assert_eq!(
                serde_json::to_value(status).expect("serialize"),
                serde_json::Value::String(status.as_str().to_owned())
            );
        }
        assert_eq!(Status::parse("Connected"), None);
    }
}
