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
    // Unknown values are checked once known (at apply), as AWS would.
    let known: Tags = m
        .iter()
        .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
        .collect();
    if m.len() > MAX_TAGS {
        return Err(format!(
            "{} tags given; AWS allows at most {MAX_TAGS} per object.",
            m.len()
        ));
    }
    check_tag_map(&known)
}

const MAX_TAGS: usize = 50;

/// The characters IAM, S3 and CUR all accept in tag keys and values:
/// letters, digits, spaces and `_.:/=+-@`.
fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || (c.is_whitespace() && !c.is_control()) || "_.:/=+-@".contains(c)
}

/// AWS's tag rules: at most 50 tags, keys of 1-128 characters without the
/// reserved `aws:` prefix, values of at most 256, both of [`tag_char`]s.
pub fn check_tag_map(tags: &Tags) -> Result<(), String> {
    if tags.len() > MAX_TAGS {
        return Err(format!(
            "{} tags given; AWS allows at most {MAX_TAGS} per object.",
            tags.len()
        ));
    }
    for (k, val) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            return Err(format!("Tag key {k:?} must be 1 to 128 characters long."));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            return Err(format!(
                "Tag key {k:?} uses the reserved `aws:` prefix; choose another key."
            ));
        }
        if let Some(c) = k.chars().find(|c| !tag_char(*c)) {
            return Err(format!(
                "Tag key {k:?} contains {c:?}; AWS accepts letters, digits, spaces and `_.:/=+-@`."
            ));
        }
        if val.chars().count() > 256 {
            return Err(format!("The value of tag {k:?} is longer than 256 characters."));
        }
        if let Some(c) = val.chars().find(|c| !tag_char(*c)) {
            return Err(format!(
                "The value of tag {k:?} contains {c:?}; AWS accepts letters, digits, spaces and `_.:/=+-@`."
            ));
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

/// Plans `tags_all`: the provider's `default_tags` under the configuration's own `tags`
/// (unknown while any of `tags` is).
pub fn plan_tags_all(plan: &mut tfplugin::Plan, default_tags: &Tags) {
    let config_tags = plan.config_value().attr("tags").clone();
    if !config_tags.is_wholly_known() {
        plan.set_unknown("tags_all");
        return;
    }
    let own: Option<Tags> = match &config_tags {
        tfplugin::Value::Map(m) => Some(
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect(),
        ),
        _ => None,
    };
    let all = merge(default_tags, own.as_ref());
    plan.set(
        "tags_all",
        tfplugin::Value::Map(all.into_iter().map(|(k, v)| (k, tfplugin::Value::from(v))).collect()),
    );
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

    #[test]
    fn tag_values_follow_aws_rules() {
        assert_eq!(
            check_tag_map(&t(&[("Team", "ops + dev: a/b=c@d_e.f-g"), ("Ünïcode", "ñ 1")])),
            Ok(())
        );
        assert!(check_tag_map(&t(&[("Team", "semi;colon")])).is_err_and(|e| e.contains("';'")));
        assert!(check_tag_map(&t(&[("Team", "line\nbreak")])).is_err());
        assert!(check_tag_map(&t(&[("Te*m", "x")])).is_err());
        assert!(check_tag_map(&t(&[("Team", &"v".repeat(257))])).is_err());
        let many: Tags = (0..51).map(|i| (format!("k{i}"), "v".to_string())).collect();
        assert!(check_tag_map(&many).is_err_and(|e| e.contains("at most 50")));
    }
}
