//! cty's JSON encoding: how Terraform stores state, and what
//! `UpgradeResourceState` / `MoveResourceState` hand us. JSON has no unknowns.
//! A value in a `dynamic` position is `{"value": ..., "type": ...}`.
//!
//! Decoding is lenient where stored state may come from an older schema:
//! attributes the type does not know are ignored, missing ones are null, and
//! strings/numbers/bools are converted the way cty converts primitives.

use std::collections::BTreeMap;

use serde_json::Value as J;

use super::{CodecError, Number, Type, Value};
use crate::AttrPath;

pub fn encode_json(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let json = to_json(value, ty, &AttrPath::root())?;
    serde_json::to_vec(&json).map_err(|e| CodecError::new(e.to_string()))
}

pub fn decode_json(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let json: J = serde_json::from_slice(bytes).map_err(|e| CodecError::new(format!("invalid JSON: {e}")))?;
    from_json(&json, ty, &AttrPath::root())
}

fn number_json(n: &Number) -> Result<J, CodecError> {
    // With serde_json's arbitrary_precision the text is kept verbatim.
    serde_json::from_str::<serde_json::Number>(&n.to_plain_string())
        .map(J::Number)
        .map_err(|e| CodecError::new(e.to_string()))
}

pub(crate) fn to_json(value: &Value, ty: &Type, path: &AttrPath) -> Result<J, CodecError> {
    if *ty == Type::Dynamic {
        return match value {
            Value::Null => Ok(J::Null),
            Value::Unknown => Err(CodecError::at("unknown values cannot be encoded as JSON", path)),
            Value::Dynamic(d) => {
                let mut obj = serde_json::Map::new();
                obj.insert("value".into(), to_json(&d.1, &d.0, path)?);
                obj.insert("type".into(), d.0.to_json());
                Ok(J::Object(obj))
            }
            Value::Bool(_) => to_json(&Value::Dynamic(Box::new((Type::Bool, value.clone()))), ty, path),
            Value::Number(_) => to_json(&Value::Dynamic(Box::new((Type::Number, value.clone()))), ty, path),
            Value::String(_) => to_json(&Value::Dynamic(Box::new((Type::String, value.clone()))), ty, path),
            _ => Err(CodecError::at(
                "a structured value in a dynamic position needs its type (Value::Dynamic)",
                path,
            )),
        };
    }
    let mismatch = || CodecError::at(format!("value does not conform to type {ty}: {value:?}"), path);
    match (value, ty) {
        (Value::Unknown, _) => Err(CodecError::at("unknown values cannot be encoded as JSON", path)),
        (Value::Null, _) => Ok(J::Null),
        (Value::Dynamic(d), _) => to_json(&d.1, ty, path),
        (Value::Bool(b), Type::Bool) => Ok(J::Bool(*b)),
        (Value::Number(n), Type::Number) => number_json(n),
        (Value::String(s), Type::String) => Ok(J::String(s.clone())),
        (Value::List(v) | Value::Set(v) | Value::Tuple(v), Type::List(e) | Type::Set(e)) => {
            let items = if matches!(ty, Type::Set(_)) {
                Value::dedup_set(v.clone())
            } else {
                v.clone()
            };
            let out = items
                .iter()
                .enumerate()
                .map(|(i, x)| to_json(x, e, &path.index(i as i64)))
                .collect::<Result<_, _>>()?;
            Ok(J::Array(out))
        }
        (Value::Map(m) | Value::Object(m), Type::Map(e)) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                out.insert(k.clone(), to_json(v, e, &path.key(k))?);
            }
            Ok(J::Object(out))
        }
        (Value::Object(m) | Value::Map(m), Type::Object(attrs)) => {
            if let Some(extra) = m.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::at(format!("unsupported attribute {extra:?}"), path));
            }
            let mut out = serde_json::Map::new();
            for (name, aty) in attrs {
                let v = m.get(name).unwrap_or(&Value::Null);
                out.insert(name.clone(), to_json(v, aty, &path.attr(name))?);
            }
            Ok(J::Object(out))
        }
        (Value::Tuple(v) | Value::List(v), Type::Tuple(elems)) if v.len() == elems.len() => {
            let out = v
                .iter()
                .zip(elems)
                .enumerate()
                .map(|(i, (x, t))| to_json(x, t, &path.index(i as i64)))
                .collect::<Result<_, _>>()?;
            Ok(J::Array(out))
        }
        _ => Err(mismatch()),
    }
}

pub(crate) fn from_json(json: &J, ty: &Type, path: &AttrPath) -> Result<Value, CodecError> {
    if json.is_null() {
        return Ok(Value::Null);
    }
    let mismatch = || CodecError::at(format!("expected {ty}, found {json}"), path);
    match ty {
        Type::Dynamic => {
            let obj = json.as_object().ok_or_else(mismatch)?;
            let t = Type::from_json(obj.get("type").ok_or_else(mismatch)?)?;
            let v = from_json(obj.get("value").unwrap_or(&J::Null), &t, path)?;
            Ok(Value::Dynamic(Box::new((t, v))))
        }
        Type::Bool => match json {
            J::Bool(b) => Ok(Value::Bool(*b)),
            J::String(s) if s == "true" => Ok(Value::Bool(true)),
            J::String(s) if s == "false" => Ok(Value::Bool(false)),
            _ => Err(mismatch()),
        },
        Type::Number => match json {
            J::Number(n) => n
                .to_string()
                .parse::<Number>()
                .map(Value::Number)
                .map_err(|e| CodecError::at(e, path)),
            J::String(s) => s
                .parse::<Number>()
                .map(Value::Number)
                .map_err(|e| CodecError::at(e, path)),
            _ => Err(mismatch()),
        },
        Type::String => match json {
            J::String(s) => Ok(Value::String(s.clone())),
            J::Number(n) => Ok(Value::String(n.to_string())),
            J::Bool(b) => Ok(Value::String(b.to_string())),
            _ => Err(mismatch()),
        },
        Type::List(e) | Type::Set(e) => {
            let arr = json.as_array().ok_or_else(mismatch)?;
            let items = arr
                .iter()
                .enumerate()
                .map(|(i, x)| from_json(x, e, &path.index(i as i64)))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(Value::dedup_set(items))
            } else {
                Value::List(items)
            })
        }
        Type::Map(e) => {
            let obj = json.as_object().ok_or_else(mismatch)?;
            let mut out = BTreeMap::new();
            for (k, v) in obj {
                out.insert(k.clone(), from_json(v, e, &path.key(k))?);
            }
            Ok(Value::Map(out))
        }
        Type::Object(attrs) => {
            let obj = json.as_object().ok_or_else(mismatch)?;
            let mut out = BTreeMap::new();
            for (name, aty) in attrs {
                let v = match obj.get(name) {
                    Some(j) => from_json(j, aty, &path.attr(name))?,
                    None => Value::Null,
                };
                out.insert(name.clone(), v);
            }
            Ok(Value::Object(out))
        }
        Type::Tuple(elems) => {
            let arr = json.as_array().ok_or_else(mismatch)?;
            if arr.len() != elems.len() {
                return Err(mismatch());
            }
            let items = arr
                .iter()
                .zip(elems)
                .enumerate()
                .map(|(i, (x, t))| from_json(x, t, &path.index(i as i64)))
                .collect::<Result<_, _>>()?;
            Ok(Value::Tuple(items))
        }
    }
}

/// Decodes an already-parsed JSON value (stored state) with `ty`.
pub fn decode_json_value(json: &J, ty: &Type) -> Result<Value, CodecError> {
    from_json(json, ty, &AttrPath::root())
}
