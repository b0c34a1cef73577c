//! Label and field selectors as lists and watches receive them
//! (`?labelSelector=`, `?fieldSelector=`). Grammar, accepted fields and error
//! texts follow kube-apiserver, because clients show those texts and scripts
//! rely on what a real cluster accepts or refuses.

use serde_json::Value;
use std::fmt;

// ---------------------------------------------------------------- labels

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
    GreaterThan,
    LessThan,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Requirement {
    key: String,
    op: Op,
    /// Sorted and without duplicates, as upstream keeps them.
    values: Vec<String>,
}

/// A conjunction of label requirements; the empty one selects everything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LabelSelector {
    reqs: Vec<Requirement>,
}

impl LabelSelector {
    /// Parses the query-string form, e.g. `app=web,tier in (a,b),!canary`.
    pub fn parse(s: &str) -> Result<LabelSelector, String> {
        let mut p = Parser {
            toks: lex(s),
            pos: 0,
        };
        let mut reqs = p.parse()?;
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { reqs })
    }

    /// Converts an API `LabelSelector` object (`matchLabels`,
    /// `matchExpressions`); no terms selects everything. A `null` selector,
    /// which upstream reads as selecting nothing, is left to the caller.
    pub fn from_api(sel: &Value) -> Result<LabelSelector, String> {
        let mut reqs = Vec::new();
        for (k, v) in sel["matchLabels"].as_object().into_iter().flatten() {
            let v = v.as_str().unwrap_or_default().to_string();
            reqs.push(new_requirement(k, Op::Equals, vec![v])?);
        }
        for e in sel["matchExpressions"].as_array().into_iter().flatten() {
            let op = match e["operator"].as_str().unwrap_or_default() {
                "In" => Op::In,
                "NotIn" => Op::NotIn,
                "Exists" => Op::Exists,
                "DoesNotExist" => Op::DoesNotExist,
                other => {
                    return Err(format!(
                        "{} is not a valid label selector operator",
                        go_quote(other)
                    ));
                }
            };
            let values = e["values"].as_array().into_iter().flatten();
            let values = values.filter_map(Value::as_str).map(String::from);
            let key = e["key"].as_str().unwrap_or_default();
            reqs.push(new_requirement(key, op, sorted_set(values))?);
        }
        reqs.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(LabelSelector { reqs })
    }

    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// `labels` is an object's `metadata.labels`; null or missing means none.
    pub fn matches(&self, labels: &Value) -> bool {
        self.reqs.iter().all(|r| r.matches(labels))
    }
}

impl Requirement {
    fn matches(&self, labels: &Value) -> bool {
        let value = labels.get(&self.key).and_then(Value::as_str);
        let listed = |v: &str| self.values.iter().any(|x| x == v);
        match self.op {
            Op::Equals | Op::DoubleEquals | Op::In => value.is_some_and(listed),
            Op::NotEquals | Op::NotIn => !value.is_some_and(listed),
            Op::Exists => value.is_some(),
            Op::DoesNotExist => value.is_none(),
            Op::GreaterThan | Op::LessThan => {
                let (Some(v), [bound]) = (value, self.values.as_slice()) else {
                    return false;
                };
                match (v.parse::<i64>(), bound.parse::<i64>()) {
                    (Ok(v), Ok(b)) if self.op == Op::GreaterThan => v > b,
                    (Ok(v), Ok(b)) => v < b,
                    _ => false,
                }
            }
        }
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (k, v) = (&self.key, self.values.join(","));
        match self.op {
            Op::Exists => write!(f, "{k}"),
            Op::DoesNotExist => write!(f, "!{k}"),
            Op::Equals => write!(f, "{k}={v}"),
            Op::DoubleEquals => write!(f, "{k}=={v}"),
            Op::NotEquals => write!(f, "{k}!={v}"),
            Op::GreaterThan => write!(f, "{k}>{v}"),
            Op::LessThan => write!(f, "{k}<{v}"),
            Op::In => write!(f, "{k} in ({v})"),
            Op::NotIn => write!(f, "{k} notin ({v})"),
        }
    }
}

/// The canonical text, as upstream's `Selector.String()` prints it.
impl fmt::Display for LabelSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, r) in self.reqs.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

