//! The plan conventions every resource gets without writing code: defaults,
//! "known after apply" for computed values, prior values kept where declared,
//! semantic equality, and requires-replace paths.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;

use crate::resource::Misuse;
use crate::schema::{Block, Nesting};
use crate::value::{Value, from_value};
use crate::{AttrPath, Diagnostic};

/// A planned change handed to [`crate::Resource::modify_plan`] after the
/// declarative conventions ran. Read the prior state and configuration as
/// models, and adjust the planned values.
pub struct Plan {
    pub(crate) prior: Value,
    pub(crate) config: Value,
    pub(crate) planned: Value,
    pub(crate) requires_replace: Vec<AttrPath>,
    /// Names used that the schema does not have; the runtime fails the plan with them.
    pub(crate) misuse: Vec<Misuse>,
}

impl Plan {
    /// True when the object does not exist yet.
    pub fn is_create(&self) -> bool {
        self.prior.is_null()
    }

    /// True when the object is being destroyed.
    pub fn is_destroy(&self) -> bool {
        self.planned.is_null()
    }

    /// The prior state as a model (None on create).
    pub fn prior<M: DeserializeOwned>(&self) -> Result<Option<M>, Diagnostic> {
        if self.prior.is_null() {
            return Ok(None);
        }
        from_value(&self.prior)
            .map(Some)
            .map_err(|e| internal("prior state", e))
    }

    /// The planned state as a model; unknown values read as `None`.
    pub fn planned<M: DeserializeOwned>(&self) -> Result<M, Diagnostic> {
        from_value(&self.planned).map_err(|e| internal("planned state", e))
    }

    /// The configuration as a model; unknown values read as `None`.
    pub fn config<M: DeserializeOwned>(&self) -> Result<M, Diagnostic> {
        from_value(&self.config).map_err(|e| internal("configuration", e))
    }

    pub fn prior_value(&self) -> &Value {
        &self.prior
    }

    pub fn config_value(&self) -> &Value {
        &self.config
    }

    pub fn planned_value(&self) -> &Value {
        &self.planned
    }

    /// Sets a top-level planned attribute. A name the schema does not have
    /// fails the plan with an internal error.
    pub fn set(&mut self, name: &str, value: impl Into<Value>) {
        match &mut self.planned {
            // The planned object holds every schema name (`plan_block` writes each one).
            Value::Object(m) if m.contains_key(name) => {
                m.insert(name.to_string(), value.into());
            }
            _ => self.misused("set planned attribute", name),
        }
    }

    /// Marks a top-level attribute "known after apply".
    pub fn set_unknown(&mut self, name: &str) {
        self.set(name, Value::Unknown);
    }

    /// Makes the change a replacement, blaming `name`. A name the schema
    /// does not have fails the plan with an internal error.
    pub fn require_replace(&mut self, name: &str) {
        if !matches!(&self.planned, Value::Object(m) if m.contains_key(name)) {
            self.misused("required replacement for attribute", name);
            return;
        }
        let path = AttrPath::new(name);
        if !self.requires_replace.contains(&path) {
            self.requires_replace.push(path);
        }
    }

    fn misused(&mut self, what: &str, name: &str) {
        self.misuse.push(Misuse {
            problem: format!("{what} `{name}`, which its schema does not have"),
            path: None,
        });
    }
}

fn internal(what: &str, e: impl std::fmt::Display) -> Diagnostic {
    Diagnostic::error(
        "Provider internal error",
        format!("The {what} does not match the resource model: {e}. Please report this bug."),
    )
}

/// Applies the schema's plan conventions. `prior` is null on create.
pub(crate) fn plan_resource(block: &Block, prior: &Value, proposed: &Value, config: &Value) -> Plan {
    let mut requires_replace = Vec::new();
    let mut planned = plan_block(block, prior, proposed, config, &AttrPath::root(), &mut requires_replace);
    if !prior.is_null() && planned != *prior {
        // Something changes: computed values the user did not set may change too.
        mark_computed_unknown(block, config, &mut planned);
    }
    Plan {
        prior: prior.clone(),
        config: config.clone(),
        planned,
        requires_replace,
        misuse: Vec::new(),
    }
}

