use std::collections::BTreeMap;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
}

#[test]
fn unknown_is_extension_zero_and_refined_unknowns_decode() {
    let bytes = encode_msgpack(&Value::Unknown, &Type::String).expect("encode");
    assert_eq!(bytes, vec![0xd4, 0x00, 0x00]);
    // A refined unknown (extension 12 with a refinement payload) is still unknown.
    let refined = [0xc7, 0x03, 0x0c, 0x81, 0x01, 0xc3];
    assert_eq!(decode_msgpack(&refined, &Type::String), Ok(Value::Unknown));
}

#[test]
fn big_numbers_round_trip_exactly() {
    for text in [
        "123456789012345678901234567890",
        "-0.000000000000000000000001",
        "3.14159265358979323846264338327950288",
    ] {
        let n: Number = text.parse().expect("number");
        let v = Value::Number(n);
        let mp = encode_msgpack(&v, &Type::Number).expect("encode");
        assert_eq!(decode_msgpack(&mp, &Type::Number), Ok(v.clone()));
        let js = encode_json(&v, &Type::Number).expect("encode json");
        assert_eq!(String::from_utf8_lossy(&js), text.trim_start_matches('+'));
        assert_eq!(decode_json(&js, &Type::Number), Ok(v));
    }
}

#[test]
fn dynamic_values_carry_their_type() {
    let ty = Type::list(Type::String);
    let v = Value::Dynamic(Box::new((ty.clone(), Value::List(vec!["a".into(), "b".into()]))));
    let mp = encode_msgpack(&v, &Type::Dynamic).expect("encode");
    assert_eq!(decode_msgpack(&mp, &Type::Dynamic), Ok(v.clone()));
    let js = encode_json(&v, &Type::Dynamic).expect("encode json");
    assert_eq!(
        String::from_utf8_lossy(&js),
        r#"{"value":["a","b"],"type":["list","string"]}"#
    );
    assert_eq!(decode_json(&js, &Type::Dynamic), Ok(v));
}

#[test]
fn object_attributes_missing_on_the_wire_are_null() {
    let ty = Type::object([("a", Type::String), ("b", Type::Bool)]);
    let js = br#"{"a":"x","removed_in_v2":1}"#;
    assert_eq!(decode_json(js, &ty), Ok(obj(&[("a", "x".into()), ("b", Value::Null)])));
}

#[test]
fn sets_are_unordered_and_unique() {
    let a = Value::Set(vec!["x".into(), "y".into()]);
    let b = Value::Set(vec!["y".into(), "x".into()]);
    assert_eq!(a, b);
    let ty = Type::set(Type::String);
    let mp = encode_msgpack(&Value::Set(vec!["x".into(), "x".into()]), &ty).expect("encode");
    assert_eq!(decode_msgpack(&mp, &ty), Ok(Value::Set(vec!["x".into()])));
}

#[test]
fn type_json_round_trips() {
    let ty = Type::object([
        ("list", Type::list(Type::Number)),
        ("tuple", Type::Tuple(vec![Type::Bool, Type::Dynamic])),
        ("map", Type::map(Type::set(Type::String))),
    ]);
    assert_eq!(Type::from_json(&ty.to_json()), Ok(ty));
}

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Model {
    name: String,
    count: i64,
    ratio: Option<f64>,
    tags: BTreeMap<String, String>,
    ids: Vec<String>,
    computed: Option<String>,
}

#[test]
fn models_convert_both_ways_and_unknown_reads_as_none() {
    let m = Model {
        name: "n".into(),
        count: 3,
        ratio: Some(0.5),
        tags: BTreeMap::from([("k".to_string(), "v".to_string())]),
        ids: vec!["a".into()],
        computed: None,
    };
    let v = to_value(&m).expect("to_value");
    assert_eq!(from_value::<Model>(&v), Ok(m));
    let mut planned = v.clone();
    if let Some(slot) = planned.attr_mut("computed") {
        *slot = Value::Unknown;
    }
    assert_eq!(from_value::<Model>(&planned).map(|m| m.computed), Ok(None));
    if let Some(slot) = planned.attr_mut("name") {
        *slot = Value::Unknown;
    }
    assert!(
        from_value::<Model>(&planned).is_err(),
        "an unknown required value is an error"
    );
}

// ---- property tests: random types and conforming values round-trip ----

fn arb_type() -> impl Strategy<Value = Type> {
    let leaf = prop_oneof![
        Just(Type::Bool),
        Just(Type::Number),
        Just(Type::String),
        Just(Type::Dynamic)
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            inner.clone().prop_map(Type::list),
            inner.clone().prop_map(Type::set),
            inner.clone().prop_map(Type::map),
            prop::collection::btree_map("[a-z_]{1,6}", inner.clone(), 0..4).prop_map(Type::Object),
            prop::collection::vec(inner, 0..3).prop_map(Type::Tuple),
        ]
    })
}

fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from),
        any::<u64>().prop_map(Number::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64_exact),
        ("-?[1-9][0-9]{0,40}", "[0-9]{0,30}").prop_filter_map("parse", |(i, f)| {
            let text = if f.is_empty() { i } else { format!("{i}.{f}") };
            text.parse().ok()
        }),
    ]
}

/// A wholly known, non-dynamic concrete type for dynamic positions.
fn concrete_type() -> impl Strategy<Value = Type> {
    arb_type().prop_filter("no nested dynamic", |t| !contains_dynamic(t))
}

