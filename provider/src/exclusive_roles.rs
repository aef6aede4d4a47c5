//! Roles planned in this provider process that remove the inline policies
//! they do not name (`inline_policies` set on `vantage_aws_cross_account_role`).
//!
//! Terraform plans a role before the `vantage_aws_role_policy` resources that
//! reference it, in the same provider process. A role policy whose name its
//! exclusive role does not list would be deleted by the role's next apply and
//! recreated by the apply after: this record lets the role policy refuse that
//! at plan time instead.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct ExclusiveRoles {
    managed: Mutex<HashMap<String, BTreeSet<String>>>,
}

impl ExclusiveRoles {
    /// Records how the role `role` was planned: `Some(names)` when it keeps
    /// only `names`, `None` when it leaves unnamed inline policies alone.
    pub fn record(&self, role: &str, managed: Option<BTreeSet<String>>) {
        if let Ok(mut map) = self.managed.lock() {
            match managed {
                Some(names) => map.insert(role.to_string(), names),
                None => map.remove(role),
            };
        }
    }

    /// The names `role` keeps, when it is exclusive and does not name `policy`.
    pub fn would_remove(&self, role: &str, policy: &str) -> Option<BTreeSet<String>> {
        let map = self.managed.lock().ok()?;
        map.get(role).filter(|names| !names.contains(policy)).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_exclusive_role_that_does_not_name_the_policy_removes_it() {
        let roles = ExclusiveRoles::default();
        assert_eq!(roles.would_remove("r", "root"), None, "unknown role");
        roles.record("r", Some(BTreeSet::from(["root".to_string()])));
        assert_eq!(roles.would_remove("r", "root"), None);
        assert_eq!(
            roles.would_remove("r", "cloudwatch"),
            Some(BTreeSet::from(["root".to_string()]))
        );
        roles.record("r", None);
        assert_eq!(roles.would_remove("r", "cloudwatch"), None, "no longer exclusive");
    }
}
