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
    if plain_name(data) {
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
        // '#' (0x23) and '+' (0x2B) differ only in bit 3, and no other byte
        // becomes 0x2B when bit 3 is set: one comparison finds both.
        let wild = zero_bytes((w | (LO * 0x08)) ^ (LO * b'+' as u64));
        (bad, wild)
    }
    #[inline(always)]
    fn load(data: &[u8], at: usize) -> u64 {
        let mut w = [0u8; 8];
        w.copy_from_slice(&data[at..at + 8]);
        u64::from_le_bytes(w)
    }
    let n = data.len();
    let (mut bad, mut wild) = (0u64, 0u64);
    if n >= 8 {
        // Whole words, then the last eight bytes (overlapping bytes already
        // seen, which changes nothing).
        let mut at = 0;
        while at + 8 < n {
            let (b, x) = word(load(data, at));
            bad |= b;
            wild |= x;
            at += 8;
        }
        let (b, x) = word(load(data, n - 8));
        bad |= b;
        wild |= x;
    } else if n > 0 {
        // Short input: pad with a harmless byte ('a') to a whole word.
        let mut w = [b'a'; 8];
        w[..n].copy_from_slice(data);
        (bad, wild) = word(u64::from_le_bytes(w));
    }
    (bad == 0, wild != 0)
}

/// True when every byte is ASCII and none is NUL, '+' or '#'. The same
/// classification as [`scan`], folded into one accumulator: the hot path
/// only asks the yes/no question.
#[inline(always)]
pub(crate) fn plain_ascii(data: &[u8]) -> bool {
    #[inline(always)]
    fn word(w: u64) -> u64 {
        // Non-ASCII bytes, NUL bytes, '+' or '#' (see `scan`). Each term
        // is exact for "some byte is ...", so their union is too.
        (w & HI) | zero_bytes(w) | zero_bytes((w | (LO * 0x08)) ^ (LO * b'+' as u64))
    }
    let n = data.len();
    let mut acc = 0u64;
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            acc |= word(load8(data, at));
            at += 8;
        }
        acc |= word(load8(data, n - 8));
    } else if n > 0 {
        let mut w = [b'a'; 8];
        w[..n].copy_from_slice(data);
        acc = word(u64::from_le_bytes(w));
    }
    acc == 0
}

