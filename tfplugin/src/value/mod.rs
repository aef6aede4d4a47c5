//! The cty value model Terraform speaks: types, values (null, unknown, known),
//! arbitrary-precision numbers, and the two wire codecs (msgpack and JSON).
//!
//! Values do not carry their type: encoding and decoding are driven by the
//! schema's [`Type`], as in Terraform itself. Only values in a `dynamic`
//! position remember their concrete type ([`Value::Dynamic`]).

mod json;
mod msgpack;
mod number;
mod serde_impl;

use std::collections::BTreeMap;
use std::fmt;

pub use json::{decode_json, decode_json_value, encode_json};
pub use msgpack::{decode_msgpack, encode_msgpack};
pub use number::Number;
pub use serde_impl::{from_value, to_value};

/// A cty type.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Number,
    String,
    /// Any type; values carry their concrete type on the wire.
    Dynamic,
    List(Box<Type>),
    Set(Box<Type>),
    Map(Box<Type>),
    Object(BTreeMap<String, Type>),
    Tuple(Vec<Type>),
}

impl Type {
    pub fn list(element: Type) -> Type {
        Type::List(Box::new(element))
    }
    pub fn set(element: Type) -> Type {
        Type::Set(Box::new(element))
    }
    pub fn map(element: Type) -> Type {
        Type::Map(Box::new(element))
    }
    pub fn object<K: Into<String>>(attributes: impl IntoIterator<Item = (K, Type)>) -> Type {
        Type::Object(attributes.into_iter().map(|(k, t)| (k.into(), t)).collect())
    }

    /// The type in Terraform's JSON notation, e.g. `["list","string"]`.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Type::Bool => J::from("bool"),
            Type::Number => J::from("number"),
            Type::String => J::from("string"),
            Type::Dynamic => J::from("dynamic"),
            Type::List(e) => J::Array(vec![J::from("list"), e.to_json()]),
            Type::Set(e) => J::Array(vec![J::from("set"), e.to_json()]),
            Type::Map(e) => J::Array(vec![J::from("map"), e.to_json()]),
            Type::Object(attrs) => J::Array(vec![
                J::from("object"),
                J::Object(attrs.iter().map(|(k, t)| (k.clone(), t.to_json())).collect()),
            ]),
            Type::Tuple(elems) => J::Array(vec![
                J::from("tuple"),
                J::Array(elems.iter().map(Type::to_json).collect()),
            ]),
        }
    }

    /// Parses Terraform's JSON type notation. Optional-attribute markers on
    /// object types (a third array element) are accepted and ignored.
    pub fn from_json(json: &serde_json::Value) -> Result<Type, CodecError> {
        use serde_json::Value as J;
        let bad = || CodecError::new(format!("invalid type specification {json}"));
        match json {
            J::String(s) => match s.as_str() {
                "bool" => Ok(Type::Bool),
                "number" => Ok(Type::Number),
                "string" => Ok(Type::String),
                "dynamic" => Ok(Type::Dynamic),
                _ => Err(bad()),
            },
            J::Array(parts) if parts.len() >= 2 => {
                let kind = parts[0].as_str().ok_or_else(bad)?;
                match kind {
                    "list" => Ok(Type::list(Type::from_json(&parts[1])?)),
                    "set" => Ok(Type::set(Type::from_json(&parts[1])?)),
                    "map" => Ok(Type::map(Type::from_json(&parts[1])?)),
                    "object" => {
                        let attrs = parts[1].as_object().ok_or_else(bad)?;
                        let mut out = BTreeMap::new();
                        for (k, v) in attrs {
                            out.insert(k.clone(), Type::from_json(v)?);
                        }
                        Ok(Type::Object(out))
                    }
                    "tuple" => {
                        let elems = parts[1].as_array().ok_or_else(bad)?;
                        Ok(Type::Tuple(
                            elems.iter().map(Type::from_json).collect::<Result<_, _>>()?,
                        ))
                    }
                    _ => Err(bad()),
                }
            }
            _ => Err(bad()),
        }
    }

    /// The JSON type notation as bytes, the form the schema RPC carries.
    pub fn to_json_bytes(&self) -> Vec<u8> {
        self.to_json().to_string().into_bytes()
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Bool => f.write_str("bool"),
            Type::Number => f.write_str("number"),
            Type::String => f.write_str("string"),
            Type::Dynamic => f.write_str("dynamic"),
            Type::List(e) => write!(f, "list({e})"),
            Type::Set(e) => write!(f, "set({e})"),
            Type::Map(e) => write!(f, "map({e})"),
            Type::Object(attrs) => {
                f.write_str("object({")?;
                for (i, (k, t)) in attrs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}={t}")?;
                }
                f.write_str("})")
            }
            Type::Tuple(elems) => {
                f.write_str("tuple([")?;
                for (i, t) in elems.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
        }
    }
}