fn plan_block(
    block: &Block,
    prior: &Value,
    proposed: &Value,
    config: &Value,
    path: &AttrPath,
    replace: &mut Vec<AttrPath>,
) -> Value {
    let creating = prior.is_null();
    let mut out = BTreeMap::new();
    for a in &block.attributes {
        let cfg = config.attr(&a.name);
        let pri = prior.attr(&a.name);
        let mut v = proposed.attr(&a.name).clone();
        if a.write_only {
            v = Value::Null;
        } else if a.is_computed() && cfg.is_null() {
            v = match (&a.default, creating) {
                (Some(d), _) => d.clone(),
                (None, true) => Value::Unknown,
                (None, false) => pri.clone(),
            };
        }
        if !creating
            && !pri.is_null()
            && v.is_wholly_known()
            && let Some(eq) = &a.semantic_equality
            && v != *pri
            && eq(pri, &v)
        {
            v = pri.clone();
        }
        if !creating && a.requires_replace && v != *pri {
            replace.push(path.attr(&a.name));
        }
        out.insert(a.name.clone(), v);
    }
    for b in &block.blocks {
        let name = &b.type_name;
        let (pri, prop, cfg) = (prior.attr(name), proposed.attr(name), config.attr(name));
        let p = path.attr(name);
        let v = match (b.nesting, prop) {
            (_, Value::Null | Value::Unknown) => prop.clone(),
            (Nesting::Single | Nesting::Group, _) => plan_block(&b.block, pri, prop, cfg, &p, replace),
            (Nesting::List, Value::List(items)) => {
                let planned = items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        let at = |v: &Value| v.elements().and_then(|e| e.get(i)).cloned().unwrap_or(Value::Null);
                        plan_block(&b.block, &at(pri), item, &at(cfg), &p.index(i as i64), replace)
                    })
                    .collect();
                Value::List(planned)
            }
            (Nesting::Map, Value::Map(items)) => {
                let planned = items
                    .iter()
                    .map(|(k, item)| {
                        (
                            k.clone(),
                            plan_block(&b.block, pri.attr(k), item, cfg.attr(k), &p.key(k), replace),
                        )
                    })
                    .collect();
                Value::Map(planned)
            }
            // Set elements have no identity to match prior values by: plan as proposed.
            _ => prop.clone(),
        };
        out.insert(name.clone(), v);
    }
    Value::Object(out)
}

fn mark_computed_unknown(block: &Block, config: &Value, planned: &mut Value) {
    for a in &block.attributes {
        if a.is_computed()
            && !a.use_state_for_unknown
            && a.default.is_none()
            && !a.write_only
            && config.attr(&a.name).is_null()
            && let Some(slot) = planned.attr_mut(&a.name)
        {
            *slot = Value::Unknown;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::Attribute;

    fn obj(pairs: &[(&str, Value)]) -> Value {
        Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    fn schema() -> Block {
        Block::new("test")
            .attribute(Attribute::string("name").required().requires_replace())
            .attribute(Attribute::string("description").optional())
            .attribute(Attribute::string("path").default("/"))
            .attribute(Attribute::string("arn").computed().use_state_for_unknown())
            .attribute(Attribute::string("updated").computed())
            .attribute(
                Attribute::string("doc")
                    .optional()
                    .semantic_equality(|a, b| a.as_str().map(str::trim) == b.as_str().map(str::trim)),
            )
    }

    #[test]
    fn create_plans_unknown_computed_and_defaults() {
        let config = obj(&[
            ("name", "a".into()),
            ("description", Value::Null),
            ("path", Value::Null),
        ]);
        let plan = plan_resource(&schema(), &Value::Null, &config, &config);
        assert_eq!(plan.planned.attr("arn"), &Value::Unknown);
        assert_eq!(plan.planned.attr("updated"), &Value::Unknown);
        assert_eq!(plan.planned.attr("path"), &Value::from("/"));
        assert!(plan.requires_replace.is_empty());
    }

    #[test]
    fn no_change_keeps_everything() {
        let prior = obj(&[
            ("name", "a".into()),
            ("description", Value::Null),
            ("path", "/".into()),
            ("arn", "arn:x".into()),
            ("updated", "t1".into()),
            ("doc", "x".into()),
        ]);
        let config = obj(&[("name", "a".into()), ("doc", " x ".into())]);
        let mut proposed = prior.clone();
        if let Some(d) = proposed.attr_mut("doc") {
            *d = " x ".into();
        }
        let plan = plan_resource(&schema(), &prior, &proposed, &config);
        assert_eq!(plan.planned, prior, "semantically equal doc keeps the prior string");
    }

    #[test]
    fn update_keeps_stable_ids_and_unknowns_the_rest() {
        let prior = obj(&[
            ("name", "a".into()),
            ("description", Value::Null),
            ("path", "/".into()),
            ("arn", "arn:x".into()),
            ("updated", "t1".into()),
            ("doc", Value::Null),
        ]);
        let config = obj(&[("name", "a".into()), ("description", "new".into())]);
        let mut proposed = prior.clone();
        if let Some(d) = proposed.attr_mut("description") {
            *d = "new".into();
        }
        let plan = plan_resource(&schema(), &prior, &proposed, &config);
        assert_eq!(plan.planned.attr("arn"), &Value::from("arn:x"));
        assert_eq!(plan.planned.attr("updated"), &Value::Unknown);
        assert!(plan.requires_replace.is_empty());
    }

    #[test]
    fn changing_an_immutable_attribute_requires_replace() {
        let prior = obj(&[("name", "a".into()), ("path", "/".into()), ("arn", "arn:x".into())]);
        let config = obj(&[("name", "b".into())]);
        let mut proposed = prior.clone();
        if let Some(d) = proposed.attr_mut("name") {
            *d = "b".into();
        }
        let plan = plan_resource(&schema(), &prior, &proposed, &config);
        assert_eq!(plan.requires_replace, vec![AttrPath::new("name")]);
    }
}
