//! `moved {}` blocks from the resources users have today: reading another provider's
//! state (as JSON, the way Terraform hands it to MoveResourceState) and refusing what
//! cannot be mapped with what to do instead.
//!
//! A moved state holds what the source knew; the refresh that follows in the same plan
//! reads the object and derives the rest, as after an import.

use std::collections::BTreeSet;

use serde::Serialize;
use tfplugin::{Diagnostic, Diagnostics, MoveSource};

use crate::tags::Tags;

/// Whether `from` is `type_name` of hashicorp/aws (from Terraform's or OpenTofu's registry).
pub fn from_hashicorp_aws(from: &MoveSource, type_name: &str) -> bool {
    from.type_name == type_name && from.provider_address.ends_with("/hashicorp/aws")
}

/// A string attribute of the source state; SDKv2 providers store unset strings as "".
pub fn string(state: &serde_json::Value, key: &str) -> Option<String> {
    state[key].as_str().filter(|s| !s.is_empty()).map(str::to_string)
}

pub fn boolean(state: &serde_json::Value, key: &str) -> Option<bool> {
    state[key].as_bool()
}

pub fn integer(state: &serde_json::Value, key: &str) -> Option<i64> {
    state[key]
        .as_i64()
        .or_else(|| state[key].as_str().and_then(|s| s.parse().ok()))
}

/// A set of strings; an empty set reads as unset, as the user's configuration most likely has it.
pub fn strings(state: &serde_json::Value, key: &str) -> Option<BTreeSet<String>> {
    let set: BTreeSet<String> = state[key]
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    (!set.is_empty()).then_some(set)
}

/// A tag map; empty reads as unset (SDKv2 stores `{}` for a configuration without tags).
pub fn tags(state: &serde_json::Value, key: &str) -> Option<Tags> {
    let map: Tags = state[key]
        .as_object()?
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
        .collect();
    (!map.is_empty()).then_some(map)
}

/// The name a source state must have for the move to mean anything.
pub fn required(state: &serde_json::Value, key: &str, from: &MoveSource) -> Result<String, Diagnostics> {
    string(state, key).ok_or_else(|| {
        Diagnostic::error(
            "Cannot move this state",
            format!(
                "The {} state has no `{key}`: the object was perhaps never created. Remove the moved block \
                 and let this resource create it.",
                from.type_name
            ),
        )
        .into()
    })
}

/// The model as the JSON state Terraform expects back.
pub fn state<M: Serialize>(model: &M) -> Result<serde_json::Value, Diagnostics> {
    serde_json::to_value(model).map_err(|e| {
        Diagnostic::error(
            "Provider internal error",
            format!("Could not build the moved state: {e}. Please report this bug."),
        )
        .into()
    })
}

/// A source folded into `target` rather than moved: forget it with a `removed` block.
pub fn folded_into(from: &MoveSource, target: &str, instead: &str) -> Diagnostics {
    Diagnostic::error(
        "This resource is folded into another",
        format!(
            "{target} manages what {} did as part of itself, so there is nothing to move it to. Move {instead} \
             to {target} instead, and forget this one without deleting it:\n\n  removed {{\n    from = <its address>\n    \
             lifecycle {{\n      destroy = false\n    }}\n  }}",
            from.type_name
        ),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(address: &str, type_name: &str) -> MoveSource {
        MoveSource {
            provider_address: address.to_string(),
            type_name: type_name.to_string(),
            schema_version: 0,
            state: serde_json::Value::Null,
        }
    }

    #[test]
    fn only_hashicorp_aws_sources_of_the_named_type_match() {
        assert!(from_hashicorp_aws(
            &source("registry.terraform.io/hashicorp/aws", "aws_iam_role"),
            "aws_iam_role"
        ));
        assert!(from_hashicorp_aws(
            &source("registry.opentofu.org/hashicorp/aws", "aws_iam_role"),
            "aws_iam_role"
        ));
        assert!(!from_hashicorp_aws(
            &source("registry.terraform.io/acme/aws", "aws_iam_role"),
            "aws_iam_role"
        ));
        assert!(!from_hashicorp_aws(
            &source("registry.terraform.io/hashicorp/aws", "aws_iam_policy"),
            "aws_iam_role"
        ));
    }

    #[test]
    fn sdkv2_empty_values_read_as_unset() {
        let s = serde_json::json!({"a": "", "t": {}, "l": [], "n": 3600, "q": "7"});
        assert_eq!(string(&s, "a"), None);
        assert_eq!(tags(&s, "t"), None);
        assert_eq!(strings(&s, "l"), None);
        assert_eq!(integer(&s, "n"), Some(3600));
        assert_eq!(integer(&s, "q"), Some(7));
        assert_eq!(string(&s, "missing"), None);
    }
}
