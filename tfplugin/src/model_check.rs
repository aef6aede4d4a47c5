//! The check that a model struct and its schema describe the same attributes.
//!
//! A resource declares its schema and its model separately, tied only by
//! names. Without this check a field renamed on one side shows up at run
//! time: a model field the schema lacks makes every state fail to encode, a
//! schema attribute the model lacks is silently null, and a non-`Option`
//! field for an optional attribute fails to decode as soon as it is left out.
//!
//! The check drives the model with values built from the schema. A value with
//! every attribute and block set must decode into the model and encode back
//! unchanged (names and types). Then each optional or computed attribute in
//! turn is set to null and to unknown, and each optional block is left out,
//! and the value must still decode (optionality).

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::schema::{Attribute, Block, Nesting, Presence, Schema};
use crate::value::{Number, Type, Value, from_value, to_value};
use crate::{AttrPath, PathStep};

/// Checks that the model `M` matches `schema` in attribute names, types and
/// optionality. Each message names `type_name`, the attribute and the problem.
pub fn check_model<M: Serialize + DeserializeOwned>(type_name: &str, schema: &Schema) -> Result<(), Vec<String>> {
    let mut problems = Vec::new();
    let full = full_block(&schema.block);
    let model: M = match from_value(&full) {
        Ok(m) => m,
        Err(e) => {
            // Every later step needs a decoded model.
            return Err(vec![format!(
                "{type_name}: the model cannot hold a value with every attribute set: {e} (a field whose type \
                 does not match its attribute, or a non-Option field the schema does not declare)"
            )]);
        }
    };
    match to_value(&model) {
        Ok(back) => compare(type_name, &schema.ty(), &AttrPath::root(), &full, &back, &mut problems),
        Err(e) => problems.push(format!(
            "{type_name}: the model cannot be encoded after decoding a value with every attribute set: {e}"
        )),
    }
    let mut probes = Vec::new();
    collect_probes(&schema.block, &AttrPath::root(), &mut probes);
    for probe in probes {
        let mut value = full.clone();
        if let Some(slot) = slot_at(&mut value, probe.path.steps()) {
            *slot = probe.value;
        }
        if let Err(e) = from_value::<M>(&value) {
            problems.push(format!(
                "{type_name}: `{}` ({}): the model cannot hold it {}: {e}; {}",
                probe.path, probe.kind, probe.state, probe.hint
            ));
        }
    }
    if problems.is_empty() { Ok(()) } else { Err(problems) }
}

/// One variation of the full sample: the value at `path` replaced.
struct Probe {
    path: AttrPath,
    value: Value,
    /// What is at `path`, e.g. "optional string" or "block".
    kind: String,
    /// What it was set to, e.g. "null".
    state: &'static str,
    hint: &'static str,
}

const OPTION_HINT: &str = "make its field an Option";

fn presence_name(p: Presence) -> &'static str {
    match p {
        Presence::Required => "required",
        Presence::Optional => "optional",
        Presence::Computed => "computed",
        Presence::OptionalComputed => "optional+computed",
    }
}

