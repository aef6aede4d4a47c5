//! cty's msgpack encoding: the form Terraform uses for every value on the wire.
//!
//! - null is msgpack nil; unknown is an extension value (type 0 from us; any
//!   extension type is read as unknown, which covers refined unknowns, type 12);
//! - numbers are ints, float64s or decimal strings (see [`Number::to_wire`]);
//! - objects and maps are msgpack maps, lists/sets/tuples arrays;
//! - a value in a `dynamic` position is `[type as JSON bytes, value]`.

use std::collections::BTreeMap;

use rmp::Marker;

use super::number::WireNumber;
use super::{CodecError, Number, Type, Value};
use crate::AttrPath;

pub fn encode_msgpack(value: &Value, ty: &Type) -> Result<Vec<u8>, CodecError> {
    let mut out = Vec::with_capacity(64);
    encode(value, ty, &AttrPath::root(), &mut out)?;
    Ok(out)
}

pub fn decode_msgpack(bytes: &[u8], ty: &Type) -> Result<Value, CodecError> {
    let mut reader = Reader {
        buf: bytes,
        pos: 0,
        depth: 0,
    };
    let value = decode(&mut reader, ty, &AttrPath::root())?;
    if reader.pos != bytes.len() {
        return Err(CodecError::new("trailing bytes after msgpack value"));
    }
    Ok(value)
}

// Writing to a Vec cannot fail; rmp's io errors are unreachable here.
fn w<T, E>(r: Result<T, E>) {
    let _ = r;
}

fn encode(value: &Value, ty: &Type, path: &AttrPath, out: &mut Vec<u8>) -> Result<(), CodecError> {
    if *ty == Type::Dynamic {
        return encode_dynamic(value, path, out);
    }
    match value {
        Value::Unknown => {
            w(rmp::encode::write_ext_meta(out, 1, 0));
            out.push(0);
            return Ok(());
        }
        Value::Null => {
            w(rmp::encode::write_nil(out));
            return Ok(());
        }
        // A dynamic wrapper in a typed position: encode the inner value.
        Value::Dynamic(d) => return encode(&d.1, ty, path, out),
        _ => {}
    }
    let mismatch = || CodecError::at(format!("value does not conform to type {ty}: {value:?}"), path);
    match ty {
        Type::Bool => match value {
            Value::Bool(b) => w(rmp::encode::write_bool(out, *b)),
            _ => return Err(mismatch()),
        },
        Type::Number => match value {
            Value::Number(n) => write_number(n, out),
            _ => return Err(mismatch()),
        },
        Type::String => match value {
            Value::String(s) => w(rmp::encode::write_str(out, s)),
            _ => return Err(mismatch()),
        },
        Type::List(elem) | Type::Set(elem) => {
            let items = match value {
                Value::List(v) | Value::Set(v) | Value::Tuple(v) => v,
                _ => return Err(mismatch()),
            };
            let deduped;
            let items = if matches!(ty, Type::Set(_)) {
                deduped = Value::dedup_set(items.clone());
                &deduped
            } else {
                items
            };
            w(rmp::encode::write_array_len(out, len_u32(items.len(), path)?));
            for (i, item) in items.iter().enumerate() {
                encode(item, elem, &path.index(i as i64), out)?;
            }
        }
        Type::Map(elem) => {
            let entries = match value {
                Value::Map(m) | Value::Object(m) => m,
                _ => return Err(mismatch()),
            };
            w(rmp::encode::write_map_len(out, len_u32(entries.len(), path)?));
            for (k, v) in entries {
                w(rmp::encode::write_str(out, k));
                encode(v, elem, &path.key(k), out)?;
            }
        }
        Type::Object(attrs) => {
            let entries = match value {
                Value::Object(m) | Value::Map(m) => m,
                _ => return Err(mismatch()),
            };
            if let Some(extra) = entries.keys().find(|k| !attrs.contains_key(*k)) {
                return Err(CodecError::at(format!("unsupported attribute {extra:?}"), path));
            }
            w(rmp::encode::write_map_len(out, len_u32(attrs.len(), path)?));
            for (name, aty) in attrs {
                w(rmp::encode::write_str(out, name));
                let v = entries.get(name).unwrap_or(&Value::Null);
                encode(v, aty, &path.attr(name), out)?;
            }
        }
        Type::Tuple(elems) => {
            let items = match value {
                Value::Tuple(v) | Value::List(v) => v,
                _ => return Err(mismatch()),
            };
            if items.len() != elems.len() {
                return Err(CodecError::at(
                    format!("tuple needs {} elements, got {}", elems.len(), items.len()),
                    path,
                ));
            }
            w(rmp::encode::write_array_len(out, len_u32(items.len(), path)?));
            for (i, (item, ety)) in items.iter().zip(elems).enumerate() {
                encode(item, ety, &path.index(i as i64), out)?;
            }
        }
        Type::Dynamic => unreachable!("handled above"),
    }
    Ok(())
}

