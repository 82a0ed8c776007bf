//! Content lines (RFC 5545 section 3.1): unfolding, and splitting a line into name,
//! parameters and value. Lenient by design: a malformed line becomes a warning, not an
//! error, because real feeds carry many of them.

use std::borrow::Cow;

/// One unfolded content line. Its parts borrow from the feed unless the line was folded:
/// copying every name and value of a large feed was a large part of reading it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ContentLine<'a> {
    /// Upper-cased property name.
    pub name: Cow<'a, str>,
    /// The parameters as written, `;NAME=value...` up to the value's colon, checked
    /// when the line was read. Kept whole and read on demand: a line's parameters are
    /// looked up once or twice, and splitting them up front cost two allocations a line.
    params: Cow<'a, str>,
    pub value: Cow<'a, str>,
    /// 1-based physical line number where the logical line starts, for warnings.
    pub line_no: usize,
}

impl ContentLine<'_> {
    /// Each parameter's name and its values as written (quoted ones with their quotes).
    fn params(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut rest: &str = &self.params;
        std::iter::from_fn(move || {
            let after = rest.strip_prefix(';')?;
            let (name, tail) = after.split_once('=')?;
            let len = values_len(tail)?;
            let (values, next) = tail.split_at(len);
            rest = next;
            Some((name, values))
        })
    }

    fn values_of(&self, name: &str) -> Option<&str> {
        self.params()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    }

    /// The first value of a parameter, if present.
    pub fn param(&self, name: &str) -> Option<&str> {
        values(self.values_of(name)?).next()
    }

    /// The TZID and the value of a date or date-time property, repaired where a feed
    /// wrote a zone name such as `(UTC+07:00) Bangkok, Hanoi, Jakarta` unquoted: the
    /// parameter then reads as several values split at its commas, and ends at its
    /// colon with the rest of the name taken for the value. A date or date-time never
    /// holds a colon, so the repair cannot change a well-formed line.
    pub fn tzid_and_value(&self) -> (Option<Cow<'_, str>>, &str) {
        let Some(raw) = self.values_of("TZID") else {
            return (None, &self.value);
        };
        let mut parts = values(raw);
        let first = parts.next().unwrap_or("");
        let mut tzid: Cow<'_, str> = Cow::Borrowed(first);
        for more in parts {
            let joined = tzid.to_mut();
            joined.push(',');
            joined.push_str(more);
        }
        let mut value: &str = &self.value;
        let is_last = self
            .params()
            .last()
            .is_some_and(|(n, _)| n.eq_ignore_ascii_case("TZID"));
        if let Some((rest_of_name, real_value)) = value.rsplit_once(':').filter(|_| is_last) {
            tzid = Cow::Owned(format!("{tzid}:{rest_of_name}"));
            value = real_value;
        }
        (Some(tzid), value)
    }

    fn into_owned(self) -> ContentLine<'static> {
        ContentLine {
            name: Cow::Owned(self.name.into_owned()),
            params: Cow::Owned(self.params.into_owned()),
            value: Cow::Owned(self.value.into_owned()),
            line_no: self.line_no,
        }
    }
}

/// The values of a parameter as written (`a,"b;c",d`), quotes removed.
fn values(raw: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(raw);
    std::iter::from_fn(move || {
        let s = rest?;
        let (value, after) = match s.strip_prefix('"') {
            Some(quoted) => {
                let close = quoted.find('"').unwrap_or(quoted.len());
                (&quoted[..close], quoted.get(close + 1..).unwrap_or(""))
            }
            None => {
                let end = s.find(',').unwrap_or(s.len());
                (&s[..end], &s[end..])
            }
        };
        rest = after.strip_prefix(',');
        Some(value)
    })
}

/// Unfolds `input` into logical lines and parses each one, as they are read: the tree
/// takes them one by one, so no vector of every line of a large feed is built. Lines
/// longer than `max_line_len` bytes (after unfolding) and lines that do not parse are
/// dropped, with a warning each.
pub(crate) fn content_lines<'a, 'w>(
    input: &'a str,
    max_line_len: usize,
    warnings: &'w mut Vec<String>,
) -> impl Iterator<Item = ContentLine<'a>> + use<'a, 'w> {
    let mut physical_lines = input
        .split('\n')
        .map(|raw| raw.strip_suffix('\r').unwrap_or(raw))
        .enumerate()
        .peekable();
    std::iter::from_fn(move || loop {
        let (idx, first) = physical_lines.next()?;
        let line_no = idx + 1;
        if folded(first) {
            // A continuation with nothing before it to continue.
            continue;
        }
        if !physical_lines.peek().is_some_and(|(_, next)| folded(next)) {
            if first.len() > max_line_len {
                warnings.push(format!(
                    "line {line_no}: dropped, longer than the line limit"
                ));
            } else if let Some(line) = parse_checked(first, line_no, warnings) {
                return Some(line);
            }
            continue;
        }
        let mut joined = String::from(first);
        let mut oversized = first.len() > max_line_len;
        while let Some((_, next)) = physical_lines.next_if(|(_, next)| folded(next)) {
            let rest = &next[1..];
            if !oversized && joined.len() + rest.len() > max_line_len {
                oversized = true;
                joined = String::new();
            }
            if !oversized {
                joined.push_str(rest);
            }
        }
        if oversized {
            warnings.push(format!(
                "line {line_no}: dropped, longer than the line limit"
            ));
        } else if let Some(line) = parse_checked(&joined, line_no, warnings) {
            return Some(line.into_owned());
        }
    })
}

