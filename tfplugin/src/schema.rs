//! Schemas, declared once per resource: attribute types, documentation, and the
//! plan conventions (requires replace, keep prior value, defaults, semantic
//! equality) and validators that the runtime applies for the resource.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use crate::proto::tfplugin6 as pb;
use crate::value::{Type, Value};
use crate::{AttrPath, Diagnostic, Diagnostics};

/// Checks a known, non-null attribute value; adds diagnostics for bad input.
pub trait Validator: Send + Sync {
    /// What the validator requires, for docs ("one of `a`, `b`").
    fn description(&self) -> String;
    fn validate(&self, value: &Value, path: &AttrPath, diags: &mut Diagnostics);
    /// A value the validator accepts, if it can name one. The model check
    /// ([`crate::check_model`]) samples the attribute with it, so that a model
    /// field narrower than the attribute's type (an enum for a `one_of`
    /// string) decodes.
    fn example(&self) -> Option<Value> {
        None
    }
}

/// Decides whether two values of an attribute mean the same thing (for
/// example two JSON policies that differ only in order). When the configured
/// value is equivalent to the prior one, the plan keeps the prior value.
pub type SemanticEquality = Arc<dyn Fn(&Value, &Value) -> bool + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Presence {
    Required,
    Optional,
    /// Set by the provider only.
    Computed,
    /// Set by the user, or by the provider when the user leaves it out.
    OptionalComputed,
}

#[derive(Clone)]
pub struct Attribute {
    pub name: String,
    pub ty: Type,
    pub description: String,
    pub presence: Presence,
    pub sensitive: bool,
    pub write_only: bool,
    pub deprecated: Option<String>,
    /// Changing the value destroys and recreates the object.
    pub requires_replace: bool,
    /// A computed value that does not change on update: plan shows the prior
    /// value instead of "known after apply".
    pub use_state_for_unknown: bool,
    /// Value planned when the configuration leaves the attribute out.
    pub default: Option<Value>,
    pub semantic_equality: Option<SemanticEquality>,
    pub validators: Vec<Arc<dyn Validator>>,
}

impl fmt::Debug for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attribute")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .finish_non_exhaustive()
    }
}

impl Attribute {
    pub fn new(name: &str, ty: Type) -> Attribute {
        Attribute {
            name: name.to_string(),
            ty,
            description: String::new(),
            presence: Presence::Optional,
            sensitive: false,
            write_only: false,
            deprecated: None,
            requires_replace: false,
            use_state_for_unknown: false,
            default: None,
            semantic_equality: None,
            validators: Vec::new(),
        }
    }

    pub fn string(name: &str) -> Attribute {
        Attribute::new(name, Type::String)
    }
    pub fn bool(name: &str) -> Attribute {
        Attribute::new(name, Type::Bool)
    }
    pub fn number(name: &str) -> Attribute {
        Attribute::new(name, Type::Number)
    }
    pub fn string_map(name: &str) -> Attribute {
        Attribute::new(name, Type::map(Type::String))
    }
    pub fn string_set(name: &str) -> Attribute {
        Attribute::new(name, Type::set(Type::String))
    }
    pub fn string_list(name: &str) -> Attribute {
        Attribute::new(name, Type::list(Type::String))
    }