fn encode_dynamic(value: &Value, path: &AttrPath, out: &mut Vec<u8>) -> Result<(), CodecError> {
    match value {
        Value::Unknown => {
            w(rmp::encode::write_ext_meta(out, 1, 0));
            out.push(0);
            Ok(())
        }
        Value::Null => {
            w(rmp::encode::write_nil(out));
            Ok(())
        }
        Value::Dynamic(d) => {
            let (ty, inner) = &**d;
            w(rmp::encode::write_array_len(out, 2));
            let ty_json = ty.to_json_bytes();
            w(rmp::encode::write_bin(out, &ty_json));
            encode(inner, ty, path, out)
        }
        // Primitive values have an obvious type; anything else needs the wrapper.
        Value::Bool(_) => encode_dynamic(&Value::Dynamic(Box::new((Type::Bool, value.clone()))), path, out),
        Value::Number(_) => encode_dynamic(&Value::Dynamic(Box::new((Type::Number, value.clone()))), path, out),
        Value::String(_) => encode_dynamic(&Value::Dynamic(Box::new((Type::String, value.clone()))), path, out),
        _ => Err(CodecError::at(
            "a structured value in a dynamic position needs its type (Value::Dynamic)",
            path,
        )),
    }
}

fn write_number(n: &Number, out: &mut Vec<u8>) {
    match n.to_wire() {
        WireNumber::Int(i) => w(rmp::encode::write_sint(out, i)),
        WireNumber::Float(f) => w(rmp::encode::write_f64(out, f)),
        WireNumber::Text(t) => w(rmp::encode::write_str(out, &t)),
    }
}

fn len_u32(len: usize, path: &AttrPath) -> Result<u32, CodecError> {
    u32::try_from(len).map_err(|_| CodecError::at("collection too large", path))
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Values being decoded around the current one.
    depth: usize,
}

