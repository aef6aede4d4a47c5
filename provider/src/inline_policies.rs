//! How `vantage_aws_cross_account_role` and `vantage_aws_role_policy` share
//! a role's inline policies.
//!
//! The role only removes inline policies when its configuration names the
//! managed set in `inline_policies` (exclusive). Without that list it cannot
//! tell the policies this configuration attaches from any other, so it
//! removes none and warns about the ones not named after a Vantage preset.
//!
//! Terraform plans a role before the role policies that reference it, in the
//! same provider process: [`ExclusiveRoles`] carries what the role's plan
//! decided to those plans, so a role policy whose name its exclusive role
//! does not list (it would be deleted by the role's next apply and recreated
//! by the apply after) is refused at plan time.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use tfplugin::{AttrPath, Diagnostic, Value};

use crate::policy;

/// What a role's configuration says about its inline policies.
#[derive(Debug, Clone, PartialEq)]
pub struct Ownership {
    /// `None` while not known until apply.
    pub exclusive: Option<bool>,
    /// The names in `inline_policies`; `None` while not known until apply.
    pub managed: Option<BTreeSet<String>>,
    /// `exclusive_inline_policies = false` written out: no warning either.
    pub opted_out: bool,
}

impl Ownership {
    /// From the configuration's `inline_policies` and `exclusive_inline_policies`.
    pub fn from_config(inline_policies: &Value, exclusive: &Value) -> Ownership {
        let managed = if !inline_policies.is_wholly_known() {
            None
        } else {
            Some(
                inline_policies
                    .elements()
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
            )
        };
        let exclusive_value = if exclusive.is_unknown() {
            None
        } else if let Some(chosen) = exclusive.as_bool() {
            Some(chosen)
        } else if managed.is_none() {
            None
        } else {
            Some(!inline_policies.is_null())
        };
        Ownership {
            exclusive: exclusive_value,
            managed,
            opted_out: exclusive.as_bool() == Some(false),
        }
    }

    /// The planned `exclusive_inline_policies`.
    pub fn exclusive_value(&self) -> Value {
        self.exclusive.map_or(Value::Unknown, Value::from)
    }

    /// The names an exclusive role keeps; `None` when it is not exclusive
    /// (or that is not known yet).
    pub fn kept_only(&self) -> Option<&BTreeSet<String>> {
        match (self.exclusive, &self.managed) {
            (Some(true), Some(managed)) => Some(managed),
            _ => None,
        }
    }

    /// Which of `current` the role still carries after its apply; `None`
    /// when that is not known until apply.
    pub fn after_apply(&self, current: &BTreeSet<String>) -> Option<BTreeSet<String>> {
        match (self.exclusive, self.kept_only()) {
            (Some(true), Some(kept)) => Some(current.intersection(kept).cloned().collect()),
            (Some(false), _) => Some(current.clone()),
            _ => None,
        }
    }

    /// The policies a non-exclusive role leaves in place that deserve a
    /// warning: not named in `inline_policies`, not named the way presets or
    /// Vantage's module name Vantage's documents (most likely attached by
    /// `vantage_aws_role_policy`), and the user did not opt out.
    pub fn unexpected<'a>(&self, current: &'a BTreeSet<String>) -> Vec<&'a String> {
        if self.exclusive != Some(false) || self.opted_out {
            return Vec::new();
        }
        let managed = self.managed.clone().unwrap_or_default();
        current
            .iter()
            .filter(|n| !managed.contains(*n) && !policy::is_vantage_policy_name(n))
            .collect()
    }
}

/// The role's plan-time warning about inline policies it leaves in place.
pub fn left_in_place(role: &str, names: &[&String]) -> Diagnostic {
    let list = names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
    Diagnostic::warning(
        "Inline policies left in place",
        format!(
            "The role {role} carries inline policies this configuration does not name: {list}. They are left \
             alone because `inline_policies` is not set. If `vantage_aws_role_policy` resources attach them, \
             list their names in `inline_policies`; any inline policy not listed there is then removed on \
             apply. To keep them and silence this warning, set `exclusive_inline_policies = false`."
        ),
    )
    .at(AttrPath::new("inline_policies"))
}

/// The role policy's plan-time error when its exclusive role does not name it.
pub fn not_named_on_role(role: &str, kept: &BTreeSet<String>, policy_name: &str) -> Diagnostic {
    let kept = kept.iter().map(|k| format!("{k:?}")).collect::<Vec<_>>().join(", ");
    Diagnostic::error(
        "Inline policy not named on its role",
        format!(
            "The role {role} lists its inline policies in `inline_policies` ([{kept}]) and removes any other, \
             so it would delete {policy_name:?} on the next apply and this resource would put it back on the \
             apply after. Add {policy_name:?} to the role's `inline_policies`, or remove `inline_policies` from \
             the role to leave unnamed inline policies alone."
        ),
    )
    .at(AttrPath::new("name"))
}

/// Roles planned in this provider process that keep only the inline
/// policies they name.
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

    fn names(list: &[&str]) -> BTreeSet<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn set(list: &[&str]) -> Value {
        Value::Set(list.iter().map(|s| Value::from(*s)).collect())
    }

    #[test]
    fn without_a_list_nothing_is_removed_and_only_strays_are_reported() {
        let o = Ownership::from_config(&Value::Null, &Value::Null);
        assert_eq!(o.exclusive, Some(false));
        let current = names(&["root", "cloudwatch", "VantageAutoPilot", "added-by-hand"]);
        assert_eq!(o.after_apply(&current), Some(current.clone()));
        assert_eq!(o.unexpected(&current), vec!["added-by-hand"]);
        assert_eq!(o.kept_only(), None);
    }

    #[test]
    fn a_list_makes_the_role_exclusive() {
        let o = Ownership::from_config(&set(&["root"]), &Value::Null);
        assert_eq!(o.exclusive, Some(true));
        let current = names(&["root", "added-by-hand"]);
        assert_eq!(o.after_apply(&current), Some(names(&["root"])));
        assert!(o.unexpected(&current).is_empty());
        assert_eq!(o.kept_only(), Some(&names(&["root"])));
    }

    #[test]
    fn an_explicit_opt_out_keeps_everything_without_a_warning() {
        let o = Ownership::from_config(&set(&["root"]), &Value::from(false));
        let current = names(&["root", "added-by-hand"]);
        assert_eq!(o.after_apply(&current), Some(current.clone()));
        assert!(o.unexpected(&current).is_empty());
    }

    #[test]
    fn an_unknown_list_leaves_the_outcome_unknown() {
        let o = Ownership::from_config(&Value::Unknown, &Value::Null);
        assert_eq!(o.exclusive, None);
        assert_eq!(o.exclusive_value(), Value::Unknown);
        assert_eq!(o.after_apply(&names(&["root"])), None);
    }

    #[test]
    fn only_an_exclusive_role_that_does_not_name_the_policy_removes_it() {
        let roles = ExclusiveRoles::default();
        assert_eq!(roles.would_remove("r", "root"), None, "unknown role");
        roles.record("r", Some(names(&["root"])));
        assert_eq!(roles.would_remove("r", "root"), None);
        assert_eq!(roles.would_remove("r", "cloudwatch"), Some(names(&["root"])));
        roles.record("r", None);
        assert_eq!(roles.would_remove("r", "cloudwatch"), None, "no longer exclusive");
    }
}
