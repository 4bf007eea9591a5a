//! Glob patterns as Helm's `.Files.Glob` reads them: gobwas/glob compiled with `/` as the
//! separator. `*` and `?` stay within a folder, `**` crosses folders (`files/**.yaml` finds
//! `files/a/b.yaml`), `[abc]`, `[a-z]`, `[!a-z]` are classes, `{a,b}` alternatives, `\` escapes.
//! (`.helmignore` uses Go's `filepath.Match` instead: see `gomatch`.)

use berth_template::GoError;

/// Alternatives are expanded: a pattern may make at most this many.
const MAX_ALTERNATIVES: usize = 1024;

#[derive(Clone, Debug, PartialEq)]
enum Token {
    Literal(char),
    /// `?`: one character but `/`.
    One,
    /// `*`: any characters but `/`.
    Star,
    /// `**`: any characters.
    Super,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

/// A compiled pattern: its alternatives, each a sequence of tokens.
pub(crate) struct Glob {
    alternatives: Vec<Vec<Token>>,
}

impl Glob {
    pub(crate) fn new(pattern: &str) -> Result<Glob, GoError> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut at = 0;
        let alternatives = sequence(&chars, &mut at, false)?;
        if at < chars.len() {
            return Err(format!("unexpected {:?} in glob pattern {pattern:?}", chars[at]).into());
        }
        Ok(Glob { alternatives })
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        let name: Vec<char> = name.chars().collect();
        self.alternatives.iter().any(|t| matches(t, &name))
    }
}

/// Tokens up to the end, or (inside `{...}`) up to a `,` or `}`; every expansion of the
/// alternatives met on the way.
fn sequence(p: &[char], at: &mut usize, in_braces: bool) -> Result<Vec<Vec<Token>>, GoError> {
    let mut seqs: Vec<Vec<Token>> = vec![vec![]];
    let push =
        |seqs: &mut Vec<Vec<Token>>, t: Token| seqs.iter_mut().for_each(|s| s.push(t.clone()));
    while *at < p.len() {
        let c = p[*at];
        match c {
            ',' | '}' if in_braces => return Ok(seqs),
            '\\' => {
                let e = *p.get(*at + 1).ok_or("a glob pattern ends with a lone \\")?;
                push(&mut seqs, Token::Literal(e));
                *at += 2;
            }
            '*' if p.get(*at + 1) == Some(&'*') => {
                push(&mut seqs, Token::Super);
                *at += 2;
            }
            '*' => {
                push(&mut seqs, Token::Star);
                *at += 1;
            }
            '?' => {
                push(&mut seqs, Token::One);
                *at += 1;
            }
            '[' => {
                let t = class(p, at)?;
                push(&mut seqs, t);
            }
            '{' => {
                *at += 1;
                let mut options = Vec::new();
                loop {
                    options.extend(sequence(p, at, true)?);
                    match p.get(*at) {
                        Some(',') => *at += 1,
                        Some('}') => {
                            *at += 1;
                            break;
                        }
                        _ => return Err("unclosed { in glob pattern".into()),
                    }
                }
                let mut next = Vec::new();
                for s in &seqs {
                    for o in &options {
                        next.push(s.iter().chain(o).cloned().collect());
                    }
                }
                if next.len() > MAX_ALTERNATIVES {
                    return Err(format!(
                        "a glob pattern with more than {MAX_ALTERNATIVES} alternatives"
                    )
                    .into());
                }
                seqs = next;
            }
            c => {
                push(&mut seqs, Token::Literal(c));
                *at += 1;
            }
        }
    }
    Ok(seqs)
}

fn class(p: &[char], at: &mut usize) -> Result<Token, GoError> {
    *at += 1;
    let negated = p.get(*at) == Some(&'!');
    if negated {
        *at += 1;
    }
    let mut ranges = Vec::new();
    loop {
        let c = *p.get(*at).ok_or("unclosed [ in glob pattern")?;
        *at += 1;
        match c {
            ']' => break,
            '\\' => {
                let e = *p.get(*at).ok_or("unclosed [ in glob pattern")?;
                *at += 1;
                ranges.push((e, e));
            }
            lo if p.get(*at) == Some(&'-') && p.get(*at + 1).is_some_and(|h| *h != ']') => {
                let hi = p[*at + 1];
                *at += 2;
                ranges.push((lo, hi));
            }
            c => ranges.push((c, c)),
        }
    }
    Ok(Token::Class { negated, ranges })
}

/// Whether `tokens` match all of `name`: a table of (token, position) pairs, so no pattern
/// takes more than tokens x characters steps.
fn matches(tokens: &[Token], name: &[char]) -> bool {
    let (t, n) = (tokens.len(), name.len());
    // ok[i][j]: tokens[i..] match name[j..].
    let mut ok = vec![vec![false; n + 1]; t + 1];
    ok[t][n] = true;
    for i in (0..t).rev() {
        for j in (0..=n).rev() {
            let here = name.get(j).copied();
            ok[i][j] = match &tokens[i] {
                Token::Literal(c) => here == Some(*c) && ok[i + 1][j + 1],
                Token::One => here.is_some_and(|c| c != '/') && ok[i + 1][j + 1],
                Token::Star => ok[i + 1][j] || (here.is_some_and(|c| c != '/') && ok[i][j + 1]),
                Token::Super => ok[i + 1][j] || (here.is_some() && ok[i][j + 1]),
                Token::Class { negated, ranges } => {
                    here.is_some_and(|c| {
                        ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&c)) != *negated
                    }) && ok[i + 1][j + 1]
                }
            };
        }
    }
    ok[0][0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_gobwas_matches_them() {
        let cases = [
            ("files/rules/**.yaml", "files/rules/generated/x.yaml", true),
            ("files/rules/**.yaml", "files/rules/x.yaml", true),
            ("files/rules/*.yaml", "files/rules/generated/x.yaml", false),
            ("files/*", "files/a", true),
            ("files/*", "files/a/b", false),
            ("**", "a/b/c", true),
            ("dashboards/*.{json,yaml}", "dashboards/a.yaml", true),
            ("dashboards/*.{json,yaml}", "dashboards/a.txt", false),
            ("conf/[a-c]?.ini", "conf/b1.ini", true),
            ("conf/[!a-c]?.ini", "conf/b1.ini", false),
            ("conf/\\*.ini", "conf/*.ini", true),
            ("conf/\\*.ini", "conf/x.ini", false),
            ("{a,b/{c,d}}/x", "b/d/x", true),
        ];
        for (pattern, name, want) in cases {
            assert_eq!(
                Glob::new(pattern).unwrap().matches(name),
                want,
                "{pattern} {name}"
            );
        }
        assert!(Glob::new("a[b").is_err());
        assert!(Glob::new("a{b").is_err());
    }
}