/// Deepest nesting decoded. Schemas nest a few levels; dynamic values name their own type, so
/// without a bound a hostile message could nest until the stack overflows.
const MAX_DEPTH: usize = 128;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(CodecError::new("unexpected end of msgpack data")),
        }
    }
    fn peek(&self) -> Result<Marker, CodecError> {
        self.buf
            .get(self.pos)
            .map(|b| Marker::from_u8(*b))
            .ok_or_else(|| CodecError::new("unexpected end of msgpack data"))
    }
    fn marker(&mut self) -> Result<Marker, CodecError> {
        let m = self.peek()?;
        self.pos += 1;
        Ok(m)
    }
    fn be<const N: usize>(&mut self) -> Result<[u8; N], CodecError> {
        let s = self.take(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.be::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(self.be()?))
    }
    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(self.be()?))
    }
    fn u64(&mut self) -> Result<u64, CodecError> {
        Ok(u64::from_be_bytes(self.be()?))
    }

    /// Skips one complete value (used for extension payloads and ignored data).
    fn skip(&mut self) -> Result<(), CodecError> {
        let m = self.marker()?;
        match m {
            Marker::FixPos(_) | Marker::FixNeg(_) | Marker::Null | Marker::True | Marker::False => Ok(()),
            Marker::U8 | Marker::I8 => self.take(1).map(drop),
            Marker::U16 | Marker::I16 => self.take(2).map(drop),
            Marker::U32 | Marker::I32 | Marker::F32 => self.take(4).map(drop),
            Marker::U64 | Marker::I64 | Marker::F64 => self.take(8).map(drop),
            Marker::FixStr(n) => self.take(n as usize).map(drop),
            Marker::Str8 | Marker::Bin8 => {
                let n = self.u8()? as usize;
                self.take(n).map(drop)
            }
            Marker::Str16 | Marker::Bin16 => {
                let n = self.u16()? as usize;
                self.take(n).map(drop)
            }
            Marker::Str32 | Marker::Bin32 => {
                let n = self.u32()? as usize;
                self.take(n).map(drop)
            }
            Marker::FixArray(n) => (0..n).try_for_each(|_| self.skip()),
            Marker::Array16 => {
                let n = self.u16()?;
                (0..n).try_for_each(|_| self.skip())
            }
            Marker::Array32 => {
                let n = self.u32()?;
                (0..n).try_for_each(|_| self.skip())
            }
            Marker::FixMap(n) => (0..u32::from(n) * 2).try_for_each(|_| self.skip()),
            Marker::Map16 => {
                let n = u32::from(self.u16()?);
                (0..n * 2).try_for_each(|_| self.skip())
            }
            Marker::Map32 => {
                let n = u64::from(self.u32()?);
                (0..n * 2).try_for_each(|_| self.skip())
            }
            Marker::FixExt1 => self.take(2).map(drop),
            Marker::FixExt2 => self.take(3).map(drop),
            Marker::FixExt4 => self.take(5).map(drop),
            Marker::FixExt8 => self.take(9).map(drop),
            Marker::FixExt16 => self.take(17).map(drop),
            Marker::Ext8 => {
                let n = self.u8()? as usize;
                self.take(n + 1).map(drop)
            }
            Marker::Ext16 => {
                let n = self.u16()? as usize;
                self.take(n + 1).map(drop)
            }
            Marker::Ext32 => {
                let n = self.u32()? as usize;
                self.take(n + 1).map(drop)
            }
            Marker::Reserved => Err(CodecError::new("reserved msgpack marker")),
        }
    }

    fn string(&mut self, path: &AttrPath) -> Result<String, CodecError> {
        let n = match self.marker()? {
            Marker::FixStr(n) => n as usize,
            Marker::Str8 | Marker::Bin8 => self.u8()? as usize,
            Marker::Str16 | Marker::Bin16 => self.u16()? as usize,
            Marker::Str32 | Marker::Bin32 => self.u32()? as usize,
            m => return Err(CodecError::at(format!("expected a string, found {m:?}"), path)),
        };
        let bytes = self.take(n)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| CodecError::at("string is not valid UTF-8", path))
    }

    fn array_len(&mut self, path: &AttrPath) -> Result<usize, CodecError> {
        match self.marker()? {
            Marker::FixArray(n) => Ok(n as usize),
            Marker::Array16 => Ok(self.u16()? as usize),
            Marker::Array32 => Ok(self.u32()? as usize),
            m => Err(CodecError::at(format!("expected an array, found {m:?}"), path)),
        }
    }

    fn map_len(&mut self, path: &AttrPath) -> Result<usize, CodecError> {
        match self.marker()? {
            Marker::FixMap(n) => Ok(n as usize),
            Marker::Map16 => Ok(self.u16()? as usize),
            Marker::Map32 => Ok(self.u32()? as usize),
            m => Err(CodecError::at(format!("expected a map, found {m:?}"), path)),
        }
    }

    fn number(&mut self, path: &AttrPath) -> Result<Number, CodecError> {
        let m = self.peek()?;
        let n = match m {
            Marker::FixPos(v) => {
                self.pos += 1;
                Number::from(i64::from(v))
            }
            Marker::FixNeg(v) => {
                self.pos += 1;
                Number::from(i64::from(v))
            }
            Marker::U8 => {
                self.pos += 1;
                Number::from(i64::from(self.u8()?))
            }
            Marker::U16 => {
                self.pos += 1;
                Number::from(i64::from(self.u16()?))
            }
            Marker::U32 => {
                self.pos += 1;
                Number::from(i64::from(self.u32()?))
            }
            Marker::U64 => {
                self.pos += 1;
                Number::from(self.u64()?)
            }
            Marker::I8 => {
                self.pos += 1;
                Number::from(i64::from(self.u8()? as i8))
            }
            Marker::I16 => {
                self.pos += 1;
                Number::from(i64::from(self.u16()? as i16))
            }
            Marker::I32 => {
                self.pos += 1;
                Number::from(i64::from(self.u32()? as i32))
            }
            Marker::I64 => {
                self.pos += 1;
                Number::from(self.u64()? as i64)
            }
            Marker::F32 => {
                self.pos += 1;
                let f = f32::from_bits(self.u32()?);
                Number::from_f64_exact(f64::from(f))
                    .ok_or_else(|| CodecError::at("infinite or NaN numbers are not supported", path))?
            }
            Marker::F64 => {
                self.pos += 1;
                let f = f64::from_bits(self.u64()?);
                Number::from_f64_exact(f)
                    .ok_or_else(|| CodecError::at("infinite or NaN numbers are not supported", path))?
            }
            Marker::FixStr(_) | Marker::Str8 | Marker::Str16 | Marker::Str32 => {
                let s = self.string(path)?;
                s.parse::<Number>().map_err(|e| CodecError::at(e, path))?
            }
            m => return Err(CodecError::at(format!("expected a number, found {m:?}"), path)),
        };
        Ok(n)
    }
}

