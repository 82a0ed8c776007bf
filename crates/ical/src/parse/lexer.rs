//! Content lines (RFC 5545 section 3.1): unfolding, and splitting a line into name,
//! parameters and value. Lenient by design: a malformed line becomes a warning, not an
//! error, because real feeds carry many of them.

/// One unfolded content line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentLine {
    /// Upper-cased property name.
    pub name: String,
    pub params: Vec<Param>,
    pub value: String,
    /// 1-based physical line number where the logical line starts, for warnings.
    pub line_no: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param {
    /// Upper-cased parameter name.
    pub name: String,
    pub values: Vec<String>,
}

impl ContentLine {
    /// The first value of a parameter, if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|p| p.name == name)
            .and_then(|p| p.values.first())
            .map(String::as_str)
    }
}

/// Unfolds `input` into logical lines and parses each one. Lines longer than
/// `max_line_len` bytes (after unfolding) and lines that do not parse are dropped, with a
/// warning each.
pub(crate) fn content_lines(
    input: &str,
    max_line_len: usize,
    warnings: &mut Vec<String>,
) -> Vec<ContentLine> {
    // Growing a vector of a hundred thousand lines by doubling copies it many times over.
    let mut out = Vec::with_capacity(input.bytes().filter(|b| *b == b'\n').count() + 1);
    let mut current = String::new();
    let mut current_no = 0usize;
    let mut oversized = false;

    for (idx, raw) in input.split('\n').enumerate() {
        let physical = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some(rest) = physical
            .strip_prefix(' ')
            .or_else(|| physical.strip_prefix('\t'))
        {
            if current_no == 0 {
                continue;
            }
            if !oversized {
                if current.len() + rest.len() > max_line_len {
                    oversized = true;
                    current.clear();
                } else {
                    current.push_str(rest);
                }
            }
            continue;
        }
        flush(&mut current, current_no, oversized, &mut out, warnings);
        current_no = idx + 1;
        oversized = physical.len() > max_line_len;
        if !oversized {
            current.push_str(physical);
        }
    }
    flush(&mut current, current_no, oversized, &mut out, warnings);
    out
}

fn flush(
    current: &mut String,
    line_no: usize,
    oversized: bool,
    out: &mut Vec<ContentLine>,
    warnings: &mut Vec<String>,
) {
    if line_no == 0 {
        return;
    }
    if oversized {
        warnings.push(format!(
            "line {line_no}: dropped, longer than the line limit"
        ));
    } else if !current.trim().is_empty() {
        match parse_line(current, line_no) {
            Some(line) => out.push(line),
            None => warnings.push(format!("line {line_no}: not a content line, skipped")),
        }
    }
    current.clear();
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Parses `name *(";" param) ":" value`. Parameter values may be quoted, in which case
/// `;`, `:` and `,` inside them are literal.
pub(crate) fn parse_line(line: &str, line_no: usize) -> Option<ContentLine> {
    let line = line.trim_start_matches('\u{feff}');
    let name_end = line.find([';', ':'])?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(is_name_char) {
        return None;
    }
    let mut params = Vec::new();
    let mut rest = &line[name_end..];
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after.find('=')?;
        let pname = &after[..eq];
        if pname.is_empty() || !pname.chars().all(is_name_char) {
            return None;
        }
        let (values, remainder) = param_values(&after[eq + 1..])?;
        params.push(Param {
            name: pname.to_ascii_uppercase(),
            values,
        });
        rest = remainder;
    }
    let value = rest.strip_prefix(':')?;
    Some(ContentLine {
        name: name.to_ascii_uppercase(),
        params,
        value: value.to_string(),
        line_no,
    })
}

/// Reads a comma-separated parameter value list up to the next unquoted `;` or `:`.
fn param_values(mut s: &str) -> Option<(Vec<String>, &str)> {
    let mut values = Vec::new();
    loop {
        if let Some(quoted) = s.strip_prefix('"') {
            let close = quoted.find('"')?;
            values.push(quoted[..close].to_string());
            s = &quoted[close + 1..];
        } else {
            let end = s.find([',', ';', ':']).unwrap_or(s.len());
            values.push(s[..end].to_string());
            s = &s[end..];
        }
        match s.strip_prefix(',') {
            Some(next) => s = next,
            None => return Some((values, s)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_lines_with_crlf_lf_space_and_tab_are_joined() {
        let mut w = Vec::new();
        let lines = content_lines("SUMMARY:Hel\r\n lo\n\tWorld\r\nUID:1\n", 1000, &mut w);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].value, "HelloWorld");
        assert_eq!(lines[1].name, "UID");
        assert!(w.is_empty());
    }

    #[test]
    fn quoted_parameters_keep_colons_and_semicolons() {
        let line = parse_line(r#"DTSTART;TZID="Foo: Bar;Baz";X=a,b:20240101T000000"#, 1);
        let line = line.unwrap_or_else(|| panic!("parses"));
        assert_eq!(line.param("TZID"), Some("Foo: Bar;Baz"));
        assert_eq!(line.params[1].values, vec!["a", "b"]);
        assert_eq!(line.value, "20240101T000000");
    }

    #[test]
    fn oversized_lines_are_dropped_with_a_warning() {
        let mut w = Vec::new();
        let long = format!("DESCRIPTION:{}\nUID:x\n", "a".repeat(100));
        let lines = content_lines(&long, 50, &mut w);
        assert_eq!(lines.len(), 1);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn lines_without_a_colon_are_rejected() {
        assert!(parse_line("garbage line", 1).is_none());
        assert!(parse_line(":value", 1).is_none());
    }
}