/// [`plain_ascii`] for the decoder's topic names, without a loop up to 24
/// bytes: the words at 0, 8 (from 17 bytes) and the last eight bytes,
/// overlapping where the length is not a multiple of eight.
#[inline(always)]
pub(crate) fn plain_name(data: &[u8]) -> bool {
    #[inline(always)]
    fn word(w: u64) -> u64 {
        (w & HI) | zero_bytes(w) | zero_bytes((w | (LO * 0x08)) ^ (LO * b'+' as u64))
    }
    let n = data.len();
    if n < 8 {
        return plain_ascii(data);
    }
    let mut acc = word(load8(data, 0)) | word(load8(data, n - 8));
    if n > 16 {
        acc |= word(load8(data, 8));
        let mut at = 16;
        while at + 8 < n {
            acc |= word(load8(data, at));
            at += 8;
        }
    }
    acc == 0
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

/// `data` as `&str`, for bytes [`scan`], [`plain_ascii`] or [`plain_name`]
/// accepted.
#[inline(always)]
#[allow(unsafe_code)]
fn ascii_to_str(data: &[u8]) -> &str {
    debug_assert!(data.is_ascii());
    // SAFETY: callers pass only bytes that `scan` classified as plain or
    // that `plain_ascii` / `plain_name` accepted; each of them ORs the high
    // bit of every byte of `data` (their words together cover every index)
    // into what must be zero, so every byte is below 0x80. A sequence of
    // bytes below 0x80 is valid UTF-8 (each byte is a one-byte code point),
    // which is the whole requirement of `from_utf8_unchecked`. The decode
    // and stream fuzz targets run every input through this path.
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
    check_filter_inner(s, version, false)
}

/// [`check_filter`], told whether the caller has already found the string
/// free of NUL characters.
#[inline]
pub(crate) fn check_filter_inner(s: &str, version: ProtocolVersion, nul_free: bool) -> TopicCheck {
    if s.len() > 0xFFFF {
        return TopicCheck::Bad(0xFFFF, &rules::TOPIC_TOO_LONG);
    }
    if s.is_empty() {
        return TopicCheck::Bad(0, &rules::TOPIC_EMPTY);
    }
    if let Some(i) = (!nul_free).then(|| memchr_nul(s.as_bytes())).flatten() {
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
    filter_levels(s.as_bytes(), start)
}

/// True when every wildcard in `b` fills its level, the levels counted
/// from the first byte: [`check_filter_levels`] as a yes/no question (so
/// not for the filter part of a `$share/` filter, which callers send to the
/// full check).
#[inline]
pub(crate) fn levels_ok(b: &[u8]) -> bool {
    matches!(filter_levels(b, 0), TopicCheck::Ok)
}

/// True when `b` is a non-empty Topic Filter of ASCII characters without
/// NUL whose wildcards all fill their levels, the levels counted from the
/// first byte (so the caller must leave `$share/` filters to the full
/// check). One pass of eight bytes at a time, as [`scan`]; each wildcard
/// found is judged by its neighbours (a wildcard seen twice, in the
/// overlapping last word, is judged twice the same way).
#[inline(always)]
pub(crate) fn plain_filter(b: &[u8]) -> bool {
    #[inline(always)]
    fn word(b: &[u8], base: usize, w: u64) -> bool {
        let bad = (w & HI) | zero_bytes(w);
        let mut wild = wildcard_bytes(w);
        let n = b.len();
        while wild != 0 {
            let i = base + (wild.trailing_zeros() / 8) as usize;
            let starts = i == 0 || b.get(i - 1) == Some(&b'/');
            let ok = if b.get(i) == Some(&b'+') {
                starts && (i + 1 == n || b.get(i + 1) == Some(&b'/'))
            } else {
                starts && i + 1 == n
            };
            if !ok {
                return false;
            }
            wild &= wild - 1;
        }
        bad == 0
    }
    let n = b.len();
    if n >= 8 {
        let mut at = 0;
        while at + 8 < n {
            if !word(b, at, load8(b, at)) {
                return false;
            }
            at += 8;
        }
        word(b, n - 8, load8(b, n - 8))
    } else if n > 0 {
        // Padded with a harmless byte ('a'): no wildcard is found in the
        // padding, so positions stay below n.
        let mut w = [b'a'; 8];
        w[..n].copy_from_slice(b);
        word(b, 0, u64::from_le_bytes(w))
    } else {
        false
    }
}

#[inline]
fn filter_levels(b: &[u8], start: usize) -> TopicCheck {
    // Each wildcard must fill its level: '+' between separators, '#' alone
    // in the last level. Only the wildcards need looking at, so find them
    // eight bytes at a time (multi-byte UTF-8 sequences never contain these
    // ASCII bytes) and judge each by its neighbours.
    let n = b.len();
    let judge = |i: usize| -> TopicCheck {
        let level_start = i == start || b[i - 1] == b'/';
        if b[i] == b'+' {
            let level_end = i + 1 == n || b[i + 1] == b'/';
            if !(level_start && level_end) {
                return TopicCheck::Bad(i, &rules::FILTER_PLUS_PLACEMENT);
            }
        } else if !(level_start && i + 1 == n) {
            return TopicCheck::Bad(i, &rules::FILTER_HASH_PLACEMENT);
        }
        TopicCheck::Ok
    };
    let mut at = start;
    while at < n {
        // The eight bytes at `at`, or for the last few the final eight
        // bytes of the string (or the padded string when it is shorter),
        // with bytes before `at` masked off.
        let (base, mut mask) = if at + 8 <= n {
            (at, wildcard_bytes(load8(b, at)))
        } else if n >= 8 {
            let base = n - 8;
            (
                base,
                wildcard_bytes(load8(b, base)) & (!0u64 << (8 * (at - base))),
            )
        } else {
            let mut w = [b'a'; 8];
            for (d, &c) in w.iter_mut().zip(&b[at..]) {
                *d = c;
            }
            (at, wildcard_bytes(u64::from_le_bytes(w)))
        };
        while mask != 0 {
            let i = base + (mask.trailing_zeros() / 8) as usize;
            if let TopicCheck::Bad(p, r) = judge(i) {
                return TopicCheck::Bad(p, r);
            }
            mask &= mask - 1;
        }
        at = base + 8;
    }
    TopicCheck::Ok
}

#[inline(always)]
fn load8(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}

/// High bit set in exactly the bytes of `w` that are '+' or '#'.
#[inline(always)]
const fn wildcard_bytes(w: u64) -> u64 {
    // Bit 3 set turns both into 0x2B and nothing else into it; then an
    // exact zero-byte test (no borrow between bytes).
    const LOW7: u64 = 0x7F7F_7F7F_7F7F_7F7F;
    let x = (w | (LO * 0x08)) ^ (LO * b'+' as u64);
    !(((x & LOW7).wrapping_add(LOW7)) | x | LOW7)
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

    /// The wildcard-placement rule read byte by byte, as the specification
    /// states it, to check the word-at-a-time version against.
    fn levels_reference(s: &str) -> Option<usize> {
        levels_reference_bytes(s.as_bytes())
    }

    fn levels_reference_bytes(b: &[u8]) -> Option<usize> {
        (0..b.len()).find(|&i| {
            let level_start = i == 0 || b[i - 1] == b'/';
            match b[i] {
                b'+' => !(level_start && (i + 1 == b.len() || b[i + 1] == b'/')),
                b'#' => !(level_start && i + 1 == b.len()),
                _ => false,
            }
        })
    }

    #[test]
    fn wildcard_placement_matches_the_bytewise_rule() {
        // Every string up to 8 characters over an alphabet that makes every
        // placement (including across the 8-byte word boundary) happen,
        // plus longer ones with a two-byte character in front.
        let alphabet = ["a", "/", "+", "#", "é"];
        let mut strings = vec![String::new()];
        let mut checked = 0;
        for _ in 0..7 {
            let mut next = Vec::new();
            for s in &strings {
                for c in alphabet {
                    next.push(format!("{s}{c}"));
                }
            }
            for s in &next {
                for prefix in ["", "abcdefg/", "é/éé/"] {
                    let f = format!("{prefix}{s}");
                    let got = match check_filter_levels(&f, 0) {
                        TopicCheck::Ok => None,
                        TopicCheck::Bad(i, _) => Some(i),
                    };
                    assert_eq!(got, levels_reference(&f), "{f:?}");
                    assert_eq!(levels_ok(f.as_bytes()), got.is_none(), "{f:?}");
                    assert_eq!(
                        plain_filter(f.as_bytes()),
                        f.is_ascii() && got.is_none(),
                        "{f:?}"
                    );
                    checked += 1;
                }
            }
            strings = next;
        }
        assert!(checked > 200_000);
    }

    #[test]
    fn scan_matches_the_bytewise_classification() {
        // '*' and '"' are the bytes a borrow out of a wildcard's zero could
        // turn into false positives; NUL and 0x80+ are the "not plain" cases;
        // '/' places the wildcards for `plain_filter`.
        let alphabet: [&[u8]; 8] = [b"a", b"+", b"#", b"\0", "é".as_bytes(), b"*", b"\"", b"/"];
        let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
        for _ in 0..6 {
            let mut next = Vec::new();
            for s in &strings {
                for c in alphabet {
                    let mut t = s.clone();
                    t.extend_from_slice(c);
                    next.push(t);
                }
            }
            for s in &next {
                for prefix in [&b""[..], b"abcdefg", b"abcdefghijklmno"] {
                    let d = [prefix, &s[..]].concat();
                    let plain = d.iter().all(|&c| c != 0 && c < 0x80);
                    let wild = d.iter().any(|&c| c == b'+' || c == b'#');
                    assert_eq!(scan(&d), (plain, wild), "{d:?}");
                    assert_eq!(plain_ascii(&d), plain && !wild, "{d:?}");
                    assert_eq!(plain_name(&d), plain && !wild, "{d:?}");
                    let placed = levels_reference_bytes(&d).is_none();
                    assert_eq!(plain_filter(&d), plain && !d.is_empty() && placed, "{d:?}");
                }
            }
            strings = next;
        }
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
        assert!(!plain_filter(b""));
        assert!(scan_ascii_name(b"abc/def").is_some());
        assert!(scan_ascii_name(b"ab#").is_none());
        assert!(scan_ascii_name("é".as_bytes()).is_none());
        // Every position of every kind of bad byte is caught, in any word.
        for len in 1..40 {
            let good = vec![b'x'; len];
            assert!(plain_ascii(&good));
            assert!(plain_name(&good));
            for pos in 0..len {
                for bad in [0u8, b'+', b'#', 0x80, 0xff, 0xc3] {
                    let mut v = good.clone();
                    v[pos] = bad;
                    assert!(!plain_ascii(&v), "len {len} pos {pos} byte {bad:#x}");
                    assert!(!plain_name(&v), "len {len} pos {pos} byte {bad:#x}");
                }
            }
        }
        // Bytes next to the special ones are fine.
        assert!(plain_ascii(b"*,\"\x01\x7f$/"));
    }
}
