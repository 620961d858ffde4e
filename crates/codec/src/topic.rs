//! Topic Name and Topic Filter syntax (MQTT 3.1.1 §4.7, 5.0 §4.7 and §4.8.2).
//!
//! Only the syntax a single packet can be checked for lives here; matching
//! and subscription trees belong to the model.

use crate::error::{rules, Rule};
use crate::types::ProtocolVersion;

/// Result of a syntax check: fine, or the byte position and the rule broken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopicCheck {
    /// The topic is well-formed.
    Ok,
    /// Broken at this byte offset (inside the topic) by this rule.
    Bad(usize, &'static Rule),
}

impl TopicCheck {
    /// The rule broken, if any.
    pub fn rule(self) -> Option<&'static Rule> {
        match self {
            TopicCheck::Ok => None,
            TopicCheck::Bad(_, r) => Some(r),
        }
    }
}

/// Fast path for the common case: a name of ASCII characters with no NUL
/// and no wildcard is a valid Topic Name whatever the version. Returns it
/// as `&str` without a second validation pass; `None` sends the caller down
/// the full path (multi-byte UTF-8, or a violation to locate).
#[inline(always)]
pub(crate) fn scan_ascii_name(data: &[u8]) -> Option<&str> {
    if plain_ascii(data) {
        Some(ascii_to_str(data))
    } else {
        None
    }
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// High bit set in each byte of `w` that is zero (plus possibly in bytes
/// above a zero byte: only "is any byte zero" is exact, which is all we ask).
#[inline(always)]
const fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(LO) & !w & HI
}

/// Classifies bytes eight at a time: `(plain, wild)` where `plain` means
/// every byte is ASCII and none is NUL, and `wild` means some byte is '+'
/// or '#'.
#[inline(always)]
pub(crate) fn scan(data: &[u8]) -> (bool, bool) {
    #[inline(always)]
    fn word(w: u64) -> (u64, u64) {
        let bad = (w & HI) | zero_bytes(w);
        let wild = zero_bytes(w ^ (LO * b'+' as u64)) | zero_bytes(w ^ (LO * b'#' as u64));
        (bad, wild)
    }
    let mut bad = 0u64;
    let mut wild = 0u64;
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        let (b, x) = word(u64::from_le_bytes(w));
        bad |= b;
        wild |= x;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let w = if data.len() >= 8 {
            // Re-check the last eight bytes: overlaps bytes already seen.
            let mut w = [0u8; 8];
            w.copy_from_slice(&data[data.len() - 8..]);
            u64::from_le_bytes(w)
        } else {
            // Short input: pad with a harmless byte ('a') to a whole word.
            let mut w = u64::from_le_bytes([b'a'; 8]);
            for (i, &b) in tail.iter().enumerate() {
                w = (w & !(0xff << (8 * i))) | (u64::from(b) << (8 * i));
            }
            w
        };
        let (b, x) = word(w);
        bad |= b;
        wild |= x;
    }
    (bad == 0, wild != 0)
}

/// True when every byte is ASCII and none is NUL, '+' or '#'.
#[inline(always)]
pub(crate) fn plain_ascii(data: &[u8]) -> bool {
    scan(data) == (true, false)
}

/// `data` as `&str` when every byte is ASCII and none is NUL (the common
/// case for every string field), without a second validation pass.
#[inline(always)]
pub(crate) fn ascii_nonul_str(data: &[u8]) -> Option<(&str, bool)> {
    let (plain, wild) = scan(data);
    if plain {
        Some((ascii_to_str(data), wild))
    } else {
        None
    }
}

/// `data` as `&str`, for bytes [`plain_ascii`] accepted.
#[inline(always)]
#[allow(unsafe_code)]
fn ascii_to_str(data: &[u8]) -> &str {
    debug_assert!(data.is_ascii());
    // SAFETY: callers pass only bytes that `scan` classified as plain, so
    // every byte is below 0x80. A sequence of bytes below 0x80 is valid
    // UTF-8 (each byte is a one-byte code point), which is the whole
    // requirement of `from_utf8_unchecked`. The decode fuzz targets run
    // every input through this path.
    unsafe { core::str::from_utf8_unchecked(data) }
}

/// Checks a Topic Name (emptiness is the caller's business: 5.0 allows an
/// empty name next to a Topic Alias). `wildcard` is the rule to cite for a
/// wildcard character, which depends on where the name appears.
pub fn check_name(s: &str, wildcard: &'static Rule) -> TopicCheck {
    if s.len() > 0xFFFF {
        return TopicCheck::Bad(0xFFFF, &rules::TOPIC_TOO_LONG);
    }
    for (i, b) in s.bytes().enumerate() {
        match b {
            0 => return TopicCheck::Bad(i, &rules::TOPIC_NUL),
            b'+' | b'#' => return TopicCheck::Bad(i, wildcard),
            _ => {}
        }
    }
    TopicCheck::Ok
}

/// Checks a Topic Name as PUBLISH carries it (non-empty).
pub fn check_topic_name(s: &str) -> TopicCheck {
    if s.is_empty() {
        return TopicCheck::Bad(0, &rules::TOPIC_EMPTY);
    }
    check_name(s, &rules::PUBLISH_TOPIC_WILDCARD)
}

