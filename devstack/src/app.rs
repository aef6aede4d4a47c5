//! State shared by the Vantage stand-in and the admin API.

use std::sync::{Arc, PoisonError, RwLock};

use serde_json::{Map, Value};

use crate::aws::AwsSide;
use crate::aws::verifier::CachedVerifier;
use crate::counts::RequestCounts;
use crate::faults::Faults;
use crate::vantage::auth::Tokens;
use crate::vantage::propagation::Propagation;
use crate::vantage::rate_limit::RateLimiter;
use crate::vantage::store::{Store, StoreError};

pub type App = Arc<Devstack>;

pub struct Devstack {
    /// `http://127.0.0.1:PORT` as bound; links fall back to it when a request has no Host.
    pub vantage_url: String,
    /// Policy name -> policy document as a JSON string, as published now (the admin API can
    /// publish new ones, as Vantage does when it changes its permission set).
    pub policies: RwLock<Map<String, Value>>,
    pub store: Store,
    pub tokens: Tokens,
    pub rate: RateLimiter,
    pub faults: Faults,
    pub counts: RequestCounts,
    pub propagation: Propagation,
    pub verifier: Arc<CachedVerifier>,
    /// The AWS front door's state: upstream, CUR reports and Data Exports.
    pub aws: AwsSide,
}

impl Devstack {
    /// Back to a fresh world for the next test: no integrations, CUR reports, Data Exports,
    /// StackSets, counts, faults, rate-limit windows or remembered roles, the embedded policy documents and the
    /// command-line propagation delay. The account identity and the tokens stay, so clients need no reconfiguration. The
    /// upstream emulator's state is not touched here (see the admin API).
    pub fn reset(&self) -> Result<(), StoreError> {
        self.faults.clear();
        self.counts.clear();
        self.rate.clear();
        self.propagation.reset();
        if let Ok(published) = crate::vantage::account::policies() {
            *self.policies.write().unwrap_or_else(PoisonError::into_inner) = published;
        }
        self.aws.reset().map_err(|e| StoreError::Persist(e.0))?;
        self.store.clear()
    }
}
