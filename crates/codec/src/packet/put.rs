//! Short copies into the spare room of a [`bytes::BufMut`], for the encode
//! fast path. A variable-length `copy_from_slice` becomes a call to
//! `memcpy`, whose set-up costs more than the copy itself for the few dozen
//! bytes of a typical topic or payload; these helpers copy by size class
//! with two overlapping fixed-size moves instead (what `memcpy` does inside,
//! without the call), and the topic helper checks the bytes in the same
//! registers it copies them from.
//!
//! Every function writes only inside `dst`, whose length the caller sets
//! to exactly the bytes to fill; indexing is bounds-checked (the compiler
//! drops the checks it can prove), so nothing here needs `unsafe`.

use bytes::buf::UninitSlice;

/// True when none of the sixteen bytes is NUL, non-ASCII, '+' or '#'.
/// Written bytewise so that the compiler turns it into a few vector
/// compares (SSE2 on x86-64, NEON on aarch64).
#[inline(always)]
fn plain16(b: [u8; 16]) -> bool {
    let mut bad = false;
    for c in b {
        // `c - 1 >= 0x7F` (wrapping) holds for 0x00 and for 0x80..=0xFF;
        // '#' (0x23) and '+' (0x2B) differ only in bit 3.
        bad |= (c.wrapping_sub(1) >= 0x7F) | ((c | 0x08) == b'+');
    }
    !bad
}

/// Sixteen bytes: `a` then `b` then a harmless filler ('a').
#[inline(always)]
fn pad16<const A: usize, const B: usize>(a: [u8; A], b: [u8; B]) -> [u8; 16] {
    let mut w = [b'a'; 16];
    w[..A].copy_from_slice(&a);
    w[A..A + B].copy_from_slice(&b);
    w
}

/// Copies `t` into `dst` (same length, 1 to 125 bytes) when every byte of
/// it is ASCII and none is NUL, '+' or '#': a Topic Name that is valid
/// whatever the version. Returns false, having written nothing, otherwise
/// (or when the lengths do not fit those bounds).
#[inline(always)]
pub(crate) fn plain_topic(dst: &mut UninitSlice, t: &[u8]) -> bool {
    let n = t.len();
    if dst.len() != n {
        return false;
    }
    if n >= 16 {
        if n <= 32 {
            let (Some(&a), Some(&b)) = (t.first_chunk::<16>(), t.last_chunk::<16>()) else {
                return false;
            };
            if !(plain16(a) & plain16(b)) {
                return false;
            }
            dst[..16].copy_from_slice(&a);
            dst[n - 16..].copy_from_slice(&b);
        } else {
            // Longer names: check every block (the last one overlapping),
            // then one plain copy.
            let mut ok = true;
            let mut blocks = t.chunks_exact(16);
            for c in &mut blocks {
                let mut w = [0u8; 16];
                w.copy_from_slice(c);
                ok &= plain16(w);
            }
            if let Some(&last) = t.last_chunk::<16>() {
                ok &= plain16(last);
            }
            if !ok {
                return false;
            }
            dst.copy_from_slice(t);
        }
    } else if n >= 8 {
        let (Some(&a), Some(&b)) = (t.first_chunk::<8>(), t.last_chunk::<8>()) else {
            return false;
        };
        if !plain16(pad16(a, b)) {
            return false;
        }
        dst[..8].copy_from_slice(&a);
        dst[n - 8..].copy_from_slice(&b);
    } else if n >= 4 {
        let (Some(&a), Some(&b)) = (t.first_chunk::<4>(), t.last_chunk::<4>()) else {
            return false;
        };
        if !plain16(pad16(a, b)) {
            return false;
        }
        dst[..4].copy_from_slice(&a);
        dst[n - 4..].copy_from_slice(&b);
    } else if n >= 1 {
        // First, middle and last byte cover one to three bytes.
        let (a, m, z) = (t[0], t[n / 2], t[n - 1]);
        if !plain16(pad16([a, m], [z])) {
            return false;
        }
        dst.write_byte(0, a);
        dst.write_byte(n / 2, m);
        dst.write_byte(n - 1, z);
    } else {
        return false;
    }
    true
}

/// Copies `s` into `dst` (same length); short lengths without a `memcpy`
/// call. Returns true when every byte of `dst` was written, which is
/// whenever the lengths agree (false, with nothing written, otherwise).
#[inline(always)]
pub(crate) fn bytes(dst: &mut UninitSlice, s: &[u8]) -> bool {
    let n = s.len();
    if n != dst.len() {
        return false;
    }
    if n > 32 {
        dst.copy_from_slice(s);
    } else if n >= 16 {
        let (Some(a), Some(b)) = (s.first_chunk::<16>(), s.last_chunk::<16>()) else {
            return false;
        };
        dst[..16].copy_from_slice(a);
        dst[n - 16..].copy_from_slice(b);
    } else if n >= 8 {
        let (Some(a), Some(b)) = (s.first_chunk::<8>(), s.last_chunk::<8>()) else {
            return false;
        };
        dst[..8].copy_from_slice(a);
        dst[n - 8..].copy_from_slice(b);
    } else if n >= 4 {
        let (Some(a), Some(b)) = (s.first_chunk::<4>(), s.last_chunk::<4>()) else {
            return false;
        };
        dst[..4].copy_from_slice(a);
        dst[n - 4..].copy_from_slice(b);
    } else if n >= 1 {
        // First, middle and last byte cover one to three bytes.
        dst.write_byte(0, s[0]);
        dst.write_byte(n / 2, s[n / 2]);
        dst.write_byte(n - 1, s[n - 1]);
    }
    true
}