fn contains_dynamic(t: &Type) -> bool {
    match t {
        Type::Dynamic => true,
        Type::List(e) | Type::Set(e) | Type::Map(e) => contains_dynamic(e),
        Type::Object(a) => a.values().any(contains_dynamic),
        Type::Tuple(e) => e.iter().any(contains_dynamic),
        _ => false,
    }
}

fn arb_value(ty: Type, allow_unknown: bool) -> BoxedStrategy<Value> {
    let known: BoxedStrategy<Value> = match ty.clone() {
        Type::Bool => any::<bool>().prop_map(Value::Bool).boxed(),
        Type::Number => arb_number().prop_map(Value::Number).boxed(),
        Type::String => ".{0,12}".prop_map(Value::String).boxed(),
        Type::Dynamic => concrete_type()
            .prop_flat_map(move |t| {
                arb_value(t.clone(), allow_unknown).prop_map(move |v| Value::Dynamic(Box::new((t.clone(), v))))
            })
            .boxed(),
        Type::List(e) => prop::collection::vec(arb_value(*e, allow_unknown), 0..4)
            .prop_map(Value::List)
            .boxed(),
        Type::Set(e) => prop::collection::vec(arb_value(*e, false), 0..4)
            .prop_map(|items| Value::Set(Value::dedup_set(items)))
            .boxed(),
        Type::Map(e) => prop::collection::btree_map("[a-z]{0,5}", arb_value(*e, allow_unknown), 0..4)
            .prop_map(Value::Map)
            .boxed(),
        Type::Object(attrs) => {
            let strategies: Vec<_> = attrs
                .iter()
                .map(|(k, t)| {
                    let k = k.clone();
                    arb_value(t.clone(), allow_unknown).prop_map(move |v| (k.clone(), v))
                })
                .collect();
            strategies
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
                .boxed()
        }
        Type::Tuple(elems) => {
            let strategies: Vec<_> = elems.into_iter().map(|t| arb_value(t, allow_unknown)).collect();
            strategies.prop_map(Value::Tuple).boxed()
        }
    };
    let null = Just(Value::Null).boxed();
    if allow_unknown {
        prop_oneof![8 => known, 1 => null, 1 => Just(Value::Unknown)].boxed()
    } else {
        prop_oneof![9 => known, 1 => null].boxed()
    }
}

fn typed_value(allow_unknown: bool) -> impl Strategy<Value = (Type, Value)> {
    arb_type().prop_flat_map(move |t| {
        let tt = t.clone();
        arb_value(t, allow_unknown).prop_map(move |v| (tt.clone(), v))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn msgpack_round_trips((ty, value) in typed_value(true)) {
        let bytes = encode_msgpack(&value, &ty).expect("encode");
        let back = decode_msgpack(&bytes, &ty).expect("decode");
        prop_assert_eq!(back, value);
    }

    #[test]
    fn json_round_trips((ty, value) in typed_value(false)) {
        let bytes = encode_json(&value, &ty).expect("encode");
        let back = decode_json(&bytes, &ty).expect("decode");
        prop_assert_eq!(back, value);
    }

    #[test]
    fn numbers_round_trip_through_both_codecs(n in arb_number()) {
        let v = Value::Number(n);
        let mp = encode_msgpack(&v, &Type::Number).expect("encode");
        prop_assert_eq!(decode_msgpack(&mp, &Type::Number).expect("decode"), v.clone());
        let js = encode_json(&v, &Type::Number).expect("encode");
        prop_assert_eq!(decode_json(&js, &Type::Number).expect("decode"), v);
    }

    #[test]
    fn decoding_garbage_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..64), ty in arb_type()) {
        let _ = decode_msgpack(&bytes, &ty);
    }

    #[test]
    fn large_sets_compare_as_small_ones_do(
        (ty, items) in concrete_type().prop_flat_map(|t| {
            let tt = t.clone();
            prop::collection::vec(arb_value(t, false), 0..24).prop_map(move |v| (tt.clone(), v))
        }),
        shift in 0usize..24,
    ) {
        // The same elements in another order, duplicates dropped: equal whatever the size.
        let set = Value::Set(Value::dedup_set(items.clone()));
        let mut rotated = items.clone();
        let by = shift.min(rotated.len());
        rotated.rotate_left(by);
        let other = Value::Set(Value::dedup_set(rotated));
        prop_assert_eq!(&set, &other);
        // Dedup by hash agrees with pairwise equality.
        let mut pairwise: Vec<Value> = Vec::new();
        for item in items {
            if !pairwise.contains(&item) {
                pairwise.push(item);
            }
        }
        prop_assert_eq!(set.elements().map(<[Value]>::len), Some(pairwise.len()), "type {:?}", ty);
    }
}

#[test]
fn values_nested_past_the_bound_are_refused_not_a_stack_overflow() {
    // A dynamic value whose value is again a dynamic value, 100,000 times over.
    let mut bytes = Vec::new();
    for _ in 0..100_000 {
        bytes.extend_from_slice(&[0x92, 0xa9]);
        bytes.extend_from_slice(b"\"dynamic\"");
    }
    bytes.push(0xc0);
    let decoded = decode_msgpack(&bytes, &Type::Dynamic);
    assert!(decoded.is_err_and(|e| e.message.contains("nested deeper")));
}

#[test]
fn a_set_of_many_distinct_elements_dedups() {
    let items: Vec<Value> = (0..50_000)
        .map(|i| Value::String(format!("item-{}", i % 40_000)))
        .collect();
    assert_eq!(Value::dedup_set(items).len(), 40_000);
}
