//! Semantic versions and constraints as Masterminds/semver v3 reads them (what Helm and Sprig
//! use): lenient versions (`v1.28`, `1`), `||` alternatives, `,`/space conjunctions, `=`, `!=`,
//! `>`, `<`, `>=`, `<=`, `~`, `^`, wildcards (`1.2.x`, `*`), hyphen ranges, and the rule that a
//! prerelease version satisfies only constraints that name a prerelease.

use crate::error::GoError;

use std::cmp::Ordering;

/// A parsed version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

impl Version {
    /// Parses leniently, as Masterminds' `NewVersion`: an optional `v`, one to three numbers.
    pub fn parse(s: &str) -> Option<Version> {
        let original = s.to_string();
        let s = s.strip_prefix('v').unwrap_or(s);
        let (s, metadata) = split_once_or(s, '+');
        let (core, pre) = split_once_or(s, '-');
        if !valid_idents(&pre) || !valid_idents(&metadata) {
            return None;
        }
        let mut nums = [0u64; 3];
        let parts: Vec<&str> = core.split('.').collect();
        if parts.is_empty() || parts.len() > 3 {
            return None;
        }
        for (i, p) in parts.iter().enumerate() {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            nums[i] = p.parse().ok()?;
        }
        Some(Version {
            major: nums[0],
            minor: nums[1],
            patch: nums[2],
            pre,
            metadata,
            original,
        })
    }

    fn cmp_pre(&self, other: &Version) -> Ordering {
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => {
                let a: Vec<&str> = self.pre.split('.').collect();
                let b: Vec<&str> = other.pre.split('.').collect();
                for (x, y) in a.iter().zip(&b) {
                    let o = match (x.parse::<u64>(), y.parse::<u64>()) {
                        (Ok(i), Ok(j)) => i.cmp(&j),
                        (Ok(_), Err(_)) => Ordering::Less,
                        (Err(_), Ok(_)) => Ordering::Greater,
                        _ => x.cmp(y),
                    };
                    if o != Ordering::Equal {
                        return o;
                    }
                }
                a.len().cmp(&b.len())
            }
        }
    }

    /// Version order (metadata aside).
    pub fn compare(&self, other: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(other.major, other.minor, other.patch))
            .then_with(|| self.cmp_pre(other))
    }

    /// `MAJOR.MINOR.PATCH[-PRE][+META]`.
    pub fn canonical(&self) -> String {
        let mut s = format!("{}.{}.{}", self.major, self.minor, self.patch);
        if !self.pre.is_empty() {
            s.push('-');
            s.push_str(&self.pre);
        }
        if !self.metadata.is_empty() {
            s.push('+');
            s.push_str(&self.metadata);
        }
        s
    }
}

fn split_once_or(s: &str, c: char) -> (&str, String) {
    match s.split_once(c) {
        Some((a, b)) => (a, b.to_string()),
        None => (s, String::new()),
    }
}

fn valid_idents(s: &str) -> bool {
    s.is_empty()
        || s.split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Tilde,
    Caret,
}

/// Which parts a constraint's version left out or wildcarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dirty {
    None,
    Patch,
    Minor,
    All,
}

#[derive(Clone, Debug)]
struct Term {
    op: Op,
    v: Version,
    dirty: Dirty,
}

/// A parsed constraint: alternatives of conjunctions.
#[derive(Clone, Debug)]
pub struct Constraints {
    any: Vec<Vec<Term>>,
}

impl Constraints {
    /// Parses a constraint string; the error says which part is not understood.
    pub fn parse(s: &str) -> Result<Constraints, GoError> {
        let mut any = Vec::new();
        for alt in s.split("||") {
            let alt = expand_hyphens(alt.trim());
            let mut all = Vec::new();
            let mut pending = String::new();
            for t in alt
                .split([',', ' '])
                .map(str::trim)
                .filter(|t| !t.is_empty())
            {
                // An operator alone (`>= 1.2`) belongs to the next word.
                if t.chars().all(|c| "<>=!~^".contains(c)) {
                    pending.push_str(t);
                    continue;
                }
                let t = format!("{}{t}", std::mem::take(&mut pending));
                all.push(term(&t).ok_or_else(|| format!("improper constraint: {s}"))?);
            }
            if !pending.is_empty() {
                return Err(format!("improper constraint: {s}").into());
            }
            if all.is_empty() {
                all.push(term("*").expect("wildcard"));
            }
            any.push(all);
        }
        Ok(Constraints { any })
    }

    /// Whether the version satisfies the constraints.
    pub fn check(&self, v: &Version) -> bool {
        self.any.iter().any(|all| all.iter().all(|t| t.check(v)))
    }
}

/// `1.2 - 1.4` becomes `>=1.2 <=1.4`.
fn expand_hyphens(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if i + 2 < words.len() && words[i + 1] == "-" {
            out.push(format!(">={}", words[i]));
            out.push(format!("<={}", words[i + 2]));
            i += 3;
        } else {
            out.push(words[i].to_string());
            i += 1;
        }
    }
    out.join(" ")
}

