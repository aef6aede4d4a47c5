// The value types fuzzed: what resource schemas use, plus dynamic values that name their own
// type. The first input byte picks one.
use tfplugin::Type;

pub fn pick(selector: u8) -> Type {
    let types = [
        Type::String,
        Type::Number,
        Type::Bool,
        Type::list(Type::String),
        Type::set(Type::String),
        Type::map(Type::String),
        Type::set(Type::object([("id", Type::String), ("n", Type::Number)])),
        Type::object([
            ("name", Type::String),
            ("tags", Type::map(Type::String)),
            ("arns", Type::set(Type::String)),
            (
                "accounts",
                Type::map(Type::object([("status", Type::String), ("id", Type::Number)])),
            ),
        ]),
        Type::Dynamic,
        Type::list(Type::Dynamic),
    ];
    types[usize::from(selector) % types.len()].clone()
}