fn collect_probes(block: &Block, path: &AttrPath, out: &mut Vec<Probe>) {
    for a in block.attributes.iter().filter(|a| a.presence != Presence::Required) {
        let p = path.attr(&a.name);
        let kind = format!("{} {}", presence_name(a.presence), a.ty);
        // Null: left out of the configuration (or not set by the provider).
        out.push(Probe {
            path: p.clone(),
            value: Value::Null,
            kind: kind.clone(),
            state: "null (left out)",
            hint: OPTION_HINT,
        });
        // Unknown: a computed value at plan time, or a configured value that
        // depends on another resource; the runtime decodes it as `None`.
        out.push(Probe {
            path: p,
            value: Value::Unknown,
            kind,
            state: "unknown (known after apply)",
            hint: OPTION_HINT,
        });
    }
    for b in &block.blocks {
        let p = path.attr(&b.type_name);
        let kind = format!("block, nesting {:?}", b.nesting);
        let inner = match b.nesting {
            Nesting::Single => {
                out.push(Probe {
                    path: p.clone(),
                    value: Value::Null,
                    kind,
                    state: "absent (block left out)",
                    hint: OPTION_HINT,
                });
                p
            }
            Nesting::Group => p,
            Nesting::List | Nesting::Set => {
                let empty = if b.nesting == Nesting::List {
                    Value::List(Vec::new())
                } else {
                    Value::Set(Vec::new())
                };
                out.push(Probe {
                    path: p.clone(),
                    value: empty,
                    kind,
                    state: "empty (no blocks)",
                    hint: "make its field a collection",
                });
                p.index(0)
            }
            Nesting::Map => {
                out.push(Probe {
                    path: p.clone(),
                    value: Value::Map(BTreeMap::new()),
                    kind,
                    state: "empty (no blocks)",
                    hint: "make its field a map",
                });
                p.key(SAMPLE_KEY)
            }
        };
        collect_probes(&b.block, &inner, out);
    }
}

/// Mutable access to the value at `steps`, following objects, maps and lists.
fn slot_at<'v>(value: &'v mut Value, steps: &[PathStep]) -> Option<&'v mut Value> {
    let Some((first, rest)) = steps.split_first() else {
        return Some(value);
    };
    let next = match (first, value) {
        (PathStep::Attr(k) | PathStep::Key(k), Value::Object(m) | Value::Map(m)) => m.get_mut(k)?,
        (PathStep::Index(i), Value::List(items) | Value::Set(items)) => items.get_mut(usize::try_from(*i).ok()?)?,
        _ => return None,
    };
    slot_at(next, rest)
}

const SAMPLE_KEY: &str = "key";

/// A block instance with every attribute and nested block set.
fn full_block(block: &Block) -> Value {
    let mut out = BTreeMap::new();
    for a in &block.attributes {
        out.insert(a.name.clone(), attribute_sample(a));
    }
    for b in &block.blocks {
        let one = full_block(&b.block);
        let v = match b.nesting {
            Nesting::Single | Nesting::Group => one,
            Nesting::List => Value::List(vec![one]),
            Nesting::Set => Value::Set(vec![one]),
            Nesting::Map => Value::Map(BTreeMap::from([(SAMPLE_KEY.to_string(), one)])),
        };
        out.insert(b.type_name.clone(), v);
    }
    Value::Object(out)
}

/// A validator's example where it has one of the right kind (so an enum field
/// for a `one_of` string decodes), else a sample of the attribute's type.
fn attribute_sample(a: &Attribute) -> Value {
    let fits = |v: &Value| {
        matches!(
            (&a.ty, v),
            (Type::String, Value::String(_)) | (Type::Number, Value::Number(_)) | (Type::Bool, Value::Bool(_))
        )
    };
    a.validators
        .iter()
        .filter_map(|v| v.example())
        .find(fits)
        .unwrap_or_else(|| sample(&a.ty))
}

/// A known, non-null value of `ty`; collections hold one element.
fn sample(ty: &Type) -> Value {
    match ty {
        Type::Bool => Value::Bool(true),
        Type::Number => Value::Number(Number::from(1i64)),
        Type::String => Value::String("sample".to_string()),
        Type::Dynamic => Value::Dynamic(Box::new((Type::String, Value::String("sample".to_string())))),
        Type::List(e) => Value::List(vec![sample(e)]),
        Type::Set(e) => Value::Set(vec![sample(e)]),
        Type::Map(e) => Value::Map(BTreeMap::from([(SAMPLE_KEY.to_string(), sample(e))])),
        Type::Object(attrs) => Value::Object(attrs.iter().map(|(k, t)| (k.clone(), sample(t))).collect()),
        Type::Tuple(elems) => Value::Tuple(elems.iter().map(sample).collect()),
    }
}