fn sorted_set(values: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = values.into_iter().collect();
    v.sort();
    v.dedup();
    v
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tok {
    End,
    Ident,
    OpenPar,
    ClosedPar,
    Comma,
    Not,
    Equals,
    DoubleEquals,
    NotEquals,
    GreaterThan,
    LessThan,
    In,
    NotIn,
}

fn is_special(c: char) -> bool {
    matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<')
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn lex(s: &str) -> Vec<(Tok, String)> {
    let chars: Vec<char> = s.chars().collect();
    let (mut i, mut out) = (0, Vec::new());
    loop {
        while i < chars.len() && is_space(chars[i]) {
            i += 1;
        }
        let Some(&c) = chars.get(i) else {
            out.push((Tok::End, String::new()));
            return out;
        };
        let start = i;
        let tok = if is_special(c) {
            // Every symbol is a token alone; only "==" and "!=" run longer.
            let two = chars.get(i + 1) == Some(&'=');
            let (tok, len) = match c {
                '=' if two => (Tok::DoubleEquals, 2),
                '!' if two => (Tok::NotEquals, 2),
                '=' => (Tok::Equals, 1),
                '!' => (Tok::Not, 1),
                '(' => (Tok::OpenPar, 1),
                ')' => (Tok::ClosedPar, 1),
                ',' => (Tok::Comma, 1),
                '>' => (Tok::GreaterThan, 1),
                _ => (Tok::LessThan, 1),
            };
            i += len;
            tok
        } else {
            while i < chars.len() && !is_special(chars[i]) && !is_space(chars[i]) {
                i += 1;
            }
            match chars[start..i].iter().collect::<String>().as_str() {
                "in" => Tok::In,
                "notin" => Tok::NotIn,
                _ => Tok::Ident,
            }
        };
        out.push((tok, chars[start..i].iter().collect()));
    }
}

/// Upstream's recursive-descent parser, step for step, so that the same
/// input fails at the same token with the same message.
struct Parser {
    toks: Vec<(Tok, String)>,
    pos: usize,
}

impl Parser {
    /// Where a value may stand, `in` and `notin` are plain identifiers.
    fn as_value(t: Tok) -> Tok {
        match t {
            Tok::In | Tok::NotIn => Tok::Ident,
            t => t,
        }
    }

    fn peek(&self) -> (Tok, String) {
        let (t, l) = &self.toks[self.pos];
        (Self::as_value(*t), l.clone())
    }

    fn next_raw(&mut self) -> (Tok, String) {
        let item = self.toks[self.pos].clone();
        self.pos = (self.pos + 1).min(self.toks.len() - 1);
        item
    }

    fn next(&mut self) -> (Tok, String) {
        let (t, l) = self.next_raw();
        (Self::as_value(t), l)
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut reqs = Vec::new();
        loop {
            match self.peek() {
                (Tok::Ident | Tok::Not, _) => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    match self.next() {
                        (Tok::End, _) => return Ok(reqs),
                        (Tok::Comma, _) => {
                            let (t, l) = self.peek();
                            if t != Tok::Ident && t != Tok::Not {
                                return Err(format!("found '{l}', expected: identifier after ','"));
                            }
                        }
                        (_, l) => {
                            return Err(format!("found '{l}', expected: ',' or 'end of string'"));
                        }
                    }
                }
                (Tok::End, _) => return Ok(reqs),
                (_, l) => {
                    return Err(format!(
                        "found '{l}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (mut t, mut key) = self.next();
        let negated = t == Tok::Not;
        if negated {
            (t, key) = self.next();
        }
        if t != Tok::Ident {
            return Err(format!("found '{key}', expected: identifier"));
        }
        // Upstream validates the key here with no field path, hence "<nil>".
        validate_key(&key, "<nil>")?;
        let bare = matches!(self.peek().0, Tok::End | Tok::Comma);
        if negated || bare {
            // "!a=b" stops after "!a"; the caller then trips on "=".
            let op = if negated {
                Op::DoesNotExist
            } else {
                Op::Exists
            };
            return new_requirement(&key, op, Vec::new());
        }
        let op = match self.next_raw() {
            (Tok::In, _) => Op::In,
            (Tok::NotIn, _) => Op::NotIn,
            (Tok::Equals, _) => Op::Equals,
            (Tok::DoubleEquals, _) => Op::DoubleEquals,
            (Tok::NotEquals, _) => Op::NotEquals,
            (Tok::GreaterThan, _) => Op::GreaterThan,
            (Tok::LessThan, _) => Op::LessThan,
            (_, l) => {
                return Err(format!(
                    "found '{l}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        };
        let values = match op {
            Op::In | Op::NotIn => self.set_values()?,
            _ => self.exact_value()?,
        };
        new_requirement(&key, op, values)
    }

    fn set_values(&mut self) -> Result<Vec<String>, String> {
        let (t, l) = self.next();
        if t != Tok::OpenPar {
            return Err(format!("found '{l}' expected: '('"));
        }
        match self.peek() {
            (Tok::Ident | Tok::Comma, _) => {
                let values = self.identifiers()?;
                self.next(); // the ")" identifiers() stopped at
                Ok(values)
            }
            (Tok::ClosedPar, _) => {
                self.next();
                Ok(vec![String::new()])
            }
            (_, l) => Err(format!("found '{l}', expected: ',', ')' or identifier")),
        }
    }

    /// The inside of "( ... )"; empty entries ("(a,)", "(,)") mean "".
    fn identifiers(&mut self) -> Result<Vec<String>, String> {
        let mut values = Vec::new();
        loop {
            match self.next() {
                (Tok::Ident, v) => {
                    values.push(v);
                    match self.peek() {
                        (Tok::Comma, _) => continue,
                        (Tok::ClosedPar, _) => return Ok(sorted_set(values)),
                        (_, l) => return Err(format!("found '{l}', expected: ',' or ')'")),
                    }
                }
                (Tok::Comma, _) => {
                    if values.is_empty() {
                        values.push(String::new());
                    }
                    match self.peek().0 {
                        Tok::ClosedPar => {
                            values.push(String::new());
                            return Ok(sorted_set(values));
                        }
                        Tok::Comma => values.push(String::new()),
                        _ => {}
                    }
                }
                (_, l) => return Err(format!("found '{l}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<Vec<String>, String> {
        if matches!(self.peek().0, Tok::End | Tok::Comma) {
            return Ok(vec![String::new()]);
        }
        match self.next() {
            (Tok::Ident, v) => Ok(vec![v]),
            (_, l) => Err(format!("found '{l}', expected: identifier")),
        }
    }
}

/// Upstream's `NewRequirement`: validates and reports every problem.
fn new_requirement(key: &str, op: Op, values: Vec<String>) -> Result<Requirement, String> {
    let mut errs = Vec::new();
    if let Err(e) = validate_key(key, "key") {
        errs.push(e);
    }
    let bad_count = |detail: &str| {
        let list = serde_json::to_string(&values).unwrap_or_default();
        format!("values: Invalid value: {list}: {detail}")
    };
    match op {
        Op::In | Op::NotIn if values.is_empty() => errs.push(bad_count(
            "for 'in', 'notin' operators, values set can't be empty",
        )),
        Op::Equals | Op::DoubleEquals | Op::NotEquals if values.len() != 1 => errs.push(bad_count(
            "exact-match compatibility requires one single value",
        )),
        Op::Exists | Op::DoesNotExist if !values.is_empty() => errs.push(bad_count(
            "values set must be empty for exists and does not exist",
        )),
        Op::GreaterThan | Op::LessThan => {
            if values.len() != 1 {
                errs.push(bad_count(
                    "for 'Gt', 'Lt' operators, exactly one value is required",
                ));
            }
            for (i, v) in values.iter().enumerate() {
                if v.parse::<i64>().is_err() {
                    errs.push(format!(
                        "values[{i}]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                        go_quote(v)
                    ));
                }
            }
        }
        _ => {}
    }
    for (i, v) in values.iter().enumerate() {
        let problems = label_value_errors(v);
        if !problems.is_empty() {
            let path = format!("values[{i}][{key}]");
            errs.push(invalid(&path, v, &problems));
        }
    }
    match errs.len() {
        0 => Ok(Requirement {
            key: key.to_string(),
            op,
            values,
        }),
        1 => Err(errs.remove(0)),
        _ => {
            // An aggregate error: duplicates dropped, bracketed.
            let mut seen: Vec<String> = Vec::new();
            for e in errs {
                if !seen.contains(&e) {
                    seen.push(e);
                }
            }
            Err(format!("[{}]", seen.join(", ")))
        }
    }
}

fn invalid(path: &str, value: &str, problems: &[String]) -> String {
    format!(
        "{path}: Invalid value: {}: {}",
        go_quote(value),
        problems.join("; ")
    )
}

fn validate_key(key: &str, path: &str) -> Result<(), String> {
    let problems = label_key_errors(key);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(invalid(path, key, &problems))
    }
}

const NAME_MSG: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const NAME_RE: &str = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]";
const VALUE_MSG: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const VALUE_RE: &str = "(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?";
const DNS_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const DNS_RE: &str = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*";

/// Upstream's wording: "<msg> (e.g. 'a',  or 'b', regex used for
/// validation is '<re>')" - the double space included.
fn regex_error(msg: &str, re: &str, examples: &[&str]) -> String {
    let examples: Vec<String> = examples.iter().map(|e| format!("'{e}', ")).collect();
    format!(
        "{msg} (e.g. {}regex used for validation is '{re}')",
        examples.join(" or ")
    )
}

/// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    let ok = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.');
    match (b.first(), b.last()) {
        (Some(f), Some(l)) => {
            f.is_ascii_alphanumeric() && l.is_ascii_alphanumeric() && b.iter().all(ok)
        }
        _ => false,
    }
}

/// A lowercase RFC 1123 subdomain, as in `example.com`.
fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(|label| {
        let b = label.as_bytes();
        let ok = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-';
        let end = |c: Option<&u8>| c.is_some_and(|c| *c != b'-');
        end(b.first()) && end(b.last()) && b.iter().all(ok)
    })
}

pub(crate) fn label_key_errors(key: &str) -> Vec<String> {
    let name_re = || regex_error(NAME_MSG, NAME_RE, &["MyName", "my.name", "123-abc"]);
    let mut errs = Vec::new();
    let parts: Vec<&str> = key.split('/').collect();
    let name = match parts.as_slice() {
        [name] => name,
        [prefix, name] => {
            if prefix.is_empty() {
                errs.push("prefix part must be non-empty".to_string());
            } else {
                if prefix.len() > 253 {
                    errs.push("prefix part must be no more than 253 bytes".to_string());
                }
                if !is_dns_subdomain(prefix) {
                    let e = regex_error(DNS_MSG, DNS_RE, &["example.com"]);
                    errs.push(format!("prefix part {e}"));
                }
            }
            name
        }
        _ => {
            return vec![format!(
                "a valid label key {} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
                name_re()
            )];
        }
    };
    if name.is_empty() {
        errs.push("name part must be non-empty".to_string());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 bytes".to_string());
    }
    if !is_label_name(name) {
        errs.push(format!("name part {}", name_re()));
    }
    errs
}

pub(crate) fn label_value_errors(v: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if v.len() > 63 {
        errs.push("must be no more than 63 bytes".to_string());
    }
    if !v.is_empty() && !is_label_name(v) {
        let examples = ["MyValue", "my_value", "12345"];
        errs.push(regex_error(VALUE_MSG, VALUE_RE, &examples));
    }
    errs
}

/// Go's `%q`: the value as upstream quotes it in messages.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() || (c.is_whitespace() && c != ' ') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---------------------------------------------------------------- fields

#[derive(Clone, Debug, PartialEq, Eq)]
struct Term {
    field: String,
    value: String,
    equal: bool,
}

/// A conjunction of `field=value` / `field!=value` terms over the fields a
/// kind offers; the empty one selects everything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldSelector {
    kind: String,
    terms: Vec<Term>,
}

impl FieldSelector {
    /// Parses `?fieldSelector=` for objects of `kind` (e.g. "Pod"). Unknown
    /// fields are refused with upstream's message (a 400 there).
    pub fn parse(s: &str, kind: &str) -> Result<FieldSelector, String> {
        let mut parts = split_terms(s);
        parts.sort();
        let mut terms = Vec::new();
        for part in parts.iter().filter(|p| !p.is_empty()) {
            let Some((field, op, value)) = split_term(part) else {
                return Err(format!(
                    "invalid selector: '{s}'; can't understand '{part}'"
                ));
            };
            terms.push(Term {
                field: field.to_string(),
                value: unescape(value)?,
                equal: op != "!=",
            });
        }
        // Upstream checks the fields only once the whole text has parsed.
        for t in &mut terms {
            t.field = convert_field(kind, &t.field)?;
        }
        Ok(FieldSelector {
            kind: kind.to_string(),
            terms,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// The top-level fields of an object the terms read.
    pub fn top_level(&self) -> impl Iterator<Item = &str> {
        let event_source = self.kind == "Event" && self.terms.iter().any(|t| t.field == "source");
        self.terms
            .iter()
            .map(|t| t.field.split('.').next().unwrap_or_default())
            .chain(event_source.then_some("reportingComponent"))
    }

    pub fn matches(&self, obj: &Value) -> bool {
        self.terms
            .iter()
            .all(|t| (field_value(&self.kind, obj, &t.field) == t.value) == t.equal)
    }
}

/// Splits on commas a backslash does not escape.
fn split_terms(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return Vec::new();
    }
    let (mut terms, mut start, mut escaped) = (Vec::new(), 0, false);
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                terms.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    terms.push(&s[start..]);
    terms
}

/// The first operator from the left wins; at one position "!=" and "=="
/// are tried before "=".
fn split_term(term: &str) -> Option<(&str, &str, &str)> {
    term.char_indices().find_map(|(i, _)| {
        ["!=", "==", "="]
            .into_iter()
            .find(|op| term[i..].starts_with(op))
            .map(|op| (&term[..i], op, &term[i + op.len()..]))
    })
}

fn unescape(v: &str) -> Result<String, String> {
    let (mut out, mut escaped) = (String::new(), false);
    for c in v.chars() {
        if escaped {
            if !matches!(c, '\\' | ',' | '=') {
                return Err(format!(
                    "invalid field selector: invalid escape sequence: \\{c}"
                ));
            }
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            // Upstream prints the rune as a number.
            ',' | '=' => {
                return Err(format!(
                    "invalid field selector: unescaped character in value: {}",
                    c as u32
                ));
            }
            c => out.push(c),
        }
    }
    if escaped {
        return Err("invalid field selector: invalid escape sequence: \\".to_string());
    }
    Ok(out)
}

const POD_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.nodeName",
    "spec.restartPolicy",
    "spec.schedulerName",
    "spec.serviceAccountName",
    "spec.hostNetwork",
    "status.phase",
    "status.podIP",
    "status.podIPs",
    "status.nominatedNodeName",
];
const NODE_FIELDS: &[&str] = &["metadata.name", "spec.unschedulable"];
const NAMESPACE_FIELDS: &[&str] = &["metadata.name", "status.phase"];
const SECRET_FIELDS: &[&str] = &["metadata.name", "metadata.namespace", "type"];
const SERVICE_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "spec.clusterIP",
    "spec.type",
];
const EVENT_FIELDS: &[&str] = &[
    "metadata.name",
    "metadata.namespace",
    "involvedObject.kind",
    "involvedObject.namespace",
    "involvedObject.name",
    "involvedObject.uid",
    "involvedObject.apiVersion",
    "involvedObject.resourceVersion",
    "involvedObject.fieldPath",
    "reason",
    "reportingComponent",
    "source",
    "type",
];

/// Upstream's field-label conversion: kinds with their own list answer
/// "field label not supported"; all others (ReplicaSet too, whatever the
/// documentation says) get the generic metadata-only check.
fn convert_field(kind: &str, field: &str) -> Result<String, String> {
    let own = match kind {
        "Pod" if field == "spec.host" => return Ok("spec.nodeName".to_string()),
        "Pod" => POD_FIELDS,
        "Node" => NODE_FIELDS,
        "Namespace" => NAMESPACE_FIELDS,
        "Secret" => SECRET_FIELDS,
        "Service" => SERVICE_FIELDS,
        "Event" => EVENT_FIELDS,
        _ if matches!(field, "metadata.name" | "metadata.namespace") => {
            return Ok(field.to_string());
        }
        _ => {
            return Err(format!(
                "{} is not a known field selector: only \"metadata.name\", \"metadata.namespace\"",
                go_quote(field)
            ));
        }
    };
    if own.contains(&field) {
        Ok(field.to_string())
    } else {
        Err(format!("field label not supported: {field}"))
    }
}

/// The value upstream's field set holds for `field`; "" where it holds none.
fn field_value(kind: &str, obj: &Value, field: &str) -> String {
    let flag = |v: &Value| v.as_bool().unwrap_or(false).to_string();
    match (kind, field) {
        ("Pod", "spec.hostNetwork") => flag(&obj["spec"]["hostNetwork"]),
        ("Node", "spec.unschedulable") => flag(&obj["spec"]["unschedulable"]),
        ("Pod", "status.podIP") => pod_ip(obj).to_string(),
        // Accepted by upstream's conversion but absent from its field set.
        ("Pod", "status.podIPs") => String::new(),
        ("Event", "source") => {
            let component = obj["source"]["component"].as_str().unwrap_or_default();
            let reporting = obj["reportingComponent"].as_str().unwrap_or_default();
            if component.is_empty() {
                reporting
            } else {
                component
            }
            .to_string()
        }
        _ => match field.split('.').fold(obj, |v, k| &v[k]) {
            Value::String(s) => s.clone(),
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            _ => String::new(),
        },
    }
}

/// The primary pod IP: `status.podIPs[0]`, or the older single field.
pub(crate) fn pod_ip(pod: &Value) -> &str {
    pod["status"]["podIPs"][0]["ip"]
        .as_str()
        .or_else(|| pod["status"]["podIP"].as_str())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sel(s: &str) -> LabelSelector {
        LabelSelector::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn err(s: &str) -> String {
        LabelSelector::parse(s).expect_err(s)
    }

    #[test]
    fn label_syntax_forms_and_canonical_text() {
        let cases = [
            ("", ""),
            ("a=b", "a=b"),
            ("a==b", "a==b"),
            ("a!=b", "a!=b"),
            ("a in (y,x,x)", "a in (x,y)"),
            ("a notin (x)", "a notin (x)"),
            ("a", "a"),
            ("!a", "!a"),
            ("a>1,b<2", "a>1,b<2"),
            ("  z = 1 ,\ta  in(x , y)  , !m ", "a in (x,y),!m,z=1"),
            ("example.com/app=web", "example.com/app=web"),
            ("a=", "a="),
            ("a in (),b in (,x)", "a in (),b in (,x)"),
            ("in=notin", "in=notin"),
        ];
        for (input, text) in cases {
            assert_eq!(sel(input).to_string(), text, "{input}");
        }
        assert!(sel("").is_empty());
    }

    #[test]
    fn label_matching() {
        let labels = json!({"app": "web", "tier": "front", "n": "5"});
        let yes = [
            "",
            "app=web",
            "app==web",
            "app!=db",
            "missing!=x",
            "tier in (front,back)",
            "tier notin (back)",
            "missing notin (x)",
            "app",
            "!missing",
            "n>4,n<6",
            "app=web,tier=front",
        ];
        let no = [
            "app=db",
            "app!=web",
            "missing=x",
            "missing in (x)",
            "tier notin (front)",
            "missing",
            "!app",
            "n>5",
            "app>1",
            "app=web,tier=back",
        ];
        for s in yes {
            assert!(sel(s).matches(&labels), "{s}");
        }
        for s in no {
            assert!(!sel(s).matches(&labels), "{s}");
        }
        assert!(sel("!app").matches(&Value::Null));
        assert!(!sel("app").matches(&Value::Null));
        assert!(sel("").matches(&Value::Null));
    }

    #[test]
    fn label_errors_read_as_upstream() {
        assert_eq!(err("a=b,"), "found '', expected: identifier after ','");
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("=a"),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("a (b)"),
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(
            err("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            err("a in (b c)"),
            "unable to parse requirement: found 'c', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("a in (="),
            "unable to parse requirement: found '=', expected: ',', ')' or identifier"
        );
        assert_eq!(
            err("a=(b)"),
            "unable to parse requirement: found '(', expected: identifier"
        );
        assert_eq!(err("!a=b"), "found '=', expected: ',' or 'end of string'");
        assert_eq!(
            err("a>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert_eq!(
            err("-a=b"),
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
        );
        assert_eq!(
            err("a=-b"),
            "unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
        );
        assert!(err("Example.com/a").contains(
            "<nil>: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain"
        ));
        assert!(err("/a").contains("prefix part must be non-empty"));
        assert!(err("a/b/c").contains("a valid label key must consist of"));
        assert!(
            err(&format!("a=-{}", "v".repeat(63)))
                .contains(": must be no more than 63 bytes; a valid label must be")
        );
        assert!(err(&"k".repeat(64)).contains("name part must be no more than 63 bytes"));
    }

    #[test]
    fn label_selector_from_api_object() {
        let s = LabelSelector::from_api(&json!({
            "matchLabels": {"app": "web"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["b", "a"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }))
        .unwrap();
        assert_eq!(s.to_string(), "app=web,!canary,tier in (a,b)");
        assert!(s.matches(&json!({"app": "web", "tier": "a"})));
        assert!(LabelSelector::from_api(&json!({})).unwrap().is_empty());
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]});
        assert_eq!(
            LabelSelector::from_api(&bad).unwrap_err(),
            "values: Invalid value: []: for 'in', 'notin' operators, values set can't be empty"
        );
        let bad = json!({"matchExpressions": [{"key": "a", "operator": "Gt"}]});
        assert_eq!(
            LabelSelector::from_api(&bad).unwrap_err(),
            "\"Gt\" is not a valid label selector operator"
        );
    }

    fn pod() -> Value {
        json!({
            "metadata": {"name": "web-1", "namespace": "prod"},
            "spec": {"nodeName": "n1", "restartPolicy": "Always"},
            "status": {"phase": "Running", "podIPs": [{"ip": "10.0.0.5"}]},
        })
    }

    fn fsel(s: &str, kind: &str) -> FieldSelector {
        FieldSelector::parse(s, kind).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn field_terms_and_matching() {
        let p = pod();
        let yes = [
            "",
            "metadata.name=web-1",
            "metadata.name==web-1",
            "metadata.namespace!=dev",
            "spec.nodeName=n1,status.phase=Running",
            "spec.host=n1",
            "spec.hostNetwork=false",
            "status.podIP=10.0.0.5",
            "status.nominatedNodeName=",
            "spec.schedulerName!=x",
        ];
        let no = [
            "metadata.name=web-2",
            "spec.nodeName!=n1",
            "spec.nodeName=n1,status.phase=Pending",
            "spec.hostNetwork=true",
            "status.podIPs=10.0.0.5",
        ];
        for s in yes {
            assert!(fsel(s, "Pod").matches(&p), "{s}");
        }
        for s in no {
            assert!(!fsel(s, "Pod").matches(&p), "{s}");
        }
        assert!(fsel("", "Pod").is_empty());
        let node = json!({"metadata": {"name": "n1"}, "spec": {"unschedulable": true}});
        assert!(fsel("spec.unschedulable=true", "Node").matches(&node));
        let ev = json!({"involvedObject": {"kind": "Pod", "name": "web-1"}, "reportingComponent": "kubelet"});
        assert!(
            fsel(
                "involvedObject.kind=Pod,involvedObject.name=web-1,source=kubelet",
                "Event"
            )
            .matches(&ev)
        );
        let cm = json!({"metadata": {"name": "c", "namespace": "n"}});
        assert!(fsel("metadata.namespace=n", "ConfigMap").matches(&cm));
    }

    #[test]
    fn field_escapes() {
        let obj = json!({"metadata": {"name": "a,b=c\\d"}});
        assert!(fsel(r"metadata.name=a\,b\=c\\d", "ConfigMap").matches(&obj));
        let two = fsel(r"metadata.name=x\,y,metadata.namespace=n", "ConfigMap");
        assert_eq!(two.terms.len(), 2);
        let e = |s| FieldSelector::parse(s, "ConfigMap").unwrap_err();
        assert_eq!(
            e(r"metadata.name=a\b"),
            r"invalid field selector: invalid escape sequence: \b"
        );
        assert_eq!(
            e(r"metadata.name=a\"),
            r"invalid field selector: invalid escape sequence: \"
        );
        assert_eq!(
            e("metadata.name=a=b"),
            "invalid field selector: unescaped character in value: 61"
        );
    }

    #[test]
    fn field_errors_read_as_upstream() {
        let e = |s, kind| FieldSelector::parse(s, kind).unwrap_err();
        assert_eq!(
            e("metadata.name", "Pod"),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        assert_eq!(
            e("spec.foo=1", "Pod"),
            "field label not supported: spec.foo"
        );
        assert_eq!(
            e("metadata.namespace=x", "Node"),
            "field label not supported: metadata.namespace"
        );
        assert_eq!(
            e("status.replicas=0", "ReplicaSet"),
            "\"status.replicas\" is not a known field selector: only \"metadata.name\", \"metadata.namespace\""
        );
        // Syntax is checked for every term before any field is.
        assert!(e("spec.foo=1,x", "Pod").starts_with("invalid selector"));
        for (kind, field) in [
            ("Secret", "type=Opaque"),
            ("Service", "spec.type=ClusterIP"),
            ("Namespace", "status.phase=Active"),
            ("Event", "reason=Started"),
            ("Deployment", "metadata.name=d"),
        ] {
            fsel(field, kind);
        }
    }

    #[test]
    fn quoting_as_go() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), r#""a\"b\\c\n\x01""#);
        assert_eq!(go_quote("é"), "\"é\"");
    }
}
