//! Apache's config syntax as Apache reads it: lines continued with a backslash joined, words split and unquoted as `ap_getword_conf` does. Shared by the policy and by whatever reads a vhost's ports.

use super::Rule;

/// Lines joined where one ends with a backslash, each with the number of its first line.
pub(crate) fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end();
        let (start, mut acc) = current.take().unwrap_or((i + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                current = Some((start, acc));
            }
            None => {
                acc.push_str(line);
                out.push((start, acc));
            }
        }
    }
    out.extend(current);
    out
}

/// Apache's word splitting (`ap_getword_conf`): white space separates,
/// `"…"` and `'…'` quote, a backslash escapes the quote inside them.
pub(crate) fn words(s: &str) -> Result<Vec<String>, Rule> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let Some(&first) = chars.peek() else {
            return Ok(out);
        };
        let mut word = String::new();
        if first == '"' || first == '\'' {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(Rule::Quote),
                    Some('\\') if matches!(chars.peek(), Some(&c) if c == first || c == '\\') => {
                        word.push(chars.next().expect("peeked"));
                    }
                    Some(c) if c == first => break,
                    Some(c) => word.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                word.push(c);
            }
        }
        out.push(word);
    }
}