/// Compares the value the model gave back with the one it was given, by the
/// schema type (the encoder accepts a map for an object and a list for a set).
fn compare(type_name: &str, ty: &Type, path: &AttrPath, sent: &Value, back: &Value, out: &mut Vec<String>) {
    let problem = |out: &mut Vec<String>, what: String| {
        let at = if path.is_empty() {
            "the model".to_string()
        } else {
            format!("`{path}` ({ty})")
        };
        out.push(format!("{type_name}: {at}: {what}"));
    };
    if back.is_null() && !sent.is_null() {
        problem(out, "the model field lost the value (it came back null)".to_string());
        return;
    }
    match ty {
        Type::Dynamic => {}
        Type::Bool | Type::Number | Type::String => {
            let same_kind = matches!(
                (sent, back),
                (Value::Bool(_), Value::Bool(_))
                    | (Value::Number(_), Value::Number(_))
                    | (Value::String(_), Value::String(_))
            );
            if !same_kind || sent != back {
                problem(
                    out,
                    format!("sent {sent:?}, the model gave back {back:?}: its field's type does not match"),
                );
            }
        }
        Type::List(_) | Type::Set(_) | Type::Tuple(_) => {
            let (Some(s), Some(b)) = (sent.elements(), back.elements()) else {
                problem(out, format!("the model gave back {back:?}, not a collection"));
                return;
            };
            if s.len() != b.len() {
                problem(
                    out,
                    format!("sent {} element(s), the model gave back {}", s.len(), b.len()),
                );
                return;
            }
            for (i, (s, b)) in s.iter().zip(b).enumerate() {
                let ety = match ty {
                    Type::List(e) | Type::Set(e) => Some(&**e),
                    Type::Tuple(elems) => elems.get(i),
                    _ => None,
                };
                if let Some(ety) = ety {
                    compare(type_name, ety, &path.index(i as i64), s, b, out);
                }
            }
        }
        Type::Map(elem) => {
            let (Value::Map(s) | Value::Object(s), Value::Map(b) | Value::Object(b)) = (sent, back) else {
                problem(out, format!("the model gave back {back:?}, not a map"));
                return;
            };
            if s.keys().ne(b.keys()) {
                problem(
                    out,
                    format!(
                        "sent keys {:?}, the model gave back {:?}",
                        s.keys().collect::<Vec<_>>(),
                        b.keys().collect::<Vec<_>>()
                    ),
                );
                return;
            }
            for (k, s) in s {
                if let Some(b) = b.get(k) {
                    compare(type_name, elem, &path.key(k), s, b, out);
                }
            }
        }
        Type::Object(attrs) => {
            let (Value::Object(s) | Value::Map(s), Value::Object(b) | Value::Map(b)) = (sent, back) else {
                problem(out, format!("the model gave back {back:?}, not an object (a struct)"));
                return;
            };
            for (name, aty) in attrs {
                let p = path.attr(name);
                match (s.get(name), b.get(name)) {
                    (Some(s), Some(b)) => compare(type_name, aty, &p, s, b, out),
                    (_, None) => out.push(format!(
                        "{type_name}: `{p}` ({aty}): the schema declares it, but the model has no field of that \
                         name (its value is always lost)"
                    )),
                    (None, Some(_)) => {}
                }
            }
            for name in b.keys().filter(|k| !attrs.contains_key(*k)) {
                out.push(format!(
                    "{type_name}: `{}`: the model has this field, but the schema has no such attribute or block \
                     (encoding any state fails)",
                    path.attr(name)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::schema::NestedBlock;
    use crate::schema::validators::one_of;
    use crate::timeouts::{self, Timeouts};

    /// Every kind of attribute and block the check walks.
    fn schema() -> Schema {
        Schema::new("widget")
            .attribute(Attribute::string("name").required())
            .attribute(Attribute::string("description").optional())
            .attribute(Attribute::number("size").optional_computed())
            .attribute(Attribute::bool("enabled").default(true))
            .attribute(
                Attribute::string("colour")
                    .optional()
                    .validator(one_of(&["red", "blue"])),
            )
            .attribute(Attribute::string_set("labels").optional())
            .attribute(Attribute::string_map("tags").optional())
            .attribute(Attribute::string("id").computed())
            .attribute(
                Attribute::new(
                    "parts",
                    Type::list(Type::object([("id", Type::String), ("weight", Type::Number)])),
                )
                .computed(),
            )
            .block(NestedBlock::new(
                "rule",
                Nesting::List,
                Block::new("rule")
                    .attribute(Attribute::string("match").required())
                    .attribute(Attribute::number("priority").optional()),
            ))
            .block(timeouts::block(&["create", "update", "delete"]))
    }

    #[derive(Serialize, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Colour {
        Red,
        Blue,
    }

    #[derive(Serialize, Deserialize)]
    struct Part {
        id: String,
        weight: f64,
    }

    #[derive(Serialize, Deserialize)]
    struct Rule {
        #[serde(rename = "match")]
        pattern: String,
        priority: Option<u32>,
    }

    #[derive(Serialize, Deserialize)]
    struct Widget {
        name: String,
        description: Option<String>,
        size: Option<i64>,
        enabled: Option<bool>,
        colour: Option<Colour>,
        labels: Option<BTreeSet<String>>,
        tags: Option<BTreeMap<String, String>>,
        id: Option<String>,
        parts: Option<Vec<Part>>,
        rule: Vec<Rule>,
        timeouts: Option<Timeouts>,
    }

    /// `Widget` with one thing changed; the rest as in `Widget`.
    macro_rules! widget_variant {
        ($name:ident { $($field:tt)* }) => {
            #[derive(Serialize, Deserialize)]
            struct $name {
                name: String,
                size: Option<i64>,
                enabled: Option<bool>,
                colour: Option<Colour>,
                labels: Option<BTreeSet<String>>,
                tags: Option<BTreeMap<String, String>>,
                id: Option<String>,
                parts: Option<Vec<Part>>,
                rule: Vec<Rule>,
                $($field)*
            }
        };
    }

    fn problems<M: Serialize + DeserializeOwned>(schema: &Schema) -> Vec<String> {
        match check_model::<M>("test_widget", schema) {
            Ok(()) => Vec::new(),
            Err(p) => p,
        }
    }

    /// Checks name attributes in backticks; decode errors as `name: detail`.
    fn names(problem: &str, attribute: &str) -> bool {
        problem.contains(&format!("`{attribute}`")) || problem.contains(&format!(" {attribute}: "))
    }

    fn assert_reports(problems: &[String], attribute: &str, what: &str) {
        assert!(
            problems
                .iter()
                .any(|p| p.starts_with("test_widget: ") && names(p, attribute) && p.contains(what)),
            "no problem naming `{attribute}` with {what:?} in {problems:#?}"
        );
    }

    #[test]
    fn a_matching_model_passes() {
        assert_eq!(problems::<Widget>(&schema()), Vec::<String>::new());
    }

    #[test]
    fn a_model_field_renamed_is_reported_on_both_sides() {
        widget_variant!(Renamed {
            summary: Option<String>,
            timeouts: Option<Timeouts>,
        });
        let p = problems::<Renamed>(&schema());
        assert_reports(&p, "description", "the model has no field of that name");
        assert_reports(&p, "summary", "the schema has no such attribute");
    }

    #[test]
    fn a_required_model_field_renamed_fails_to_decode() {
        #[derive(Serialize, Deserialize)]
        struct Renamed {
            title: String,
        }
        let schema = Schema::new("w").attribute(Attribute::string("name").required());
        let p = problems::<Renamed>(&schema);
        assert_reports(&p, "title", "cannot hold a value with every attribute set");
    }

    #[test]
    fn a_schema_attribute_renamed_is_reported_on_both_sides() {
        let mut schema = schema();
        for a in &mut schema.block.attributes {
            if a.name == "description" {
                a.name = "summary".to_string();
            }
        }
        let p = problems::<Widget>(&schema);
        assert_reports(&p, "summary", "the model has no field of that name");
        assert_reports(&p, "description", "the schema has no such attribute");
    }

    #[test]
    fn a_field_of_the_wrong_type_is_reported() {
        // A string field for a number or bool attribute decodes (cty converts
        // primitives to strings), but the state it encodes would hold strings.
        #[derive(Serialize, Deserialize)]
        struct Strings {
            size: Option<String>,
            enabled: Option<String>,
        }
        let schema = Schema::new("w")
            .attribute(Attribute::number("size").optional())
            .attribute(Attribute::bool("enabled").optional());
        let p = problems::<Strings>(&schema);
        assert_reports(&p, "size", "type does not match");
        assert_reports(&p, "enabled", "type does not match");

        // A number field for a string attribute does not decode at all.
        widget_variant!(NumberDescription {
            description: Option<i64>,
            timeouts: Option<Timeouts>,
        });
        let p = problems::<NumberDescription>(&self::schema());
        assert_reports(&p, "description", "expected a number");
    }

    #[test]
    fn a_nested_field_of_the_wrong_type_is_reported() {
        #[derive(Serialize, Deserialize)]
        struct Part {
            id: String,
            weight: String,
        }
        #[derive(Serialize, Deserialize)]
        struct M {
            parts: Option<Vec<Part>>,
        }
        let schema = Schema::new("w").attribute(
            Attribute::new(
                "parts",
                Type::list(Type::object([("id", Type::String), ("weight", Type::Number)])),
            )
            .computed(),
        );
        let p = problems::<M>(&schema);
        assert_reports(&p, "parts[0].weight", "type does not match");
    }

    #[test]
    fn a_non_option_field_for_an_optional_attribute_is_reported() {
        widget_variant!(Plain {
            description: String,
            timeouts: Option<Timeouts>,
        });
        let p = problems::<Plain>(&schema());
        assert_reports(&p, "description", "cannot hold it null");
        assert_reports(&p, "description", "make its field an Option");
        assert!(p.iter().all(|m| m.contains("`description`")), "{p:#?}");
    }

    #[test]
    fn a_non_option_field_for_a_computed_attribute_is_reported() {
        #[derive(Serialize, Deserialize)]
        struct M {
            id: String,
        }
        let schema = Schema::new("w").attribute(Attribute::string("id").computed());
        let p = problems::<M>(&schema);
        assert_reports(&p, "id", "(computed string): the model cannot hold it null");
        assert_reports(&p, "id", "cannot hold it unknown");
    }

    #[test]
    fn a_non_option_field_for_an_optional_block_is_reported() {
        widget_variant!(Required {
            description: Option<String>,
            timeouts: Timeouts,
        });
        let p = problems::<Required>(&schema());
        assert_reports(&p, "timeouts", "absent");
    }

    #[test]
    fn a_nested_block_missing_an_operation_is_reported() {
        // `Timeouts` has all three operations; a block declaring two cannot
        // encode the state the model gives back.
        let mut schema = schema();
        schema.block.blocks.retain(|b| b.type_name != "timeouts");
        let schema = schema.block(timeouts::block(&["create", "update"]));
        let p = problems::<Widget>(&schema);
        assert_reports(&p, "timeouts.delete", "the schema has no such attribute");
        assert_eq!(p.len(), 1, "{p:#?}");

        // What the message claims: such a state does not encode.
        let state = Timeouts {
            create: Some("5m".to_string()),
            ..Timeouts::default()
        };
        let value = to_value(&state).expect("to_value");
        let block = timeouts::block(&["create", "update"]);
        let err = crate::value::encode_msgpack(&value, &block.ty()).expect_err("encodes");
        assert!(err.message.contains("unsupported attribute \"delete\""), "{err}");
    }

    #[test]
    fn an_attribute_inside_a_block_renamed_is_reported() {
        let mut schema = schema();
        for b in &mut schema.block.blocks {
            if b.type_name == "rule" {
                b.block.attributes[1].name = "rank".to_string();
            }
        }
        let p = problems::<Widget>(&schema);
        assert_reports(&p, "rule[0].rank", "the model has no field of that name");
        assert_reports(&p, "rule[0].priority", "the schema has no such attribute");
    }
}