fn folded(line: &str) -> bool {
    line.starts_with([' ', '\t'])
}

fn parse_checked<'a>(
    line: &'a str,
    line_no: usize,
    warnings: &mut Vec<String>,
) -> Option<ContentLine<'a>> {
    if line.trim().is_empty() {
        return None;
    }
    let parsed = parse_line(line, line_no);
    if parsed.is_none() {
        warnings.push(format!("line {line_no}: not a content line, skipped"));
    }
    parsed
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// Upper-cased, borrowing when it already is (as nearly every feed writes names).
fn upper(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(s.to_ascii_uppercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// Parses `name *(";" param) ":" value`. Parameter values may be quoted, in which case
/// `;`, `:` and `,` inside them are literal.
pub(crate) fn parse_line(line: &str, line_no: usize) -> Option<ContentLine<'_>> {
    let line = line.trim_start_matches('\u{feff}');
    let name_end = line.find([';', ':'])?;
    let name = &line[..name_end];
    if name.is_empty() || !name.chars().all(is_name_char) {
        return None;
    }
    let mut rest = &line[name_end..];
    while let Some(after) = rest.strip_prefix(';') {
        let eq = after.find('=')?;
        let pname = &after[..eq];
        if pname.is_empty() || !pname.chars().all(is_name_char) {
            return None;
        }
        let tail = &after[eq + 1..];
        rest = &tail[values_len(tail)?..];
    }
    let value = rest.strip_prefix(':')?;
    Some(ContentLine {
        name: upper(name),
        params: Cow::Borrowed(&line[name_end..line.len() - rest.len()]),
        value: Cow::Borrowed(value),
        line_no,
    })
}

/// The length of a comma-separated parameter value list, up to the next unquoted `;`
/// or `:`; `None` for an unclosed quote.
fn values_len(s: &str) -> Option<usize> {
    let mut at = 0;
    loop {
        let rest = s.get(at..)?;
        if let Some(quoted) = rest.strip_prefix('"') {
            at += 1 + quoted.find('"')? + 1;
        } else {
            at += rest.find([',', ';', ':']).unwrap_or(rest.len());
        }
        match s.get(at..).and_then(|r| r.strip_prefix(',')) {
            Some(_) => at += 1,
            None => return Some(at),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folded_lines_with_crlf_lf_space_and_tab_are_joined() {
        let mut w = Vec::new();
        let lines: Vec<_> =
            content_lines("SUMMARY:Hel\r\n lo\n\tWorld\r\nUID:1\n", 1000, &mut w).collect();
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
        assert_eq!(
            line.values_of("X").map(|v| values(v).collect()),
            Some(vec!["a", "b"])
        );
        assert_eq!(line.param("x"), Some("a"));
        assert_eq!(line.value, "20240101T000000");
    }

    #[test]
    fn an_unquoted_tzid_with_commas_and_a_colon_is_put_back_together() {
        let line = parse_line(
            r"DTSTART;TZID=(UTC+07:00) Bangkok\, Hanoi\, Jakarta:20261204T090000",
            1,
        );
        let line = line.unwrap_or_else(|| panic!("parses"));
        let (tzid, value) = line.tzid_and_value();
        assert_eq!(
            tzid.as_deref(),
            Some(r"(UTC+07:00) Bangkok\, Hanoi\, Jakarta")
        );
        assert_eq!(value, "20261204T090000");
        let quoted = parse_line(r#"EXDATE;TZID="A, B":20261204T090000,20261205"#, 1);
        let quoted = quoted.unwrap_or_else(|| panic!("parses"));
        assert_eq!(
            quoted.tzid_and_value(),
            (Some(Cow::Borrowed("A, B")), "20261204T090000,20261205")
        );
    }

    #[test]
    fn oversized_lines_are_dropped_with_a_warning() {
        let mut w = Vec::new();
        let long = format!("DESCRIPTION:{}\nUID:x\n", "a".repeat(100));
        let lines: Vec<_> = content_lines(&long, 50, &mut w).collect();
        assert_eq!(lines.len(), 1);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn lines_without_a_colon_are_rejected() {
        assert!(parse_line("garbage line", 1).is_none());
        assert!(parse_line(":value", 1).is_none());
    }
}
