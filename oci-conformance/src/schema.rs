//! A small JSON-schema (draft-04 subset) validator for the runtime-spec schemas
//! in ../schema (copied verbatim from runtime-spec/schema).  Supports what those
//! schemas use: type, properties, required, enum, pattern, patternProperties,
//! additionalProperties, items, minimum/maximum, minItems, uniqueItems,
//! minLength, allOf/anyOf/oneOf/not and $ref (same file and cross-file).

use serde_json::Value;

const FILES: &[(&str, &str)] = &[
    (
        "state-schema.json",
        include_str!("../schema/state-schema.json"),
    ),
    (
        "features-schema.json",
        include_str!("../schema/features-schema.json"),
    ),
    (
        "features-linux.json",
        include_str!("../schema/features-linux.json"),
    ),
    ("defs.json", include_str!("../schema/defs.json")),
    ("defs-linux.json", include_str!("../schema/defs-linux.json")),
    (
        "config-schema.json",
        include_str!("../schema/config-schema.json"),
    ),
    (
        "config-linux.json",
        include_str!("../schema/config-linux.json"),
    ),
    (
        "config-solaris.json",
        include_str!("../schema/config-solaris.json"),
    ),
    (
        "config-windows.json",
        include_str!("../schema/config-windows.json"),
    ),
    ("config-vm.json", include_str!("../schema/config-vm.json")),
    ("config-zos.json", include_str!("../schema/config-zos.json")),
    (
        "config-freebsd.json",
        include_str!("../schema/config-freebsd.json"),
    ),
    ("defs-vm.json", include_str!("../schema/defs-vm.json")),
    (
        "defs-windows.json",
        include_str!("../schema/defs-windows.json"),
    ),
    ("defs-zos.json", include_str!("../schema/defs-zos.json")),
    (
        "defs-freebsd.json",
        include_str!("../schema/defs-freebsd.json"),
    ),
];

fn load(file: &str) -> Option<Value> {
    FILES
        .iter()
        .find(|(n, _)| *n == file)
        .and_then(|(_, t)| serde_json::from_str(t).ok())
}

/// Validate `v` against the schema file `file`; returns the list of violations.
pub fn validate(file: &str, v: &Value) -> Vec<String> {
    let Some(root) = load(file) else {
        return vec![format!("schema {} not embedded", file)];
    };
    let mut errs = Vec::new();
    check(file, &root, &root, v, "$", &mut errs, 0);
    errs
}

fn resolve_pointer<'a>(doc: &'a Value, ptr: &str) -> Option<&'a Value> {
    if ptr.is_empty() || ptr == "/" {
        return Some(doc);
    }
    doc.pointer(ptr)
}

