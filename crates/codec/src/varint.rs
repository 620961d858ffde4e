//! Variable Byte Integer encoding (MQTT 5.0 §1.5.5, 3.1.1 §2.2.3).

use bytes::BufMut;

/// The largest value four bytes can carry: 268,435,455.
pub const MAX: u32 = 268_435_455;

/// Bytes needed for `v` in its shortest form (values above [`MAX`] count as 4).
#[inline]
pub const fn len(v: u32) -> usize {
    if v < 128 {
        1
    } else if v < 16_384 {
        2
    } else if v < 2_097_152 {
        3
    } else {
        4
    }
}

/// Writes `v` in its shortest form. `v` must not exceed [`MAX`] (the
/// encoder checks before writing).
#[inline]
pub fn write<B: BufMut>(buf: &mut B, mut v: u32) {
    loop {
        let mut byte = (v & 0x7f) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if v == 0 {
            break;
        }
    }
}

/// Writes `v` (at most [`MAX`]) into `out` in its shortest form; returns
/// the number of bytes used.
#[inline]
pub fn write_into(out: &mut [u8; 4], mut v: u32) -> usize {
    let mut i = 0;
    loop {
        let mut byte = (v & 0x7f) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        out[i] = byte;
        i += 1;
        if v == 0 || i == 4 {
            return i;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{read_vbi, Vbi};

    #[test]
    fn boundaries_round_trip() {
        for v in [0, 127, 128, 16_383, 16_384, 2_097_151, 2_097_152, MAX] {
            let mut b = Vec::new();
            write(&mut b, v);
            assert_eq!(b.len(), len(v));
            let mut a = [0u8; 4];
            let n = write_into(&mut a, v);
            assert_eq!(&a[..n], &b[..]);
            assert_eq!(read_vbi(&b), Vbi::Value(v, b.len(), true));
        }
        assert_eq!(read_vbi(&[0x80, 0x00]), Vbi::Value(0, 2, false));
        assert_eq!(read_vbi(&[0xff, 0xff, 0xff, 0xff, 0x7f]), Vbi::TooLong);
        assert_eq!(read_vbi(&[0x80]), Vbi::Short);
    }
}
