//! Short writes into the spare room of a [`bytes::BufMut`], for the
//! PUBLISH encode fast path. A variable-length copy becomes a call to
//! `memcpy`, whose set-up costs more than the copy itself for the few dozen
//! bytes of a typical topic or payload; these helpers copy by size class
//! with two overlapping fixed-size moves instead (what `memcpy` does
//! inside, without the call), and the topic helper checks the bytes in the
//! registers it copies them from.
//!
//! They write through a raw pointer (bounds checks on the output would
//! cost about as much as the copy); each states what its caller must
//! guarantee. Reads go through slice methods, bounds-checked.

#![allow(unsafe_code)]

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

/// Sixteen bytes: `a`, then `b`, then a harmless filler ('a').
#[inline(always)]
fn pad16<const A: usize, const B: usize>(a: [u8; A], b: [u8; B]) -> [u8; 16] {
    let mut w = [b'a'; 16];
    w[..A].copy_from_slice(&a);
    w[A..A + B].copy_from_slice(&b);
    w
}

/// Writes `N` bytes at `dst + at`.
///
/// # Safety
///
/// `dst + at .. dst + at + N` must be valid for writes.
#[inline(always)]
pub(crate) unsafe fn store<const N: usize>(dst: *mut u8, at: usize, v: [u8; N]) {
    // SAFETY: the caller's guarantee; `write_unaligned` needs no alignment.
    unsafe { dst.add(at).cast::<[u8; N]>().write_unaligned(v) }
}

/// True when the topic name `t` is 1 to 128 bytes long, every byte ASCII
/// and none NUL, '+' or '#': a Topic Name valid whatever the version
/// (the same class as `topic::plain_ascii`, sixteen bytes at a time).
#[inline(always)]
pub(crate) fn plain_topic(t: &[u8]) -> bool {
    let n = t.len();
    // Two `K`-byte pieces, at 0 and at `n - K`, where `K <= n <= 2K`,
    // cover every byte.
    if let (Some(&a), Some(&b)) = (t.first_chunk::<16>(), t.last_chunk::<16>()) {
        if n <= 32 {
            plain16(a) & plain16(b)
        } else if n <= 128 {
            // Every whole block, then the last (overlapping) one.
            let mut ok = plain16(b);
            for c in t.chunks_exact(16) {
                let mut w = [0u8; 16];
                w.copy_from_slice(c);
                ok &= plain16(w);
            }
            ok
        } else {
            false
        }
    } else if let (Some(&a), Some(&b)) = (t.first_chunk::<8>(), t.last_chunk::<8>()) {
        plain16(pad16(a, b))
    } else if let (Some(&a), Some(&b)) = (t.first_chunk::<4>(), t.last_chunk::<4>()) {
        plain16(pad16(a, b))
    } else if let (Some(&a), Some(&m), Some(&z)) = (t.first(), t.get(n / 2), t.last()) {
        // First, middle and last byte cover one to three bytes.
        plain16(pad16([a, m], [z]))
    } else {
        false
    }
}

/// Copies the topic name `t` to `dst` when [`plain_topic`] accepts it
/// (checking every byte before writing any); otherwise returns false and
/// writes nothing.
///
/// # Safety
///
/// `dst` must be valid for writes of `t.len()` bytes and must not overlap
/// `t`.
#[inline(always)]
pub(crate) unsafe fn put_plain_topic(dst: *mut u8, t: &[u8]) -> bool {
    let n = t.len();
    // As in `bytes`: two `K`-byte pieces at 0 and `n - K`, `K <= n <= 2K`,
    // cover exactly `dst[..n]`.
    // SAFETY (every store): `dst[..n]` is valid for writes (the caller's
    // guarantee) and each piece lies inside it.
    //
    // 16 to 32 bytes (the commonest class) in one comparison.
    if n.wrapping_sub(16) <= 16 {
        let (Some(&a), Some(&b)) = (t.first_chunk::<16>(), t.last_chunk::<16>()) else {
            return false;
        };
        if !(plain16(a) & plain16(b)) {
            return false;
        }
        unsafe {
            store(dst, 0, a);
            store(dst, n - 16, b);
        }
        true
    } else if n > 32 {
        let ok = plain_topic(t);
        if ok {
            // SAFETY: `dst[..n]` is valid for writes, and does not overlap
            // `t` (both the caller's guarantee).
            unsafe { bytes(dst, t) };
        }
        ok
    } else if let (Some(&a), Some(&b)) = (t.first_chunk::<8>(), t.last_chunk::<8>()) {
        if !plain16(pad16(a, b)) {
            return false;
        }
        unsafe {
            store(dst, 0, a);
            store(dst, n - 8, b);
        }
        true
    } else if let (Some(&a), Some(&b)) = (t.first_chunk::<4>(), t.last_chunk::<4>()) {
        if !plain16(pad16(a, b)) {
            return false;
        }
        unsafe {
            store(dst, 0, a);
            store(dst, n - 4, b);
        }
        true
    } else if let (Some(&a), Some(&m), Some(&z)) = (t.first(), t.get(n / 2), t.last()) {
        if !plain16(pad16([a, m], [z])) {
            return false;
        }
        unsafe {
            store(dst, 0, [a]);
            store(dst, n / 2, [m]);
            store(dst, n - 1, [z]);
        }
        true
    } else {
        false
    }
}

/// Copies `K` bytes from `src + at` to `dst + at`.
///
/// # Safety
///
/// `src + at .. src + at + K` must be valid for reads, `dst + at ..
/// dst + at + K` valid for writes, and the two must not overlap.
#[inline(always)]
unsafe fn piece<const K: usize>(src: *const u8, dst: *mut u8, at: usize) {
    // SAFETY: the caller's guarantee.
    unsafe { core::ptr::copy_nonoverlapping(src.add(at), dst.add(at), K) }
}

/// Copies `s` to `dst`; lengths up to 32 without a `memcpy` call.
///
/// # Safety
///
/// `dst` must be valid for writes of `s.len()` bytes and must not overlap
/// `s`.
#[inline(always)]
pub(crate) unsafe fn bytes(dst: *mut u8, s: &[u8]) {
    let n = s.len();
    let src = s.as_ptr();
    // Two `K`-byte pieces at 0 and `n - K`, with `K <= n <= 2K`, cover
    // exactly `[..n]` of both sides: every access below is in bounds.
    // SAFETY: `src[..n]` is `s`, `dst[..n]` valid for writes (the caller's
    // guarantee), and the two do not overlap (the caller's guarantee).
    unsafe {
        // 16 to 32 bytes (the commonest class) in one comparison.
        if n.wrapping_sub(16) <= 16 {
            piece::<16>(src, dst, 0);
            piece::<16>(src, dst, n - 16);
        } else if n > 32 {
            core::ptr::copy_nonoverlapping(src, dst, n);
        } else if n >= 8 {
            piece::<8>(src, dst, 0);
            piece::<8>(src, dst, n - 8);
        } else if n >= 4 {
            piece::<4>(src, dst, 0);
            piece::<4>(src, dst, n - 4);
        } else if n >= 1 {
            // First, middle and last byte cover one to three bytes.
            piece::<1>(src, dst, 0);
            piece::<1>(src, dst, n / 2);
            piece::<1>(src, dst, n - 1);
        }
    }
}