fn check(
    file: &str,
    root: &Value,
    schema: &Value,
    v: &Value,
    at: &str,
    errs: &mut Vec<String>,
    depth: usize,
) {
    if depth > 64 {
        errs.push(format!("{}: schema recursion too deep", at));
        return;
    }
    let Some(obj) = schema.as_object() else {
        return;
    };
    if let Some(r) = obj.get("$ref").and_then(|r| r.as_str()) {
        let (f, ptr) = match r.split_once('#') {
            Some((f, p)) => (f, p),
            None => (r, ""),
        };
        if f.is_empty() {
            match resolve_pointer(root, ptr) {
                Some(s) => check(file, root, s, v, at, errs, depth + 1),
                None => errs.push(format!("{}: unresolvable $ref {}", at, r)),
            }
        } else {
            match load(f) {
                Some(doc) => match resolve_pointer(&doc, ptr) {
                    Some(s) => {
                        let s = s.clone();
                        check(f, &doc, &s, v, at, errs, depth + 1)
                    }
                    None => errs.push(format!("{}: unresolvable $ref {}", at, r)),
                },
                None => errs.push(format!("{}: unknown schema file {}", at, f)),
            }
        }
        return;
    }
    if let Some(t) = obj.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
            _ => vec![],
        };
        if !types.is_empty() && !types.iter().any(|t| type_ok(t, v)) {
            errs.push(format!(
                "{}: expected type {:?}, got {}",
                at,
                types,
                short(v)
            ));
            return;
        }
    }
    if let Some(e) = obj.get("enum").and_then(|e| e.as_array()) {
        if !e.iter().any(|x| x == v) {
            errs.push(format!("{}: {} not in enum", at, short(v)));
        }
    }
    if let Some(n) = v.as_f64() {
        if let Some(min) = obj.get("minimum").and_then(|m| m.as_f64()) {
            if n < min {
                errs.push(format!("{}: {} < minimum {}", at, n, min));
            }
        }
        if let Some(max) = obj.get("maximum").and_then(|m| m.as_f64()) {
            if n > max {
                errs.push(format!("{}: {} > maximum {}", at, n, max));
            }
        }
    }
    if let Some(s) = v.as_str() {
        if let Some(p) = obj.get("pattern").and_then(|p| p.as_str()) {
            if !regex_match(p, s) {
                errs.push(format!("{}: {:?} does not match {}", at, s, p));
            }
        }
        if let Some(m) = obj.get("minLength").and_then(|m| m.as_u64()) {
            if (s.chars().count() as u64) < m {
                errs.push(format!("{}: shorter than {}", at, m));
            }
        }
    }
    if let Some(a) = v.as_array() {
        if let Some(items) = obj.get("items") {
            if items.is_object() {
                for (i, x) in a.iter().enumerate() {
                    check(
                        file,
                        root,
                        items,
                        x,
                        &format!("{}[{}]", at, i),
                        errs,
                        depth + 1,
                    );
                }
            }
        }
        if let Some(m) = obj.get("minItems").and_then(|m| m.as_u64()) {
            if (a.len() as u64) < m {
                errs.push(format!("{}: fewer than {} items", at, m));
            }
        }
        if obj.get("uniqueItems").and_then(|u| u.as_bool()) == Some(true) {
            for i in 0..a.len() {
                for j in i + 1..a.len() {
                    if a[i] == a[j] {
                        errs.push(format!("{}: duplicate item {}", at, short(&a[i])));
                    }
                }
            }
        }
    }
    if let Some(o) = v.as_object() {
        if let Some(req) = obj.get("required").and_then(|r| r.as_array()) {
            for r in req.iter().filter_map(|r| r.as_str()) {
                if !o.contains_key(r) {
                    errs.push(format!("{}: missing required property {:?}", at, r));
                }
            }
        }
        let props = obj.get("properties").and_then(|p| p.as_object());
        let pprops = obj.get("patternProperties").and_then(|p| p.as_object());
        for (k, x) in o {
            let mut matched = false;
            if let Some(ps) = props.and_then(|p| p.get(k)) {
                matched = true;
                check(file, root, ps, x, &format!("{}.{}", at, k), errs, depth + 1);
            }
            if let Some(pp) = pprops {
                for (pat, ps) in pp {
                    if regex_match(pat, k) {
                        matched = true;
                        check(file, root, ps, x, &format!("{}.{}", at, k), errs, depth + 1);
                    }
                }
            }
            if !matched {
                match obj.get("additionalProperties") {
                    Some(Value::Bool(false)) => {
                        errs.push(format!("{}: unexpected property {:?}", at, k))
                    }
                    Some(s @ Value::Object(_)) => {
                        check(file, root, s, x, &format!("{}.{}", at, k), errs, depth + 1)
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some(all) = obj.get("allOf").and_then(|a| a.as_array()) {
        for s in all {
            check(file, root, s, v, at, errs, depth + 1);
        }
    }
    if let Some(any) = obj.get("anyOf").and_then(|a| a.as_array()) {
        let ok = any.iter().any(|s| {
            let mut e = Vec::new();
            check(file, root, s, v, at, &mut e, depth + 1);
            e.is_empty()
        });
        if !ok {
            errs.push(format!("{}: matches none of anyOf", at));
        }
    }
    if let Some(one) = obj.get("oneOf").and_then(|a| a.as_array()) {
        let c = one
            .iter()
            .filter(|s| {
                let mut e = Vec::new();
                check(file, root, s, v, at, &mut e, depth + 1);
                e.is_empty()
            })
            .count();
        if c != 1 {
            errs.push(format!("{}: matches {} of oneOf (need exactly 1)", at, c));
        }
    }
    if let Some(not) = obj.get("not") {
        let mut e = Vec::new();
        check(file, root, not, v, at, &mut e, depth + 1);
        if e.is_empty() {
            errs.push(format!("{}: matches a 'not' schema", at));
        }
    }
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        "number" => v.is_number(),
        "integer" => {
            v.is_i64() || v.is_u64() || v.as_f64().map(|f| f.fract() == 0.0).unwrap_or(false)
        }
        _ => true,
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}...", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

// ---------------------------------------------------------------- tiny regex
// Supports: ^ $ . literals, escapes (\n \\ \.), [..] classes with ranges and
// negation, quantifiers * + ? {m,} {m,n} {m}.  Unanchored patterns search.
#[derive(Debug, Clone)]
enum Atom {
    Any,
    Lit(char),
    Class(Vec<(char, char)>, bool),
}
#[derive(Debug, Clone)]
struct Piece {
    atom: Atom,
    min: usize,
    max: usize,
}

fn parse(p: &str) -> (bool, bool, Vec<Piece>) {
    let cs: Vec<char> = p.chars().collect();
    let mut i = 0;
    let mut start = false;
    let mut end = false;
    let mut out: Vec<Piece> = Vec::new();
    if cs.first() == Some(&'^') {
        start = true;
        i = 1;
    }
    while i < cs.len() {
        let c = cs[i];
        if c == '$' && i == cs.len() - 1 {
            end = true;
            i += 1;
            continue;
        }
        let atom = match c {
            '.' => {
                i += 1;
                Atom::Any
            }
            '\\' => {
                let e = cs.get(i + 1).copied().unwrap_or('\\');
                i += 2;
                Atom::Lit(match e {
                    'n' => '\n',
                    't' => '\t',
                    x => x,
                })
            }
            '[' => {
                i += 1;
                let mut neg = false;
                if cs.get(i) == Some(&'^') {
                    neg = true;
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                while i < cs.len() && (cs[i] != ']' || first) {
                    first = false;
                    let mut a = cs[i];
                    if a == '\\' {
                        a = match cs.get(i + 1).copied().unwrap_or('\\') {
                            'n' => '\n',
                            't' => '\t',
                            x => x,
                        };
                        i += 1;
                    }
                    i += 1;
                    if cs.get(i) == Some(&'-') && cs.get(i + 1).map(|c| *c != ']').unwrap_or(false)
                    {
                        let mut b = cs[i + 1];
                        i += 2;
                        if b == '\\' {
                            b = cs.get(i).copied().unwrap_or('\\');
                            i += 1;
                        }
                        ranges.push((a, b));
                    } else {
                        ranges.push((a, a));
                    }
                }
                i += 1; // ]
                Atom::Class(ranges, neg)
            }
            x => {
                i += 1;
                Atom::Lit(x)
            }
        };
        let (mut min, mut max) = (1usize, 1usize);
        match cs.get(i) {
            Some('*') => {
                min = 0;
                max = usize::MAX;
                i += 1
            }
            Some('+') => {
                max = usize::MAX;
                i += 1
            }
            Some('?') => {
                min = 0;
                i += 1
            }
            Some('{') => {
                let close = cs[i..]
                    .iter()
                    .position(|c| *c == '}')
                    .map(|p| p + i)
                    .unwrap_or(cs.len() - 1);
                let body: String = cs[i + 1..close].iter().collect();
                if let Some((a, b)) = body.split_once(',') {
                    min = a.trim().parse().unwrap_or(0);
                    max = if b.trim().is_empty() {
                        usize::MAX
                    } else {
                        b.trim().parse().unwrap_or(usize::MAX)
                    };
                } else {
                    min = body.trim().parse().unwrap_or(1);
                    max = min;
                }
                i = close + 1;
            }
            _ => {}
        }
        out.push(Piece { atom, min, max });
    }
    (start, end, out)
}

fn atom_ok(a: &Atom, c: char) -> bool {
    match a {
        Atom::Any => c != '\n',
        Atom::Lit(l) => *l == c,
        Atom::Class(r, neg) => r.iter().any(|(a, b)| *a <= c && c <= *b) != *neg,
    }
}

fn m(pieces: &[Piece], s: &[char], end: bool) -> bool {
    if pieces.is_empty() {
        return !end || s.is_empty();
    }
    let p = &pieces[0];
    let mut n = 0;
    while n < p.max && n < s.len() && atom_ok(&p.atom, s[n]) {
        n += 1;
    }
    loop {
        if n >= p.min && m(&pieces[1..], &s[n..], end) {
            return true;
        }
        if n == 0 || n <= p.min {
            return false;
        }
        n -= 1;
    }
}

pub fn regex_match(pat: &str, s: &str) -> bool {
    let (start, end, pieces) = parse(pat);
    let cs: Vec<char> = s.chars().collect();
    if start {
        return m(&pieces, &cs, end);
    }
    (0..=cs.len()).any(|i| m(&pieces, &cs[i..], end))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn re() {
        assert!(regex_match("^CAP_[A-Z_]+$", "CAP_SYS_ADMIN"));
        assert!(!regex_match("^CAP_[A-Z_]+$", "CAP_sys"));
        assert!(regex_match("^[1-9][0-9]*[KMG]B$", "2MB"));
        assert!(!regex_match("^[1-9][0-9]*[KMG]B$", "02MB"));
        assert!(regex_match(".{1,}", "a"));
        assert!(!regex_match(".{1,}", ""));
        assert!(regex_match("^MB:[^\\n]*$", "MB:0=20"));
        assert!(!regex_match("^MB:[^\\n]*$", "MB:0\n"));
        assert!(regex_match("^[cbup]$", "u"));
        assert!(regex_match("^[0-9, -]*$", "0-3, 7"));
    }
    #[test]
    fn schemas() {
        let c = crate::bundle::base_config("oc-test", &["CAP_KILL", "CAP_CHOWN"]);
        assert_eq!(validate("config-schema.json", &c), Vec::<String>::new());
        let st = serde_json::json!({"ociVersion": "1.0.2", "id": "a", "status": "running", "pid": 4, "bundle": "/b"});
        assert!(validate("state-schema.json", &st).is_empty());
        let bad = serde_json::json!({"ociVersion": "1.0.2", "status": "starting", "pid": -1, "bundle": "/b"});
        assert_eq!(validate("state-schema.json", &bad).len(), 3);
        let f = serde_json::json!({"ociVersionMin": "1.0.0", "ociVersionMax": "1.1.0", "linux": {"capabilities": ["CAP_X", "nope"], "namespaces": ["pid", "bogus"]}});
        assert_eq!(validate("features-schema.json", &f).len(), 2);
    }
}