/// A cty value. Collections and structural values hold their elements; the
/// element types come from the [`Type`] used to encode or decode.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    /// Not known until apply (or not known yet at plan time).
    Unknown,
    Bool(bool),
    Number(Number),
    String(String),
    List(Vec<Value>),
    /// Elements are unique; order carries no meaning.
    Set(Vec<Value>),
    Map(BTreeMap<String, Value>),
    Object(BTreeMap<String, Value>),
    Tuple(Vec<Value>),
    /// A value in a `dynamic` position, with the concrete type it was sent with.
    Dynamic(Box<(Type, Value)>),
}

impl Value {
    pub fn string(s: impl Into<String>) -> Value {
        Value::String(s.into())
    }

    pub fn is_null(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Dynamic(d) => d.1.is_null(),
            _ => false,
        }
    }

    pub fn is_unknown(&self) -> bool {
        match self {
            Value::Unknown => true,
            Value::Dynamic(d) => d.1.is_unknown(),
            _ => false,
        }
    }

    /// True when neither the value nor anything inside it is unknown.
    pub fn is_wholly_known(&self) -> bool {
        match self {
            Value::Unknown => false,
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => v.iter().all(Value::is_wholly_known),
            Value::Map(m) | Value::Object(m) => m.values().all(Value::is_wholly_known),
            Value::Dynamic(d) => d.1.is_wholly_known(),
            _ => true,
        }
    }

    /// The attribute `name` of an object (or the key of a map); null when the
    /// value is not an object or has no such attribute.
    pub fn attr(&self, name: &str) -> &Value {
        match self {
            Value::Object(m) | Value::Map(m) => m.get(name).unwrap_or(&NULL),
            Value::Dynamic(d) => d.1.attr(name),
            _ => &NULL,
        }
    }

    /// Mutable access to an object attribute, inserting null if missing.
    /// Does nothing useful on non-objects (returns a detached null).
    pub fn attr_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self {
            Value::Object(m) | Value::Map(m) => Some(m.entry(name.to_string()).or_insert(Value::Null)),
            _ => None,
        }
    }

    /// Follows an attribute path; null where the path leads nowhere.
    pub fn at(&self, path: &crate::AttrPath) -> &Value {
        let mut cur = self;
        for step in path.steps() {
            cur = match (step, cur) {
                (crate::PathStep::Attr(name), v) => v.attr(name),
                (crate::PathStep::Key(k), v) => v.attr(k),
                (crate::PathStep::Index(i), Value::List(items) | Value::Tuple(items) | Value::Set(items)) => {
                    usize::try_from(*i).ok().and_then(|i| items.get(i)).unwrap_or(&NULL)
                }
                _ => &NULL,
            };
        }
        cur
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            Value::Dynamic(d) => d.1.as_str(),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            Value::Dynamic(d) => d.1.as_bool(),
            _ => None,
        }
    }

    pub fn as_number(&self) -> Option<&Number> {
        match self {
            Value::Number(n) => Some(n),
            Value::Dynamic(d) => d.1.as_number(),
            _ => None,
        }
    }

    /// Elements of a list, set or tuple.
    pub fn elements(&self) -> Option<&[Value]> {
        match self {
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => Some(v),
            Value::Dynamic(d) => d.1.elements(),
            _ => None,
        }
    }

    /// Paths (relative to this value) of every unknown inside it.
    pub fn unknown_paths(&self) -> Vec<crate::AttrPath> {
        let mut out = Vec::new();
        self.collect_unknown(&crate::AttrPath::root(), &mut out);
        out
    }

    fn collect_unknown(&self, at: &crate::AttrPath, out: &mut Vec<crate::AttrPath>) {
        match self {
            Value::Unknown => out.push(at.clone()),
            Value::List(v) | Value::Set(v) | Value::Tuple(v) => {
                for (i, e) in v.iter().enumerate() {
                    e.collect_unknown(&at.index(i as i64), out);
                }
            }
            Value::Object(m) => {
                for (k, e) in m {
                    e.collect_unknown(&at.attr(k), out);
                }
            }
            Value::Map(m) => {
                for (k, e) in m {
                    e.collect_unknown(&at.key(k), out);
                }
            }
            Value::Dynamic(d) => d.1.collect_unknown(at, out),
            _ => {}
        }
    }

    /// Removes duplicates from set values (recursively), keeping first occurrences. Hashes
    /// each element's canonical form: comparing every pair would make a set of n elements
    /// cost n^2 comparisons, which a hostile plan could make large.
    pub(crate) fn dedup_set(items: Vec<Value>) -> Vec<Value> {
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        let mut out: Vec<Value> = Vec::with_capacity(items.len());
        for item in items {
            // Unknown elements are never equal to each other: keep them all.
            if item.is_unknown() || seen.insert(item.canonical()) {
                out.push(item);
            }
        }
        out
    }

    /// Bytes that are equal exactly when the values are (`PartialEq`): numbers by value, sets
    /// whatever their order, maps and objects by key.
    fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.write_canonical(&mut out);
        out
    }

    fn write_canonical(&self, out: &mut Vec<u8>) {
        fn bytes(out: &mut Vec<u8>, b: &[u8]) {
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(b);
        }
        match self {
            Value::Null => out.push(0),
            Value::Unknown => out.push(1),
            Value::Bool(b) => out.extend_from_slice(&[2, u8::from(*b)]),
            Value::Number(n) => {
                out.push(3);
                let (digits, exponent) = n.as_decimal().normalized().as_bigint_and_exponent();
                bytes(out, &digits.to_signed_bytes_le());
                out.extend_from_slice(&exponent.to_le_bytes());
            }
            Value::String(s) => {
                out.push(4);
                bytes(out, s.as_bytes());
            }
            Value::List(items) | Value::Tuple(items) => {
                out.push(if matches!(self, Value::List(_)) { 5 } else { 6 });
                out.extend_from_slice(&(items.len() as u64).to_le_bytes());
                for item in items {
                    item.write_canonical(out);
                }
            }
            Value::Set(items) => {
                out.push(7);
                let mut keys: Vec<Vec<u8>> = items.iter().map(Value::canonical).collect();
                keys.sort_unstable();
                keys.dedup();
                out.extend_from_slice(&(keys.len() as u64).to_le_bytes());
                for key in keys {
                    bytes(out, &key);
                }
            }
            Value::Map(entries) | Value::Object(entries) => {
                out.push(if matches!(self, Value::Map(_)) { 8 } else { 9 });
                out.extend_from_slice(&(entries.len() as u64).to_le_bytes());
                for (k, v) in entries {
                    bytes(out, k.as_bytes());
                    v.write_canonical(out);
                }
            }
            Value::Dynamic(d) => {
                out.push(10);
                bytes(out, &d.0.to_json_bytes());
                d.1.write_canonical(out);
            }
        }
    }
}