fn term(t: &str) -> Option<Term> {
    let ops: [(&str, Op); 11] = [
        (">=", Op::Ge),
        ("=>", Op::Ge),
        ("<=", Op::Le),
        ("=<", Op::Le),
        ("!=", Op::Ne),
        ("~>", Op::Tilde),
        (">", Op::Gt),
        ("<", Op::Lt),
        ("=", Op::Eq),
        ("~", Op::Tilde),
        ("^", Op::Caret),
    ];
    let (op, rest) = ops
        .iter()
        .find_map(|(p, op)| t.strip_prefix(p).map(|r| (*op, r.trim())))
        .unwrap_or((Op::Eq, t));
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    let is_x = |p: &str| matches!(p, "x" | "X" | "*");
    let (core, suffix) = match rest.find(['-', '+']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let parts: Vec<&str> = core.split('.').collect();
    let dirty = match parts.as_slice() {
        [m] if is_x(m) => Dirty::All,
        [_] => Dirty::Minor,
        [_, n] if is_x(n) => Dirty::Minor,
        [_, _] => Dirty::Patch,
        [_, n, _] if is_x(n) => Dirty::Minor,
        [_, _, p] if is_x(p) => Dirty::Patch,
        _ => Dirty::None,
    };
    let nums: Vec<&str> = parts
        .iter()
        .map(|p| if is_x(p) { "0" } else { p })
        .collect();
    let v = Version::parse(&format!("{}{suffix}", nums.join(".")))?;
    Some(Term { op, v, dirty })
}

impl Term {
    fn check(&self, v: &Version) -> bool {
        if !v.pre.is_empty() && self.v.pre.is_empty() {
            return false;
        }
        let c = &self.v;
        let ord = v.compare(c);
        match self.op {
            Op::Eq if self.dirty == Dirty::None => ord == Ordering::Equal,
            Op::Eq => self.in_wildcard(v),
            Op::Ne if self.dirty == Dirty::None => ord != Ordering::Equal,
            Op::Ne => !self.in_wildcard(v),
            Op::Gt => match self.dirty {
                Dirty::All => false,
                Dirty::Minor => v.major > c.major,
                Dirty::Patch => v.major > c.major || (v.major == c.major && v.minor > c.minor),
                Dirty::None => ord == Ordering::Greater,
            },
            Op::Lt => ord == Ordering::Less,
            Op::Ge => ord != Ordering::Less,
            Op::Le => match self.dirty {
                Dirty::All => true,
                Dirty::Minor => v.major <= c.major,
                Dirty::Patch => v.major < c.major || (v.major == c.major && v.minor <= c.minor),
                Dirty::None => ord != Ordering::Greater,
            },
            Op::Tilde => {
                ord != Ordering::Less
                    && match self.dirty {
                        Dirty::All => true,
                        Dirty::Minor => v.major == c.major,
                        _ => v.major == c.major && v.minor == c.minor,
                    }
            }
            Op::Caret => {
                ord != Ordering::Less
                    && if c.major > 0 || self.dirty == Dirty::Minor || self.dirty == Dirty::All {
                        v.major == c.major
                    } else if c.minor > 0 || self.dirty == Dirty::Patch {
                        v.major == 0 && v.minor == c.minor
                    } else {
                        v.major == 0 && v.minor == 0 && v.patch == c.patch
                    }
            }
        }
    }

    fn in_wildcard(&self, v: &Version) -> bool {
        let c = &self.v;
        match self.dirty {
            Dirty::All => true,
            Dirty::Minor => v.major == c.major,
            Dirty::Patch => v.major == c.major && v.minor == c.minor,
            Dirty::None => v.compare(c) == Ordering::Equal,
        }
    }
}

/// Sprig's `semverCompare`: whether `version` satisfies `constraint`.
pub fn compare(constraint: &str, version: &str) -> Result<bool, GoError> {
    let c = Constraints::parse(constraint)?;
    let v = Version::parse(version).ok_or_else(|| "Invalid Semantic Version".to_string())?;
    Ok(c.check(&v))
}

#[cfg(test)]
mod tests {
    use super::compare;

    #[test]
    fn masterminds_cases() {
        let yes = |c: &str, v: &str| assert!(compare(c, v).unwrap(), "{c} {v}");
        let no = |c: &str, v: &str| assert!(!compare(c, v).unwrap(), "{c} {v}");
        yes(">=1.21-0", "v1.28.7");
        yes(">=1.21-0", "v1.28.7-eks-1");
        no(">=1.21", "v1.28.7-eks-1");
        yes("<1.25-0", "1.24.3");
        no("<1.25-0", "1.25.0");
        yes("^1.2.3", "1.9.0");
        no("^1.2.3", "2.0.0");
        yes("^0.2.3", "0.2.9");
        no("^0.2.3", "0.3.0");
        yes("~1.2.3", "1.2.9");
        no("~1.2.3", "1.3.0");
        yes("1.2.x", "1.2.7");
        no("1.2.x", "1.3.0");
        yes("*", "4.5.6");
        yes("1.1 - 2", "1.5.0");
        yes(">1.0 <2 || >=3", "3.1.0");
        no(">1.0 <2 || >=3", "2.5.0");
        yes("!=1.2.3", "1.2.4");
        yes(">= 1.19.0-0, < 1.30.0-0", "1.28.7");
        yes("~2", "2.9.9");
        yes(">1.2", "1.3.0");
        no(">1.2", "1.2.5");
        yes("<=1.2", "1.2.9");
        assert!(compare("foo", "1.0.0").is_err());
        assert!(compare(">1", "x.y").is_err());
    }
}