    pub fn description(mut self, text: &str) -> Attribute {
        self.description = text.to_string();
        self
    }
    pub fn required(mut self) -> Attribute {
        self.presence = Presence::Required;
        self
    }
    pub fn optional(mut self) -> Attribute {
        self.presence = Presence::Optional;
        self
    }
    pub fn computed(mut self) -> Attribute {
        self.presence = Presence::Computed;
        self
    }
    pub fn optional_computed(mut self) -> Attribute {
        self.presence = Presence::OptionalComputed;
        self
    }
    pub fn sensitive(mut self) -> Attribute {
        self.sensitive = true;
        self
    }
    /// Sent by Terraform in configuration only, never stored in state (Terraform >= 1.11).
    pub fn write_only(mut self) -> Attribute {
        self.write_only = true;
        self
    }
    pub fn deprecated(mut self, message: &str) -> Attribute {
        self.deprecated = Some(message.to_string());
        self
    }
    pub fn requires_replace(mut self) -> Attribute {
        self.requires_replace = true;
        self
    }
    pub fn use_state_for_unknown(mut self) -> Attribute {
        self.use_state_for_unknown = true;
        self
    }
    /// A default makes the attribute optional+computed: leaving it out plans the default.
    pub fn default(mut self, value: impl Into<Value>) -> Attribute {
        self.default = Some(value.into());
        self.presence = Presence::OptionalComputed;
        self
    }
    pub fn semantic_equality(mut self, eq: impl Fn(&Value, &Value) -> bool + Send + Sync + 'static) -> Attribute {
        self.semantic_equality = Some(Arc::new(eq));
        self
    }
    pub fn validator(mut self, v: impl Validator + 'static) -> Attribute {
        self.validators.push(Arc::new(v));
        self
    }

    pub fn is_computed(&self) -> bool {
        matches!(self.presence, Presence::Computed | Presence::OptionalComputed)
    }

    pub fn is_configurable(&self) -> bool {
        !matches!(self.presence, Presence::Computed)
    }

    fn to_proto(&self) -> pb::schema::Attribute {
        let mut description = self.description.clone();
        if let Some(text) = self.default.as_ref().and_then(default_text) {
            description.push_str(&format!(" Defaults to `{text}`."));
        }
        pb::schema::Attribute {
            name: self.name.clone(),
            r#type: self.ty.to_json_bytes(),
            nested_type: None,
            description,
            required: self.presence == Presence::Required,
            optional: matches!(self.presence, Presence::Optional | Presence::OptionalComputed),
            computed: self.is_computed(),
            sensitive: self.sensitive,
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: self.deprecated.is_some(),
            write_only: self.write_only,
        }
    }
}

/// A short rendering of a default value for documentation.
pub fn default_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        Value::List(items) | Value::Set(items) => {
            let parts: Option<Vec<String>> = items
                .iter()
                .map(|i| default_text(i).map(|t| format!("\"{t}\"")))
                .collect();
            parts.map(|p| format!("[{}]", p.join(", ")))
        }
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nesting {
    /// At most one block; the value is an object or null.
    Single,
    /// Exactly one block that may be omitted; the value is never null.
    Group,
    List,
    Set,
    Map,
}

#[derive(Clone, Debug)]
pub struct NestedBlock {
    pub type_name: String,
    pub block: Block,
    pub nesting: Nesting,
    pub min_items: i64,
    pub max_items: i64,
}

impl NestedBlock {
    pub fn new(type_name: &str, nesting: Nesting, block: Block) -> NestedBlock {
        NestedBlock {
            type_name: type_name.to_string(),
            block,
            nesting,
            min_items: 0,
            max_items: 0,
        }
    }

    pub fn ty(&self) -> Type {
        let obj = self.block.ty();
        match self.nesting {
            Nesting::Single | Nesting::Group => obj,
            Nesting::List => Type::list(obj),
            Nesting::Set => Type::set(obj),
            Nesting::Map => Type::map(obj),
        }
    }