/// Checks a Topic Filter, including (5.0) the shared-subscription form
/// `$share/{ShareName}/{filter}`.
pub fn check_filter(s: &str, version: ProtocolVersion) -> TopicCheck {
    if s.len() > 0xFFFF {
        return TopicCheck::Bad(0xFFFF, &rules::TOPIC_TOO_LONG);
    }
    if s.is_empty() {
        return TopicCheck::Bad(0, &rules::TOPIC_EMPTY);
    }
    if let Some(i) = memchr_nul(s.as_bytes()) {
        return TopicCheck::Bad(i, &rules::TOPIC_NUL);
    }
    let mut start = 0;
    if version.is_v5() {
        if let Some(rest) = s.strip_prefix("$share/") {
            let name_end = rest.find('/');
            let name = &rest[..name_end.unwrap_or(rest.len())];
            if name.is_empty() {
                return TopicCheck::Bad(7, &rules::SHARE_NAME_EMPTY);
            }
            if let Some(i) = name.bytes().position(|b| b == b'+' || b == b'#') {
                return TopicCheck::Bad(7 + i, &rules::SHARE_NAME_INVALID);
            }
            match name_end {
                Some(e) if e + 1 < rest.len() => start = 7 + e + 1,
                _ => return TopicCheck::Bad(s.len(), &rules::SHARE_NAME_INVALID),
            }
        } else if s == "$share" {
            return TopicCheck::Bad(s.len(), &rules::SHARE_NAME_INVALID);
        }
    }
    check_filter_levels(s, start)
}

fn check_filter_levels(s: &str, start: usize) -> TopicCheck {
    // One pass: each wildcard must fill its level ('+' between separators,
    // '#' alone in the last level).
    let b = s.as_bytes();
    let n = b.len();
    let mut i = start;
    while i < n {
        let c = b[i];
        if c == b'+' || c == b'#' {
            let level_start = i == start || b[i - 1] == b'/';
            let level_end = i + 1 == n || b[i + 1] == b'/';
            if c == b'+' && !(level_start && level_end) {
                return TopicCheck::Bad(i, &rules::FILTER_PLUS_PLACEMENT);
            }
            if c == b'#' && !(level_start && i + 1 == n) {
                return TopicCheck::Bad(i, &rules::FILTER_HASH_PLACEMENT);
            }
        }
        i += 1;
    }
    TopicCheck::Ok
}

#[inline]
fn memchr_nul(b: &[u8]) -> Option<usize> {
    if scan(b).0 {
        None
    } else {
        b.iter().position(|&c| c == 0)
    }
}

/// True when a filter is a 5.0 shared subscription (`$share/...`).
pub fn is_shared(filter: &str) -> bool {
    filter.starts_with("$share/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProtocolVersion::*;

    fn rule_of(c: TopicCheck) -> Option<&'static str> {
        c.rule().map(|r| r.statement(V3_1_1))
    }

    #[test]
    fn filters() {
        for ok in [
            "a",
            "#",
            "+",
            "a/#",
            "a/+/b",
            "+/+",
            "/",
            "//",
            "/+",
            "sport/tennis/#",
            "$SYS/#",
        ] {
            assert_eq!(check_filter(ok, V3_1_1), TopicCheck::Ok, "{ok}");
        }
        assert_eq!(rule_of(check_filter("a/#/b", V3_1_1)), Some("MQTT-4.7.1-2"));
        assert_eq!(rule_of(check_filter("a#", V3_1_1)), Some("MQTT-4.7.1-2"));
        assert_eq!(rule_of(check_filter("a+", V3_1_1)), Some("MQTT-4.7.1-3"));
        assert_eq!(
            rule_of(check_filter("a/b+/c", V3_1_1)),
            Some("MQTT-4.7.1-3")
        );
        assert_eq!(rule_of(check_filter("", V3_1_1)), Some("MQTT-4.7.3-1"));
        assert_eq!(
            check_filter("a/#/b", V3_1_1),
            TopicCheck::Bad(2, &rules::FILTER_HASH_PLACEMENT)
        );
    }

    #[test]
    fn shared() {
        assert_eq!(check_filter("$share/g/a/#", V5), TopicCheck::Ok);
        assert_eq!(
            check_filter("$share//a", V5).rule(),
            Some(&rules::SHARE_NAME_EMPTY)
        );
        assert_eq!(
            check_filter("$share/g", V5).rule(),
            Some(&rules::SHARE_NAME_INVALID)
        );
        assert_eq!(
            check_filter("$share/g/", V5).rule(),
            Some(&rules::SHARE_NAME_INVALID)
        );
        assert_eq!(
            check_filter("$share/g+/a", V5).rule(),
            Some(&rules::SHARE_NAME_INVALID)
        );
        assert_eq!(
            check_filter("$share/g/a#", V5).rule(),
            Some(&rules::FILTER_HASH_PLACEMENT)
        );
        // 3.1.1 gives $share no meaning: it is an ordinary filter.
        assert_eq!(check_filter("$share/g", V3_1_1), TopicCheck::Ok);
    }

    #[test]
    fn names() {
        assert_eq!(check_topic_name("a/b"), TopicCheck::Ok);
        assert_eq!(
            check_topic_name("a/+").rule(),
            Some(&rules::PUBLISH_TOPIC_WILDCARD)
        );
        assert_eq!(check_topic_name("a\0").rule(), Some(&rules::TOPIC_NUL));
        assert_eq!(check_topic_name("").rule(), Some(&rules::TOPIC_EMPTY));
        assert!(scan_ascii_name(b"abc/def").is_some());
        assert!(scan_ascii_name(b"ab#").is_none());
        assert!(scan_ascii_name("é".as_bytes()).is_none());
        // Every position of every kind of bad byte is caught, in any word.
        for len in 1..40 {
            let good = vec![b'x'; len];
            assert!(plain_ascii(&good));
            for pos in 0..len {
                for bad in [0u8, b'+', b'#', 0x80, 0xff, 0xc3] {
                    let mut v = good.clone();
                    v[pos] = bad;
                    assert!(!plain_ascii(&v), "len {len} pos {pos} byte {bad:#x}");
                }
            }
        }
        // Bytes next to the special ones are fine.
        assert!(plain_ascii(b"*,\"\x01\x7f$/"));
    }
}
