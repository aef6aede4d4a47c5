//! `tags` / `tags_all` for every taggable object: the provider's
//! `default_tags` merged under the resource's own tags, the same way for the
//! role, the bucket and the report.

use std::collections::BTreeMap;

use tfplugin::schema::validators::custom;
use tfplugin::{Attribute, Value};

pub type Tags = BTreeMap<String, String>;

/// The `tags` argument, with AWS's limits checked at plan time.
pub fn tags_attribute() -> Attribute {
    Attribute::string_map("tags")
        .optional()
        .description("Tags for this object. Merged over the provider's `default_tags`.")
        .validator(custom(
            "at most 50 tags; keys of 1-128 characters not starting with `aws:`; values up to 256",
            check_tags,
        ))
}

/// `tags_all`: what the object carries, default tags included.
pub fn tags_all_attribute() -> Attribute {
    Attribute::string_map("tags_all")
        .computed()
        .description("All tags on the object, including the provider's `default_tags`.")
}

fn check_tags(v: &Value) -> Result<(), String> {
    let Value::Map(m) = v else { return Ok(()) };
    if m.len() > 50 {
        return Err(format!("{} tags given; AWS allows at most 50 per object.", m.len()));
    }
    for (k, val) in m {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(format!("Tag key {k:?} must be 1 to 128 characters long."));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(format!(
                "Tag key {k:?} uses the reserved `aws:` prefix; choose another key."
            ));
        }
        if val.as_str().is_some_and(|s| s.chars().count() > 256) {
            return Err(format!("The value of tag {k:?} is longer than 256 characters."));
        }
    }
    Ok(())
}

/// Default tags overlaid with the resource's own.
pub fn merge(default_tags: &Tags, tags: Option<&Tags>) -> Tags {
    let mut all = default_tags.clone();
    if let Some(own) = tags {
        all.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    all
}

/// The resource's own `tags` as read back: everything on the object except
/// default tags the configuration did not set itself. Stays null when the
/// configuration had none and nothing beyond the defaults is there.
pub fn own_tags(actual: &Tags, default_tags: &Tags, prior_tags: Option<&Tags>) -> Option<Tags> {
    let own: Tags = actual
        .iter()
        .filter(|(k, v)| {
            let from_defaults = default_tags.get(*k) == Some(*v);
            let set_by_resource = prior_tags.is_some_and(|p| p.contains_key(*k));
            !from_defaults || set_by_resource
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if own.is_empty() && prior_tags.is_none_or(|p| p.is_empty()) {
        prior_tags.cloned()
    } else {
        Some(own)
    }
}

/// (keys to set with their values, keys to remove) to go from `current` to `desired`.
pub fn diff(current: &Tags, desired: &Tags) -> (Tags, Vec<String>) {
    let set = desired
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove = current.keys().filter(|k| !desired.contains_key(*k)).cloned().collect();
    (set, remove)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pairs: &[(&str, &str)]) -> Tags {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn resource_tags_override_defaults() {
        let all = merge(&t(&[("Team", "ops"), ("Env", "prod")]), Some(&t(&[("Env", "dev")])));
        assert_eq!(all, t(&[("Team", "ops"), ("Env", "dev")]));
    }

    #[test]
    fn own_tags_leave_defaults_out() {
        let defaults = t(&[("Team", "ops")]);
        assert_eq!(own_tags(&t(&[("Team", "ops")]), &defaults, None), None);
        assert_eq!(
            own_tags(&t(&[("Team", "ops"), ("X", "1")]), &defaults, None),
            Some(t(&[("X", "1")]))
        );
        // A tag added out of band shows up as drift in `tags`.
        assert_eq!(
            own_tags(&t(&[("Team", "ops"), ("Y", "2")]), &defaults, Some(&t(&[]))),
            Some(t(&[("Y", "2")]))
        );
    }

    #[test]
    fn diff_sets_and_removes() {
        let (set, remove) = diff(&t(&[("a", "1"), ("b", "2")]), &t(&[("a", "1"), ("b", "3"), ("c", "4")]));
        assert_eq!(set, t(&[("b", "3"), ("c", "4")]));
        assert!(remove.is_empty());
        let (_, remove) = diff(&t(&[("a", "1")]), &t(&[]));
        assert_eq!(remove, vec!["a".to_string()]);
    }

    #[test]
    fn limits_are_checked() {
        let bad = Value::Map([("aws:x".to_string(), Value::from("v"))].into_iter().collect());
        assert!(check_tags(&bad).is_err_and(|e| e.contains("aws:")));
    }
}
