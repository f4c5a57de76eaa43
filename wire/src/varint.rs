//! Kafka's zig-zag varints (`varint` for i32, `varlong` for i64; the same encoding).

use bytes::BufMut;

#[inline]
fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Bytes of a zig-zag varint.
#[inline]
pub fn varint_len(v: i32) -> usize {
    varlong_len(i64::from(v))
}

/// Bytes of a zig-zag varlong.
#[inline]
pub fn varlong_len(v: i64) -> usize {
    // 1 byte per 7 bits, at least 1.
    let bits = 64 - (zigzag(v) | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends a zig-zag varlong.
#[inline]
pub fn put_varlong(buf: &mut impl BufMut, v: i64) {
    let mut z = zigzag(v);
    while z >= 0x80 {
        buf.put_u8((z as u8) | 0x80);
        z >>= 7;
    }
    buf.put_u8(z as u8);
}

/// Appends a zig-zag varint.
#[inline]
pub fn put_varint(buf: &mut impl BufMut, v: i32) {
    put_varlong(buf, i64::from(v));
}

/// Reads a zig-zag varint or varlong at `*pos`, advancing it; `None` when the input
/// ends first or the value runs past 64 bits.
#[inline(always)]
pub fn read_varlong(b: &[u8], pos: &mut usize) -> Option<i64> {
    let mut raw: u64 = 0;
    let mut shift = 0u32;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        raw |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            break;
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
    Some(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_match_what_is_written_and_values_round_trip() {
        for (v, n) in [
            (0i64, 1usize),
            (-1, 1),
            (1, 1),
            (63, 1),
            (-64, 1),
            (64, 2),
            (-65, 2),
            (300, 2),
            (-300, 2),
            (8191, 2),
            (8192, 3),
            (i64::from(i32::MAX), 5),
            (i64::from(i32::MIN), 5),
            (i64::MAX, 10),
            (i64::MIN, 10),
        ] {
            assert_eq!(varlong_len(v), n, "{v}");
            let mut b = Vec::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), n, "{v}");
            let mut pos = 0;
            assert_eq!(read_varlong(&b, &mut pos), Some(v), "{v}");
            assert_eq!(pos, n, "{v}");
        }
        assert_eq!(varint_len(-1), 1);
        assert_eq!(varint_len(i32::MIN), 5);
        let mut b = Vec::new();
        put_varint(&mut b, i32::MIN);
        let mut pos = 0;
        assert_eq!(read_varlong(&b, &mut pos), Some(i64::from(i32::MIN)));
    }

    #[test]
    fn cut_off_and_overlong_varints_are_none() {
        let mut pos = 0;
        assert_eq!(read_varlong(&[], &mut pos), None);
        let mut pos = 0;
        assert_eq!(read_varlong(&[0x80, 0x80], &mut pos), None, "no last byte");
        let mut pos = 0;
        assert_eq!(read_varlong(&[0x80; 11], &mut pos), None, "over 64 bits");
        // Reads from `pos`, not from the start.
        let mut pos = 1;
        assert_eq!(read_varlong(&[0xff, 0x02], &mut pos), Some(1));
        assert_eq!(pos, 2);
    }
}
