//! Logging the way Terraform reads plugin logs: go-hclog JSON lines on stderr
//! (`@level`, `@message`, `@module`, `@timestamp`, then key/values), at the
//! level of `TF_LOG_PROVIDER` or `TF_LOG`. Every line, and every diagnostic,
//! passes through a redactor that replaces registered secrets with `***`;
//! the runtime registers the values of attributes marked sensitive.

use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// What is looked for: each secret, and the base64 forms of it (see
/// [`register_secret`]), longest first.
static SECRETS: RwLock<Vec<Pattern>> = RwLock::new(Vec::new());

#[derive(PartialEq)]
struct Pattern {
    text: String,
    /// Base64 text, only ever percent-encoded again (JSON and XML escape
    /// none of its characters but `/`), which keeps redaction cheap.
    base64: bool,
}

/// Shorter values are not redacted: replacing every "a" would mangle logs
/// without protecting anything. Two, not more, because two is the shortest
/// external id IAM accepts (and the providers' validators with it): a
/// minimum above the shortest valid secret would leave the short ones in
/// the clear, and refusing what IAM accepts would break working roles.
pub const MIN_SECRET_LEN: usize = 2;

/// A base64 run shorter than this is not redacted: such runs occur by
/// chance in any encoded blob (certificates, signatures).
const MIN_BASE64_LEN: usize = 6;

/// How deeply encodings may nest and still be seen through: a JSON escape
/// inside a percent-encoded form field inside an XML body is three.
const MAX_NESTING: u8 = 3;

/// Registers a value that must never appear in logs or diagnostics, in any
/// of the forms it travels in: as is, percent-encoded (`%2B` or `%2b`, `+`
/// for a space), JSON-escaped (`\/`, `\u002b`), as XML character
/// references, these nested in each other, and base64 (standard or URL-safe
/// alphabet, alone or at any offset inside a longer encoded run).
pub fn register_secret(secret: &str) {
    if secret.chars().count() < MIN_SECRET_LEN {
        return;
    }
    let Ok(mut secrets) = SECRETS.write() else { return };
    if secrets.iter().any(|s| s.text == secret && !s.base64) {
        return;
    }
    let own = Pattern {
        text: secret.to_string(),
        base64: false,
    };
    let encoded = base64_forms(secret.as_bytes())
        .into_iter()
        .map(|text| Pattern { text, base64: true });
    for pattern in std::iter::once(own).chain(encoded) {
        if !secrets.iter().any(|s| s.text == pattern.text) {
            secrets.push(pattern);
        }
    }
    // Longest first, so a secret containing another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.text.len()));
}

/// The base64 text that `secret` alone, or `secret` at each of the three
/// byte offsets inside a longer value, always encodes to: the characters
/// whose six bits all come from the secret.
fn base64_forms(secret: &[u8]) -> Vec<String> {
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};
    let mut forms = Vec::new();
    for engine in [&STANDARD, &URL_SAFE] {
        // Alone, padding included: even a short secret's encoding ends in
        // `=`, which keeps it from matching by chance.
        forms.push(engine.encode(secret));
        for offset in 0..3usize {
            let mut bytes = vec![0u8; offset];
            bytes.extend_from_slice(secret);
            let encoded = engine.encode(&bytes);
            let first = (8 * offset).div_ceil(6);
            let end = (8 * (offset + secret.len())) / 6;
            if let Some(core) = encoded.get(first..end)
                && core.len() >= MIN_BASE64_LEN
            {
                forms.push(core.to_string());
            }
        }
    }
    forms
}