    fn to_proto(&self) -> pb::schema::NestedBlock {
        use pb::schema::nested_block::NestingMode;
        pb::schema::NestedBlock {
            type_name: self.type_name.clone(),
            block: Some(self.block.to_proto(0)),
            nesting: match self.nesting {
                Nesting::Single => NestingMode::Single,
                Nesting::Group => NestingMode::Group,
                Nesting::List => NestingMode::List,
                Nesting::Set => NestingMode::Set,
                Nesting::Map => NestingMode::Map,
            } as i32,
            min_items: self.min_items,
            max_items: self.max_items,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct Block {
    pub description: String,
    pub attributes: Vec<Attribute>,
    pub blocks: Vec<NestedBlock>,
    pub deprecated: bool,
}

impl Block {
    pub fn new(description: &str) -> Block {
        Block {
            description: description.to_string(),
            ..Block::default()
        }
    }

    pub fn attribute(mut self, a: Attribute) -> Block {
        self.attributes.push(a);
        self
    }

    pub fn block(mut self, b: NestedBlock) -> Block {
        self.blocks.push(b);
        self
    }

    /// The object type of one instance of this block.
    pub fn ty(&self) -> Type {
        let mut attrs = BTreeMap::new();
        for a in &self.attributes {
            attrs.insert(a.name.clone(), a.ty.clone());
        }
        for b in &self.blocks {
            attrs.insert(b.type_name.clone(), b.ty());
        }
        Type::Object(attrs)
    }

    pub fn find_attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    /// Whether `name` is one of this block's attributes or nested blocks.
    pub(crate) fn has_name(&self, name: &str) -> bool {
        self.find_attribute(name).is_some() || self.blocks.iter().any(|b| b.type_name == name)
    }

    fn to_proto(&self, version: i64) -> pb::schema::Block {
        pb::schema::Block {
            version,
            attributes: self.attributes.iter().map(Attribute::to_proto).collect(),
            block_types: self.blocks.iter().map(NestedBlock::to_proto).collect(),
            description: self.description.clone(),
            description_kind: pb::StringKind::Markdown as i32,
            deprecated: self.deprecated,
        }
    }

    /// Runs attribute validators and checks on every known value in `config`.
    pub(crate) fn validate(&self, config: &Value, path: &AttrPath, diags: &mut Diagnostics) {
        for a in &self.attributes {
            let v = config.attr(&a.name);
            let p = path.attr(&a.name);
            if let Some(message) = &a.deprecated
                && !v.is_null()
            {
                diags.push(
                    Diagnostic::warning(format!("Argument {} is deprecated", a.name), message.clone()).at(p.clone()),
                );
            }
            if v.is_null() || !v.is_wholly_known() {
                continue;
            }
            for validator in &a.validators {
                validator.validate(v, &p, diags);
            }
        }
        for b in &self.blocks {
            let v = config.attr(&b.type_name);
            let p = path.attr(&b.type_name);
            match (b.nesting, v) {
                (Nesting::Single | Nesting::Group, Value::Object(_)) => b.block.validate(v, &p, diags),
                (Nesting::List | Nesting::Set, Value::List(items) | Value::Set(items)) => {
                    for (i, item) in items.iter().enumerate() {
                        b.block.validate(item, &p.index(i as i64), diags);
                    }
                }
                (Nesting::Map, Value::Map(items)) => {
                    for (k, item) in items {
                        b.block.validate(item, &p.key(k), diags);
                    }
                }
                _ => {}
            }
        }
    }

    /// Calls `f` with every string value of a sensitive attribute in `value`.
    pub(crate) fn visit_sensitive(&self, value: &Value, f: &mut dyn FnMut(&str)) {
        fn strings(v: &Value, f: &mut dyn FnMut(&str)) {
            match v {
                Value::String(s) => f(s),
                Value::List(items) | Value::Set(items) | Value::Tuple(items) => {
                    items.iter().for_each(|i| strings(i, f));
                }
                Value::Map(m) | Value::Object(m) => m.values().for_each(|i| strings(i, f)),
                Value::Dynamic(d) => strings(&d.1, f),
                _ => {}
            }
        }
        for a in self.attributes.iter().filter(|a| a.sensitive) {
            strings(value.attr(&a.name), f);
        }
        for b in &self.blocks {
            match value.attr(&b.type_name) {
                v @ Value::Object(_) if matches!(b.nesting, Nesting::Single | Nesting::Group) => {
                    b.block.visit_sensitive(v, f)
                }
                Value::List(items) | Value::Set(items) => items.iter().for_each(|i| b.block.visit_sensitive(i, f)),
                Value::Map(items) => items.values().for_each(|i| b.block.visit_sensitive(i, f)),
                _ => {}
            }
        }
    }
}

/// A versioned schema for a provider, resource or data source.
#[derive(Clone, Debug, Default)]
pub struct Schema {
    pub version: i64,
    pub block: Block,
}

impl Schema {
    pub fn new(description: &str) -> Schema {
        Schema {
            version: 0,
            block: Block::new(description),
        }
    }

    pub fn version(mut self, version: i64) -> Schema {
        self.version = version;
        self
    }

    pub fn attribute(mut self, a: Attribute) -> Schema {
        self.block.attributes.push(a);
        self
    }

    pub fn block(mut self, b: NestedBlock) -> Schema {
        self.block.blocks.push(b);
        self
    }

    pub fn ty(&self) -> Type {
        self.block.ty()
    }

    pub(crate) fn to_proto(&self) -> pb::Schema {
        pb::Schema {
            version: self.version,
            block: Some(self.block.to_proto(self.version)),
        }
    }
}

/// Built-in validators.
pub mod validators {
    use super::*;

    /// The value must be one of the listed strings.
    pub fn one_of(allowed: &[&str]) -> impl Validator + use<> {
        OneOf(allowed.iter().map(|s| s.to_string()).collect())
    }

    struct OneOf(Vec<String>);

    impl Validator for OneOf {
        fn description(&self) -> String {
            let quoted: Vec<String> = self.0.iter().map(|s| format!("`{s}`")).collect();
            format!("one of {}", quoted.join(", "))
        }
        fn example(&self) -> Option<Value> {
            self.0.first().map(|s| Value::String(s.clone()))
        }
        fn validate(&self, value: &Value, path: &AttrPath, diags: &mut Diagnostics) {
            if let Some(s) = value.as_str()
                && !self.0.iter().any(|a| a == s)
            {
                diags.push(
                    Diagnostic::error(
                        format!("Invalid value for {path}"),
                        format!("{s:?} is not allowed here; use {}.", self.description()),
                    )
                    .at(path.clone()),
                );
            }
        }
    }

    /// A whole number between `min` and `max`, inclusive.
    pub fn int_between(min: i64, max: i64) -> impl Validator {
        IntBetween(min, max)
    }

    struct IntBetween(i64, i64);

    impl Validator for IntBetween {
        fn description(&self) -> String {
            format!("a whole number from {} to {}", self.0, self.1)
        }
        fn example(&self) -> Option<Value> {
            Some(Value::from(self.0))
        }
        fn validate(&self, value: &Value, path: &AttrPath, diags: &mut Diagnostics) {
            let Some(n) = value.as_number() else { return };
            let ok = n.to_i64().is_some_and(|i| (self.0..=self.1).contains(&i));
            if !ok {
                diags.push(
                    Diagnostic::error(
                        format!("Invalid value for {path}"),
                        format!("{n} is out of range: use {}.", self.description()),
                    )
                    .at(path.clone()),
                );
            }
        }
    }

    /// Any check written as a function returning an error message.
    pub fn custom<F>(description: &str, check: F) -> impl Validator + use<F>
    where
        F: Fn(&Value) -> Result<(), String> + Send + Sync + 'static,
    {
        Custom(description.to_string(), check)
    }

    /// A rule for a string attribute (null and unknown pass), or for every
    /// string of a set or list attribute.
    pub fn string<F>(description: &str, check: F) -> impl Validator + use<F>
    where
        F: Fn(&str) -> Result<(), String> + Send + Sync + 'static,
    {
        Custom(description.to_string(), move |v: &Value| {
            match (v.as_str(), v.elements()) {
                (Some(s), _) => check(s),
                (None, Some(items)) => items.iter().filter_map(Value::as_str).try_for_each(&check),
                _ => Ok(()),
            }
        })
    }

    struct Custom<F>(String, F);

    impl<F> Validator for Custom<F>
    where
        F: Fn(&Value) -> Result<(), String> + Send + Sync,
    {
        fn description(&self) -> String {
            self.0.clone()
        }
        fn validate(&self, value: &Value, path: &AttrPath, diags: &mut Diagnostics) {
            if let Err(message) = (self.1)(value) {
                diags.push(Diagnostic::error(format!("Invalid value for {path}"), message).at(path.clone()));
            }
        }
    }
}
