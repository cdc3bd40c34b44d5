//! A bounds-checked reader over a window of the decompressed record stream.
//!
//! Every read either succeeds, reports that the window ends before the value does
//! ([`Short::Incomplete`], so the caller can refill and retry the whole record), or reports a
//! value that cannot be valid ([`Short::Malformed`]). Nothing here panics on any input.

/// Why a read did not produce a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Short {
    /// The window ends inside the value.
    Incomplete,
    /// The bytes cannot encode a valid value; the text says what was expected.
    Malformed(&'static str),
}

/// A position inside a byte window.
#[derive(Debug)]
pub struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    /// Bytes consumed so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn set_position(&mut self, pos: usize) {
        self.pos = pos.min(self.buf.len());
    }

    pub fn remaining(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    #[inline(always)]
    pub fn u8(&mut self) -> Result<u8, Short> {
        let b = *self.buf.get(self.pos).ok_or(Short::Incomplete)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub fn bytes(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).ok_or(Short::Incomplete)?;
        let out = self.buf.get(self.pos..end).ok_or(Short::Incomplete)?;
        self.pos = end;
        Ok(out)
    }

    #[inline]
    pub fn u32_le(&mut self) -> Result<u32, Short> {
        let b = self.bytes(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    #[inline]
    pub fn i32_le(&mut self) -> Result<i32, Short> {
        Ok(self.u32_le()? as i32)
    }

    #[inline]
    pub fn u64_le(&mut self) -> Result<u64, Short> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    /// A one-byte C++ `bool` as memray writes it.
    pub fn bool(&mut self) -> Result<bool, Short> {
        Ok(self.u8()? != 0)
    }

    /// An unsigned LEB128 varint of at most 10 bytes (memray's `readVarint`).
    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, Short> {
        // Most varints are one byte.
        if let Some(&b) = self.buf.get(self.pos) {
            if b & 0x80 == 0 {
                self.pos += 1;
                return Ok(u64::from(b));
            }
        }
        self.varint_slow()
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Result<u64, Short> {
        // With ten bytes at hand no byte needs its own bounds check.
        if let Some(bytes) = self.buf.get(self.pos..self.pos + 10) {
            let mut value = 0u64;
            for (i, &b) in bytes.iter().enumerate() {
                value |= u64::from(b & 0x7f) << (7 * i as u32);
                if b & 0x80 == 0 {
                    self.pos += i + 1;
                    return Ok(value);
                }
            }
            return Err(Short::Malformed("a varint of at most 10 bytes"));
        }
        let mut value = 0u64;
        let mut shift = 0u32;
        loop {
            let b = self.u8()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
            shift += 7;
            if shift >= 64 {
                return Err(Short::Malformed("a varint of at most 10 bytes"));
            }
        }
    }

    /// A zigzag-encoded signed varint (memray's `readSignedVarint`).
    #[inline(always)]
    pub fn signed_varint(&mut self) -> Result<i64, Short> {
        let z = self.varint()?;
        Ok(((z >> 1) as i64) ^ -((z & 1) as i64))
    }

    /// A NUL-terminated string; the terminator is consumed but not returned.
    pub fn cstr(&mut self) -> Result<&'a [u8], Short> {
        let rest = &self.buf[self.pos..];
        let len = memchr_nul(rest).ok_or(Short::Incomplete)?;
        self.pos += len + 1;
        Ok(&rest[..len])
    }
}

fn memchr_nul(bytes: &[u8]) -> Option<usize> {
    bytes.iter().position(|&b| b == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_and_reject_overlong() {
        let mut c = Cursor::new(&[0x96, 0x01, 0x00]);
        assert_eq!(c.varint(), Ok(150));
        assert_eq!(c.varint(), Ok(0));
        assert_eq!(c.varint(), Err(Short::Incomplete));
        let ten = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01];
        assert_eq!(Cursor::new(&ten).varint(), Ok(u64::MAX));
        let eleven = [0xffu8; 11];
        assert!(matches!(
            Cursor::new(&eleven).varint(),
            Err(Short::Malformed(_))
        ));
    }

    #[test]
    fn zigzag_decodes_negative_values() {
        assert_eq!(Cursor::new(&[0x01]).signed_varint(), Ok(-1));
        assert_eq!(Cursor::new(&[0x02]).signed_varint(), Ok(1));
        assert_eq!(Cursor::new(&[0x03]).signed_varint(), Ok(-2));
    }

    #[test]
    fn strings_need_their_terminator() {
        let mut c = Cursor::new(b"ab\0cd");
        assert_eq!(c.cstr(), Ok(&b"ab"[..]));
        assert_eq!(c.cstr(), Err(Short::Incomplete));
        assert_eq!(c.position(), 3);
    }
}
