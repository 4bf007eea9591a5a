//! The request path the Ingress routes on and forwards, normalised as nginx normalises it
//! before matching locations: percent-encoded unreserved characters decoded (`%2e` is `.`),
//! runs of `/` merged, `.` and `..` segments resolved (RFC 3986 5.2.4). A path that climbs
//! above `/`, or is not a path at all (`*`, an authority), is refused. So a rule for `/public`
//! never forwards `/public/../admin`, and the replica sees the path the rule was chosen for.

/// Why a request target cannot be routed.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum BadPath {
    /// Not an origin-form path (`*`, `example.com:443`).
    NotAPath,
    /// `..` segments climb above the root.
    AboveRoot,
}

/// `target` (path and query) normalised; the query is kept as sent.
pub(super) fn normalize(target: &str) -> Result<String, BadPath> {
    let (path, query) = match target.find('?') {
        Some(i) => target.split_at(i),
        None => (target, ""),
    };
    if !path.starts_with('/') {
        return Err(BadPath::NotAPath);
    }
    let decoded = decode_unreserved(path);
    let mut out: Vec<&str> = Vec::new();
    let segments: Vec<&str> = decoded.split('/').skip(1).collect();
    let last = segments.len().saturating_sub(1);
    for (i, segment) in segments.iter().enumerate() {
        match *segment {
            // `a//b` is `a/b`; a trailing slash survives as an empty last segment.
            "" if i != last => {}
            "." => {
                if i == last {
                    out.push("");
                }
            }
            ".." => {
                out.pop().ok_or(BadPath::AboveRoot)?;
                if i == last {
                    out.push("");
                }
            }
            s => out.push(s),
        }
    }
    let mut normal = String::with_capacity(target.len());
    for s in &out {
        normal.push('/');
        normal.push_str(s);
    }
    if normal.is_empty() {
        normal.push('/');
    }
    normal.push_str(query);
    Ok(normal)
}

/// `%XX` escapes of unreserved characters (letters, digits, `-._~`) decoded, as RFC 3986
/// 6.2.2.2 allows; every other escape (`%2F` among them) is kept as sent.
fn decode_unreserved(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains('%') {
        return path.into();
    }
    let b = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(c) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
                    out.push(c as char);
                    i += 3;
                    continue;
                }
            }
        }
        // `path` is ASCII here (a URI); other bytes are copied whole, character by character.
        let ch = path[i..].chars().next().expect("a character");
        out.push(ch);
        i += ch.len_utf8();
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised_as_nginx_does() {
        let cases = [
            ("/", "/"),
            ("/a/b", "/a/b"),
            ("/a/b/", "/a/b/"),
            ("/public/../admin/secret", "/admin/secret"),
            ("/public/%2e%2e/admin", "/admin"),
            ("/public/%2E%2E/admin", "/admin"),
            ("/public/.%2e/admin?x=/../y", "/admin?x=/../y"),
            ("//admin", "/admin"),
            ("/a//b///c", "/a/b/c"),
            ("/a/./b/.", "/a/b/"),
            ("/a/..", "/"),
            ("/a/b/..", "/a/"),
            ("/%7euser/%41", "/~user/A"),
            ("/a%2fb/%2F..", "/a%2fb/%2F.."),
            ("/a%2", "/a%2"),
            ("/a%zz", "/a%zz"),
            ("/?q", "/?q"),
        ];
        for (given, expected) in cases {
            assert_eq!(normalize(given).as_deref(), Ok(expected), "{given}");
        }
    }

    #[test]
    fn what_is_not_a_path_inside_the_root_is_refused() {
        assert_eq!(normalize("/.."), Err(BadPath::AboveRoot));
        assert_eq!(normalize("/a/../../b"), Err(BadPath::AboveRoot));
        assert_eq!(normalize("/%2e%2e/etc/passwd"), Err(BadPath::AboveRoot));
        assert_eq!(normalize("*"), Err(BadPath::NotAPath));
        assert_eq!(normalize("example.com:443"), Err(BadPath::NotAPath));
    }
}