fn is_ext(m: Marker) -> bool {
    matches!(
        m,
        Marker::FixExt1
            | Marker::FixExt2
            | Marker::FixExt4
            | Marker::FixExt8
            | Marker::FixExt16
            | Marker::Ext8
            | Marker::Ext16
            | Marker::Ext32
    )
}

fn decode(r: &mut Reader<'_>, ty: &Type, path: &AttrPath) -> Result<Value, CodecError> {
    if r.depth >= MAX_DEPTH {
        return Err(CodecError::at(
            format!("values nested deeper than {MAX_DEPTH} levels"),
            path,
        ));
    }
    r.depth += 1;
    let value = decode_nested(r, ty, path);
    r.depth -= 1;
    value
}

fn decode_nested(r: &mut Reader<'_>, ty: &Type, path: &AttrPath) -> Result<Value, CodecError> {
    let m = r.peek()?;
    if is_ext(m) {
        // Every extension is an unknown (plain or refined); refinements are dropped.
        r.skip()?;
        return Ok(Value::Unknown);
    }
    if *ty == Type::Dynamic {
        return decode_dynamic(r, path);
    }
    if matches!(m, Marker::Null) {
        r.pos += 1;
        return Ok(Value::Null);
    }
    match ty {
        Type::Bool => match r.marker()? {
            Marker::True => Ok(Value::Bool(true)),
            Marker::False => Ok(Value::Bool(false)),
            m => Err(CodecError::at(format!("expected a bool, found {m:?}"), path)),
        },
        Type::Number => Ok(Value::Number(r.number(path)?)),
        Type::String => Ok(Value::String(r.string(path)?)),
        Type::List(elem) | Type::Set(elem) => {
            let n = r.array_len(path)?;
            let mut items = Vec::with_capacity(n.min(1024));
            for i in 0..n {
                items.push(decode(r, elem, &path.index(i as i64))?);
            }
            Ok(if matches!(ty, Type::Set(_)) {
                Value::Set(Value::dedup_set(items))
            } else {
                Value::List(items)
            })
        }
        Type::Map(elem) => {
            let n = r.map_len(path)?;
            let mut entries = BTreeMap::new();
            for _ in 0..n {
                let k = r.string(path)?;
                let v = decode(r, elem, &path.key(&k))?;
                entries.insert(k, v);
            }
            Ok(Value::Map(entries))
        }
        Type::Object(attrs) => {
            let n = r.map_len(path)?;
            let mut entries = BTreeMap::new();
            for _ in 0..n {
                let k = r.string(path)?;
                match attrs.get(&k) {
                    Some(aty) => {
                        let v = decode(r, aty, &path.attr(&k))?;
                        entries.insert(k, v);
                    }
                    None => return Err(CodecError::at(format!("unsupported attribute {k:?}"), path)),
                }
            }
            // Attributes absent on the wire are null.
            for name in attrs.keys() {
                entries.entry(name.clone()).or_insert(Value::Null);
            }
            Ok(Value::Object(entries))
        }
        Type::Tuple(elems) => {
            let n = r.array_len(path)?;
            if n != elems.len() {
                return Err(CodecError::at(
                    format!("tuple needs {} elements, got {n}", elems.len()),
                    path,
                ));
            }
            let mut items = Vec::with_capacity(n);
            for (i, ety) in elems.iter().enumerate() {
                items.push(decode(r, ety, &path.index(i as i64))?);
            }
            Ok(Value::Tuple(items))
        }
        Type::Dynamic => unreachable!("handled above"),
    }
}

fn decode_dynamic(r: &mut Reader<'_>, path: &AttrPath) -> Result<Value, CodecError> {
    if matches!(r.peek()?, Marker::Null) {
        r.pos += 1;
        return Ok(Value::Null);
    }
    let n = r.array_len(path)?;
    if n != 2 {
        return Err(CodecError::at("a dynamic value must be a [type, value] pair", path));
    }
    let ty_text = r.string(path)?;
    let ty_json: serde_json::Value =
        serde_json::from_str(&ty_text).map_err(|e| CodecError::at(format!("invalid dynamic type: {e}"), path))?;
    let ty = Type::from_json(&ty_json)?;
    let inner = decode(r, &ty, path)?;
    Ok(Value::Dynamic(Box::new((ty, inner))))
}