static NULL: Value = Value::Null;

impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) | (Value::Unknown, Value::Unknown) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::List(a), Value::List(b)) | (Value::Tuple(a), Value::Tuple(b)) => a == b,
            (Value::Set(a), Value::Set(b)) if a.len() <= 8 && b.len() <= 8 => {
                a.len() == b.len() && a.iter().all(|x| b.contains(x)) && b.iter().all(|x| a.contains(x))
            }
            // Larger sets by their canonical form: n log n, not n^2.
            (Value::Set(_), Value::Set(_)) => self.canonical() == other.canonical(),
            (Value::Map(a), Value::Map(b)) | (Value::Object(a), Value::Object(b)) => a == b,
            (Value::Dynamic(a), Value::Dynamic(b)) => a.0 == b.0 && a.1 == b.1,
            _ => false,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Number(Number::from(n))
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

/// An error while encoding or decoding a value, with the path where it happened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}{}", if path.is_empty() { String::new() } else { format!(" (at {path})") })]
pub struct CodecError {
    pub message: String,
    pub path: String,
}

impl CodecError {
    pub fn new(message: impl Into<String>) -> CodecError {
        CodecError {
            message: message.into(),
            path: String::new(),
        }
    }
    pub(crate) fn at(message: impl Into<String>, path: &crate::AttrPath) -> CodecError {
        CodecError {
            message: message.into(),
            path: path.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