/// Replaces every registered secret in `text`, in any form
/// [`register_secret`] names, with `***`.
pub fn redact(text: &str) -> String {
    let Ok(secrets) = SECRETS.read() else {
        return text.to_string();
    };
    if secrets.is_empty() {
        return text.to_string();
    }
    let bytes = text.as_bytes();
    // Bytes a match can start with: a secret's first byte, or an escape.
    let mut starts = [false; 256];
    for s in secrets.iter() {
        if let Some(&b) = s.text.as_bytes().first() {
            starts[usize::from(b)] = true;
        }
    }
    for b in [b'%', b'+', b'\\', b'&'] {
        starts[usize::from(b)] = true;
    }
    let mut out = String::with_capacity(text.len());
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        if starts[usize::from(bytes[i])] && text.is_char_boundary(i) {
            let lead = lead_byte(bytes, i);
            let found = secrets.iter().filter(|s| could_start(s, bytes[i], lead)).find_map(|s| {
                // As is first: the common case, and cheaper.
                if bytes[i..].starts_with(s.text.as_bytes()) {
                    return Some(i + s.text.len());
                }
                // `fold` for base64: percent forms only (its case-insensitive
                // letters could over-redact, never leak).
                match_str(bytes, i, &s.text, MAX_NESTING, s.base64).longest()
            });
            if let Some(end) = found.filter(|&end| end > i) {
                out.push_str(&text[copied..i]);
                out.push_str("***");
                (i, copied) = (end, end);
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&text[copied..]);
    out
}

/// The byte the text at `pos` stands for once a percent escape is
/// decoded, or `None` when it may stand for more than one: a JSON or XML
/// escape, a `+` (a space in form encoding), a `%` (itself an escape, as
/// in `%252B`). Lets [`redact`] skip the patterns that cannot start here:
/// most of a percent-encoded policy is escapes, and trying each pattern at
/// each one made redaction five times slower.
fn lead_byte(text: &[u8], pos: usize) -> Option<u8> {
    let b = match *text.get(pos)? {
        b'%' => {
            let digits = text.get(pos + 1..pos + 3)?;
            u8::from_str_radix(std::str::from_utf8(digits).ok()?, 16).ok()?
        }
        b'+' => return None,
        b => b,
    };
    (!matches!(b, b'\\' | b'&' | b'%')).then_some(b)
}

/// Whether `pattern` can start where the text has `raw`, standing for `lead`.
fn could_start(pattern: &Pattern, raw: u8, lead: Option<u8>) -> bool {
    let Some(&first) = pattern.text.as_bytes().first() else {
        return false;
    };
    match lead {
        None => true,
        Some(b) => first == raw || b == first || (pattern.base64 && b.eq_ignore_ascii_case(&first)),
    }
}

/// Where a match of `pattern` at `pos` can end, each character as is or
/// encoded (several ends when forms overlap: `%` as is, or `%25`). `fold`:
/// the characters are those of an escape, whose hex digits and letters
/// encoders write in either case. A set of positions per character rather
/// than recursion per character: a secret may be a whole policy document.
fn match_str(text: &[u8], pos: usize, pattern: &str, depth: u8, fold: bool) -> Ends {
    let mut at = Ends::one(pos);
    for c in pattern.chars() {
        let mut next = Ends::default();
        for &p in at.as_slice() {
            match_char(text, p, c, depth, fold, &mut next);
        }
        if next.len == 0 {
            return next;
        }
        at = next;
    }
    at
}

/// A few match ends, on the stack: redaction runs on every log line.
/// Overlapping forms give two or three ends at most; more are dropped,
/// which can only miss an exotic mixture, never redact wrongly.
#[derive(Default, Clone, Copy)]
struct Ends {
    buf: [usize; 6],
    len: usize,
}

impl Ends {
    fn one(pos: usize) -> Ends {
        let mut e = Ends::default();
        e.push(pos);
        e
    }
    fn push(&mut self, end: usize) {
        if self.as_slice().contains(&end) {
            return;
        }
        if let Some(slot) = self.buf.get_mut(self.len) {
            *slot = end;
            self.len += 1;
        }
    }
    fn as_slice(&self) -> &[usize] {
        &self.buf[..self.len]
    }
    fn longest(&self) -> Option<usize> {
        self.as_slice().iter().copied().max()
    }
}

/// Adds to `ends` where `c` at `pos` can end, as is or encoded. Inside an
/// escape (`fold`), only percent-encoding is looked through again: that is
/// how encodings nest in practice (a JSON escape or a character reference
/// inside a form field, a value encoded twice), and trying every form of
/// every escape character at every level made redaction exponential.
fn match_char(text: &[u8], pos: usize, c: char, depth: u8, fold: bool, ends: &mut Ends) {
    let Some(rest) = text.get(pos..) else { return };
    let Some(&first) = rest.first() else { return };
    let mut utf8 = [0u8; 4];
    let literal = c.encode_utf8(&mut utf8).as_bytes();
    if rest.starts_with(literal) || (fold && c.is_ascii() && first.eq_ignore_ascii_case(&(c as u8))) {
        ends.push(pos + literal.len());
    }
    // Every encoded form starts with one of these (or with an encoding of
    // one, which again starts with `%`).
    if depth == 0 || !matches!(first, b'%' | b'+' | b'\\' | b'&') {
        return;
    }
    let mut try_form = |form: &Form| {
        for &end in match_str(text, pos, form.as_str(), depth - 1, true).as_slice() {
            ends.push(end);
        }
    };
    let mut form = Form::default();
    for &b in literal {
        form.push_percent(b);
    }
    try_form(&form);
    if fold {
        return;
    }
    if c == ' ' {
        try_form(&Form::of("+"));
    }
    if first == b'%' || first == b'\\' {
        let mut form = Form::default();
        if json_escape(c, &mut form) {
            try_form(&form);
        }
        let short = match c {
            '/' => "\\/",
            '"' => "\\\"",
            '\\' => "\\\\",
            '\n' => "\\n",
            '\r' => "\\r",
            '\t' => "\\t",
            '\u{8}' => "\\b",
            '\u{c}' => "\\f",
            _ => "",
        };
        if !short.is_empty() {
            try_form(&Form::of(short));
        }
    }
    if first == b'%' || first == b'&' {
        let mut form = Form::default();
        let _ = write!(form, "&#{};", u32::from(c));
        try_form(&form);
        let mut form = Form::default();
        let _ = write!(form, "&#x{:X};", u32::from(c));
        try_form(&form);
        let named = match c {
            '&' => "&amp;",
            '<' => "&lt;",
            '>' => "&gt;",
            '"' => "&quot;",
            '\'' => "&apos;",
            _ => "",
        };
        if !named.is_empty() {
            try_form(&Form::of(named));
        }
    }
}

/// `\uXXXX`, or a surrogate pair past the Basic Multilingual Plane.
fn json_escape(c: char, f: &mut Form) -> bool {
    let mut units = [0u16; 2];
    c.encode_utf16(&mut units)
        .iter()
        .all(|u| write!(f, "\\u{u:04X}").is_ok())
}

/// One encoded form of a character, on the stack: redaction runs on every
/// log line and must not allocate per byte it looks at.
#[derive(Default)]
struct Form {
    buf: [u8; 32],
    len: usize,
}

impl Form {
    fn of(s: &str) -> Form {
        let mut f = Form::default();
        let _ = f.write_str(s);
        f
    }
    fn push_percent(&mut self, b: u8) {
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        if let Some(slot) = self.buf.get_mut(self.len..self.len + 3) {
            slot.copy_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
            self.len += 3;
        }
    }
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl fmt::Write for Form {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// A value whose `Debug` and `Display` print `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Sensitive<T>(pub T);

impl<T> Sensitive<T> {
    pub fn expose(&self) -> &T {
        &self.0
    }
}

impl<T> fmt::Debug for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<T> fmt::Display for Sensitive<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The level Terraform asked for, or `None` when logging is off.
pub fn level_from_env() -> Option<Level> {
    let raw = std::env::var("TF_LOG_PROVIDER")
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| std::env::var("TF_LOG").ok().filter(|v| !v.is_empty()))?;
    match raw.to_ascii_uppercase().as_str() {
        "TRACE" | "JSON" => Some(Level::TRACE),
        "DEBUG" => Some(Level::DEBUG),
        "INFO" => Some(Level::INFO),
        "WARN" => Some(Level::WARN),
        "ERROR" => Some(Level::ERROR),
        // Terraform treats any other non-empty value as TRACE.
        "OFF" => None,
        _ => Some(Level::TRACE),
    }
}

/// Installs the hclog JSON logger on stderr (once per process).
pub fn init() {
    let Some(level) = level_from_env() else { return };
    let _ = tracing_subscriber::registry()
        .with(HclogLayer { max: level })
        .try_init();
}

struct HclogLayer {
    max: Level,
}

impl<S: Subscriber> Layer<S> for HclogLayer {
    fn enabled(&self, metadata: &tracing::Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *metadata.level() <= self.max
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() > self.max {
            return;
        }
        let mut fields = FieldCollector::default();
        event.record(&mut fields);
        let line = Line {
            level: match *meta.level() {
                Level::TRACE => "trace",
                Level::DEBUG => "debug",
                Level::INFO => "info",
                Level::WARN => "warn",
                Level::ERROR => "error",
            },
            module: if meta.target().starts_with("tfplugin") {
                "tfplugin"
            } else {
                "provider"
            },
            timestamp: timestamp(SystemTime::now()),
            fields,
        };
        let Ok(mut held) = HELD.lock() else { return };
        if held.holds > 0 {
            held.push(line);
        } else {
            drop(held);
            write_line(&line);
        }
    }
}

/// A log line before redaction.
struct Line {
    level: &'static str,
    module: &'static str,
    timestamp: String,
    fields: FieldCollector,
}

impl Line {
    fn size(&self) -> usize {
        self.fields.message.len() + self.fields.pairs.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>()
    }
}

fn write_line(line: &Line) {
    let mut map = serde_json::Map::new();
    map.insert("@level".into(), line.level.into());
    map.insert("@message".into(), redact(&line.fields.message).into());
    map.insert("@module".into(), line.module.into());
    map.insert("@timestamp".into(), line.timestamp.clone().into());
    for (k, v) in &line.fields.pairs {
        map.insert(k.clone(), redact(v).into());
    }
    let mut text = serde_json::Value::Object(map).to_string();
    text.push('\n');
    // One write per line, so concurrent tasks never interleave inside a line.
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

/// Lines kept back while a [`Hold`] is alive.
struct Held {
    holds: usize,
    lines: Vec<Line>,
    bytes: usize,
    dropped: usize,
}

/// Past this, further held lines are dropped (and counted), never written
/// unredacted.
const MAX_HELD_BYTES: usize = 16 << 20;

impl Held {
    fn push(&mut self, line: Line) {
        let size = line.size();
        if self.bytes + size > MAX_HELD_BYTES {
            self.dropped += 1;
        } else {
            self.bytes += size;
            self.lines.push(line);
        }
    }
}

static HELD: Mutex<Held> = Mutex::new(Held {
    holds: 0,
    lines: Vec::new(),
    bytes: 0,
    dropped: 0,
});

/// Keeps log lines back until [`Hold::release`], for an operation whose
/// secrets become known only from its own answers (an import reads an
/// object, and only the state it builds says which of its values are
/// sensitive, after the SDK traced the response). Released, the lines are
/// redacted with every secret registered by then and written in order.
/// Dropped without release (a panic unwinding through the operation), they
/// are discarded: their secrets may never have been registered.
#[must_use = "lines are held until the hold is released"]
pub struct Hold {
    released: bool,
}

/// Starts holding log lines (of every task: lines do not say which
/// operation wrote them) until every hold is released.
pub fn hold() -> Hold {
    if let Ok(mut held) = HELD.lock() {
        held.holds += 1;
    }
    Hold { released: false }
}

/// Whether lines are being held (for tests of the operations that hold).
pub fn holding() -> bool {
    HELD.lock().map(|h| h.holds > 0).unwrap_or_default()
}

impl Hold {
    /// Writes the held lines once no other hold is alive; register the
    /// operation's secrets first.
    pub fn release(mut self) {
        self.released = true;
    }
}

impl Held {
    /// Ends one hold; returns what to write (the lines, and how many were
    /// dropped) once none is left.
    fn end(&mut self, released: bool) -> Option<(Vec<Line>, usize)> {
        self.holds = self.holds.saturating_sub(1);
        if !released {
            self.dropped += self.lines.len();
            self.lines.clear();
            self.bytes = 0;
        }
        if self.holds > 0 {
            return None;
        }
        self.bytes = 0;
        Some((std::mem::take(&mut self.lines), std::mem::replace(&mut self.dropped, 0)))
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        let Ok(mut held) = HELD.lock() else { return };
        let Some((lines, dropped)) = held.end(self.released) else {
            return;
        };
        // Written under the lock, so later lines cannot overtake them.
        for line in &lines {
            write_line(line);
        }
        if dropped > 0 {
            let fields = FieldCollector {
                message: format!(
                    "{dropped} log lines were dropped: they were held until the secrets they may contain were known, \
                 and the operation failed or wrote too much first"
                ),
                ..FieldCollector::default()
            };
            write_line(&Line {
                level: "warn",
                module: "tfplugin",
                timestamp: timestamp(SystemTime::now()),
                fields,
            });
        }
    }
}

#[derive(Default)]
struct FieldCollector {
    message: String,
    pairs: Vec<(String, String)>,
}

impl Visit for FieldCollector {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.pairs.push((field.name().to_string(), value.to_string()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "message" {
            self.message = format!("{value:?}");
        } else {
            self.pairs.push((field.name().to_string(), format!("{value:?}")));
        }
    }
}

/// The text of a panic's payload (what `panic!` was given).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic without a message".to_string()
    }
}

/// Replaces Rust's panic printer, which writes the message to stderr as is,
/// with one that redacts it (and the backtrace, when `RUST_BACKTRACE` asks
/// for one). The `panic: ` prefix is how Terraform recognises a plugin
/// crash in its stderr, as with Go providers.
pub fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let message = panic_message(info.payload());
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let backtrace = std::backtrace::Backtrace::capture();
        let backtrace = match backtrace.status() {
            std::backtrace::BacktraceStatus::Captured => format!("\n{backtrace}"),
            _ => String::new(),
        };
        let text = panic_report(&message, &location, &backtrace);
        let _ = std::io::stderr().lock().write_all(text.as_bytes());
    }));
}

