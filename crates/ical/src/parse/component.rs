//! Builds the component tree (VCALENDAR > VEVENT, VTIMEZONE > STANDARD, ...) from
//! content lines, recovering from mismatched, missing or too deeply nested BEGIN/END.

use super::lexer::ContentLine;
use std::borrow::Cow;

/// A component whose lines borrow from the feed text (`'a`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Component<'a> {
    /// Upper-cased component name, e.g. `VEVENT`.
    pub name: Cow<'a, str>,
    pub props: Vec<ContentLine<'a>>,
    pub children: Vec<Component<'a>>,
    pub line_no: usize,
}

impl<'a> Component<'a> {
    pub fn prop(&self, name: &str) -> Option<&ContentLine<'a>> {
        self.props.iter().find(|p| p.name == name)
    }

    pub fn props_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s ContentLine<'a>> + 's {
        self.props.iter().filter(move |p| p.name == name)
    }

    pub fn children_named<'s>(
        &'s self,
        name: &'s str,
    ) -> impl Iterator<Item = &'s Component<'a>> + 's {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Caps on the tree, so hostile input costs bounded memory.
pub(crate) struct TreeLimits {
    pub max_depth: usize,
    pub max_components: usize,
}

/// Returns the top-level VCALENDAR components. Components nested deeper than
/// `max_depth`, components never closed (a truncated file) other than VCALENDAR, and
/// components past `max_components` are dropped with a warning.
pub(crate) fn build_tree<'a>(
    lines: impl IntoIterator<Item = ContentLine<'a>>,
    limits: &TreeLimits,
    warnings: &mut Vec<String>,
) -> Vec<Component<'a>> {
    let mut roots = Vec::new();
    let mut stack: Vec<Component> = Vec::new();
    // Depth of BEGINs we are ignoring because they were too deep or over the cap.
    let mut skipped = 0usize;
    let mut count = 0usize;
    let mut cap_warned = false;

    for line in lines {
        match &*line.name {
            "BEGIN" => {
                let name = upper_trimmed(line.value);
                if skipped > 0 {
                    skipped += 1;
                } else if stack.len() >= limits.max_depth {
                    warnings.push(format!(
                        "line {}: {name} nested too deeply, skipped",
                        line.line_no
                    ));
                    skipped = 1;
                } else if count >= limits.max_components {
                    if !cap_warned {
                        warnings.push(format!(
                            "line {}: more than {} components, the rest are skipped",
                            line.line_no, limits.max_components
                        ));
                        cap_warned = true;
                    }
                    skipped = 1;
                } else {
                    count += 1;
                    stack.push(Component {
                        name,
                        // Most components have a handful of lines; growing every list
                        // from empty cost several reallocations per event.
                        props: Vec::with_capacity(8),
                        children: Vec::new(),
                        line_no: line.line_no,
                    });
                }
            }
            "END" => {
                if skipped > 0 {
                    skipped -= 1;
                    continue;
                }
                let name = line.value.trim();
                let Some(pos) = stack
                    .iter()
                    .rposition(|c| c.name.eq_ignore_ascii_case(name))
                else {
                    warnings.push(format!(
                        "line {}: END:{name} without BEGIN, ignored",
                        line.line_no
                    ));
                    continue;
                };
                while stack.len() > pos + 1 {
                    if let Some(open) = stack.pop() {
                        warnings.push(format!(
                            "line {}: {} never closed, skipped",
                            open.line_no, open.name
                        ));
                    }
                }
                if let Some(done) = stack.pop() {
                    attach(done, &mut stack, &mut roots);
                }
            }
            _ => {
                if skipped == 0 {
                    if let Some(top) = stack.last_mut() {
                        top.props.push(line);
                    }
                }
            }
        }
    }
    // End of input with components still open: the file was truncated. Complete
    // children were already attached, so keeping the calendars keeps them.
    while let Some(open) = stack.pop() {
        if open.name == "VCALENDAR" {
            warnings.push(format!(
                "line {}: VCALENDAR never closed (truncated file?)",
                open.line_no
            ));
            attach(open, &mut stack, &mut roots);
        } else {
            warnings.push(format!(
                "line {}: {} never closed (truncated file?), skipped",
                open.line_no, open.name
            ));
        }
    }
    roots
}

/// A BEGIN value as a component name, borrowed when it is already upper case.
fn upper_trimmed(value: Cow<'_, str>) -> Cow<'_, str> {
    let clean = |s: &str| s.len() == s.trim().len() && !s.bytes().any(|b| b.is_ascii_lowercase());
    match value {
        Cow::Borrowed(s) if clean(s) => Cow::Borrowed(s),
        other => Cow::Owned(other.trim().to_ascii_uppercase()),
    }
}

fn attach<'a>(done: Component<'a>, stack: &mut [Component<'a>], roots: &mut Vec<Component<'a>>) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(done),
        None if done.name == "VCALENDAR" => roots.push(done),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::lexer::content_lines;

    fn tree(text: &str, depth: usize) -> (Vec<Component<'_>>, Vec<String>) {
        let mut w = Vec::new();
        let mut tree_warnings = Vec::new();
        let lines = content_lines(text, 10_000, &mut w);
        let limits = TreeLimits {
            max_depth: depth,
            max_components: 100,
        };
        let roots = build_tree(lines, &limits, &mut tree_warnings);
        w.append(&mut tree_warnings);
        (roots, w)
    }

    #[test]
    fn nested_components_are_attached_to_their_parent() {
        let (roots, w) = tree(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nEND:VEVENT\nEND:VCALENDAR\n",
            8,
        );
        assert!(w.is_empty());
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].children[0].name, "VEVENT");
        assert_eq!(roots[0].children[0].props[0].value, "a");
    }

    #[test]
    fn components_deeper_than_the_limit_are_skipped() {
        let (roots, w) = tree(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nBEGIN:VALARM\nEND:VALARM\nUID:a\nEND:VEVENT\nEND:VCALENDAR\n",
            2,
        );
        assert_eq!(roots[0].children[0].children.len(), 0);
        assert_eq!(roots[0].children[0].props.len(), 1);
        assert_eq!(w.len(), 1);
    }

    #[test]
    fn an_unclosed_event_in_a_truncated_file_is_dropped() {
        let (roots, w) = tree(
            "BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nEND:VEVENT\nBEGIN:VEVENT\nUID:b\n",
            8,
        );
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].children.len(), 1);
        assert_eq!(w.len(), 2);
    }
}