fn panic_report(message: &str, location: &str, backtrace: &str) -> String {
    redact(&format!("panic: {message}\n\nat {location}{backtrace}\n"))
}

/// RFC 3339 with microseconds in UTC, as hclog writes it.
fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, day) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_registered_secrets_longest_first() {
        register_secret("tok_abcdef");
        register_secret("tok_abcdef_long");
        assert_eq!(redact("a tok_abcdef_long b tok_abcdef"), "a *** b ***");
    }

    #[test]
    fn secrets_as_short_as_the_shortest_external_id_are_redacted() {
        register_secret("Zq");
        assert_eq!(redact("xZqx"), "x***x");
        register_secret("Q");
        assert_eq!(redact("Q"), "Q", "single characters are not treated as secrets");
    }

    /// The external id the acceptance tests use, and the issue's example.
    const TRICKY: [&str; 2] = ["a+b/c=d:e@f,g", "Secret+Ext/Id=42:xy@z,w"];

    fn assert_hidden(secret: &str, forms: &[String]) {
        register_secret(secret);
        for form in forms {
            let line = format!("before {form} after");
            assert_eq!(redact(&line), "before *** after", "{secret:?} as {form:?}");
        }
    }

    fn percent(s: &str, lower: bool, plus_for_space: bool, keep: &str) -> String {
        s.bytes()
            .map(|b| match b {
                b' ' if plus_for_space => "+".to_string(),
                b if b.is_ascii_alphanumeric() || keep.as_bytes().contains(&b) => (b as char).to_string(),
                b if lower => format!("%{b:02x}"),
                b => format!("%{b:02X}"),
            })
            .collect()
    }

    #[test]
    fn percent_encoded_secrets_are_redacted_in_either_case_and_any_subset() {
        for secret in TRICKY.iter().copied().chain(["with space+plus"]) {
            assert_hidden(
                secret,
                &[
                    percent(secret, false, false, ""),
                    percent(secret, true, false, ""),
                    percent(secret, false, true, ""),
                    percent(secret, true, true, "/:@,"),
                    // Encoded twice (a policy URL-encoded, then a form field).
                    percent(&percent(secret, false, false, ""), false, false, ""),
                ],
            );
        }
    }

    #[test]
    fn json_escaped_secrets_are_redacted() {
        for secret in TRICKY.iter().copied().chain(["quote\"back\\slash"]) {
            let serde = serde_json::to_string(secret).unwrap_or_default();
            let inner = serde.trim_matches('"').to_string();
            let unicode: String = secret.chars().map(|c| format!("\\u{:04x}", u32::from(c))).collect();
            let slashes = secret.replace('/', "\\/").replace('+', "\\u002B");
            let in_form = percent(&slashes, false, false, "");
            assert_hidden(secret, &[inner, unicode, slashes, in_form]);
        }
    }

    #[test]
    fn xml_escaped_secrets_are_redacted() {
        let secret = "x&y<z>w'v";
        assert_hidden(
            secret,
            &[
                "x&amp;y&lt;z&gt;w&apos;v".to_string(),
                "x&#38;y&#x3c;z&#62;w&#39;v".to_string(),
            ],
        );
    }

    #[test]
    fn base64_encoded_secrets_are_redacted_alone_and_inside_longer_runs() {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
        for secret in TRICKY {
            let mut forms = vec![STANDARD.encode(secret), URL_SAFE_NO_PAD.encode(secret)];
            for prefix in ["", "k", "ke", "key="] {
                let encoded = STANDARD_NO_PAD.encode(format!("{prefix}{secret} and more"));
                forms.push(encoded);
            }
            register_secret(secret);
            for form in &forms {
                let out = redact(form);
                assert!(out.contains("***"), "{secret:?} in {form:?}: {out}");
                assert!(!out.contains(&STANDARD_NO_PAD.encode(secret)[..8]), "{out}");
            }
        }
    }

    #[test]
    fn a_secret_starting_with_an_escape_character_is_still_found() {
        register_secret("%41ab+cd");
        assert_eq!(redact("x %41ab+cd y"), "x *** y");
        assert_eq!(redact("x %2541ab%2Bcd y"), "x *** y");
    }

    #[test]
    fn redaction_leaves_other_text_alone() {
        register_secret("a+b/c=d:e@f,g");
        let text = "%2B%2F plain \\u0041 &amp; a+b/c=d:e@f,x";
        assert_eq!(redact(text), text);
    }

    #[test]
    fn held_lines_wait_for_release_and_are_discarded_on_drop() {
        let line = |m: &str| {
            let fields = FieldCollector {
                message: m.to_string(),
                ..FieldCollector::default()
            };
            Line {
                level: "trace",
                module: "provider",
                timestamp: String::new(),
                fields,
            }
        };
        let mut held = Held {
            holds: 2,
            lines: Vec::new(),
            bytes: 0,
            dropped: 0,
        };
        held.push(line("one"));
        assert!(held.end(true).is_none(), "still held by the second");
        assert_eq!(held.lines.len(), 1);
        held.push(line("two"));
        let (lines, dropped) = held.end(true).expect("the last hold ended");
        assert_eq!((lines.len(), dropped), (2, 0), "released: written in order");

        held.holds = 1;
        held.push(line("secret-bearing"));
        let (lines, dropped) = held.end(false).expect("ended");
        assert_eq!(
            (lines.len(), dropped),
            (0, 1),
            "dropped without release: discarded and counted"
        );

        held.holds = 1;
        held.push(line(&"x".repeat(MAX_HELD_BYTES + 1)));
        assert_eq!(
            (held.lines.len(), held.dropped),
            (0, 1),
            "past the bound, lines are dropped"
        );
    }

    #[test]
    fn panic_messages_are_read_from_either_payload() {
        let owned: Box<dyn std::any::Any + Send> = Box::new(String::from("owned"));
        let borrowed: Box<dyn std::any::Any + Send> = Box::new("borrowed");
        assert_eq!(panic_message(owned.as_ref()), "owned");
        assert_eq!(panic_message(borrowed.as_ref()), "borrowed");
    }

    #[test]
    fn panic_reports_are_redacted() {
        register_secret("panic-secret-77");
        let report = panic_report("bad value panic-secret-77", "src/x.rs:1", "\n  at panic%2Dsecret%2D77");
        assert!(report.starts_with("panic: bad value ***"), "{report}");
        assert!(!report.contains("secret"), "{report}");
    }

    #[test]
    fn sensitive_wrapper_hides_value() {
        let s = Sensitive("hunter22".to_string());
        assert_eq!(format!("{s} {s:?}"), "*** ***");
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let t = UNIX_EPOCH + std::time::Duration::from_micros(1_700_000_000_123_456);
        assert_eq!(timestamp(t), "2023-11-14T22:13:20.123456Z");
    }
}
