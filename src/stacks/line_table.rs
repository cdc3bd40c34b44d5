//! Line numbers from CPython code-object line tables, exactly as memray 1.20 computes them.
//!
//! Three formats exist among the interpreters memray supports: `co_lnotab` (3.9 and older),
//! the 3.10 `co_linetable`, and the 3.11+ location table. memray's parsers (`compat.cpp`) have
//! quirks that show in its reports — a signed byte-code delta in the 3.9 parser, line deltas
//! applied before the offset test in 3.10 — and these are reproduced on purpose. Reads past
//! the end of the table see zero bytes, as memray's reads of `std::string::c_str()` do at the
//! terminator; nothing here can panic or loop forever.

/// `PY_VERSION_HEX` of 3.10 and 3.11.
const PY_3_10: u32 = 0x030a_0000;
const PY_3_11: u32 = 0x030b_0000;

/// The line of the instruction at `instruction_offset` of a code object whose table is
/// `table` and whose first line is `firstlineno`; `None` where memray finds no line (it then
/// reports line 0).
pub fn line_number(
    python_version: u32,
    table: &[u8],
    instruction_offset: u64,
    firstlineno: i32,
) -> Option<i32> {
    if table.is_empty() {
        return Some(firstlineno);
    }
    if python_version >= PY_3_11 {
        line_311(table, instruction_offset, firstlineno)
    } else if python_version >= PY_3_10 {
        Some(line_310(table, instruction_offset, firstlineno))
    } else {
        Some(line_39(table, instruction_offset, firstlineno))
    }
}

struct Bytes<'a> {
    table: &'a [u8],
    pos: usize,
}

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        let b = self.table.get(self.pos).copied().unwrap_or(0);
        self.pos = self.pos.saturating_add(1);
        b
    }

    fn at_end(&self) -> bool {
        self.pos >= self.table.len()
    }

    fn varint(&mut self) -> u32 {
        let mut read = u32::from(self.next());
        let mut val = read & 63;
        let mut shift = 0u32;
        while read & 64 != 0 {
            read = u32::from(self.next());
            shift = shift.wrapping_add(6);
            val |= (read & 63).wrapping_shl(shift);
            if self.at_end() && read & 64 != 0 {
                break;
            }
        }
        val
    }

    fn signed_varint(&mut self) -> i32 {
        let uval = self.varint();
        let sval = (uval >> 1) as i32;
        if uval & 1 != 0 {
            sval.wrapping_neg()
        } else {
            sval
        }
    }
}

fn line_311(table: &[u8], instruction_offset: u64, firstlineno: i32) -> Option<i32> {
    let addrq = instruction_offset / 2;
    let mut b = Bytes { table, pos: 0 };
    let mut addr = 0u64;
    let mut lineno = firstlineno;
    // memray stops at the first zero byte (the string terminator).
    while !b.at_end() && table[b.pos] != 0 {
        let first = b.next();
        let code = (first >> 3) & 15;
        let end_addr = addr + u64::from(first & 7) + 1;
        match code {
            15 => {}
            14 => {
                lineno = lineno.wrapping_add(b.signed_varint());
                b.varint();
                b.varint();
                b.varint();
            }
            13 => lineno = lineno.wrapping_add(b.signed_varint()),
            10..=12 => {
                lineno = lineno.wrapping_add(i32::from(code) - 10);
                b.next();
                b.next();
            }
            _ => {
                b.next();
            }
        }
        if addr <= addrq && end_addr > addrq {
            return Some(lineno);
        }
        addr = end_addr;
    }
    None
}

fn line_310(table: &[u8], instruction_offset: u64, firstlineno: i32) -> i32 {
    const NO_LINE_NUMBER: i8 = -0x80;
    let mut lineno = firstlineno;
    let last = instruction_offset.wrapping_shl(1);
    let mut b = Bytes { table, pos: 0 };
    let mut current = 0u64;
    while !b.at_end() {
        let start_delta = b.next();
        let line_delta = b.next() as i8;
        current += u64::from(start_delta);
        if line_delta != NO_LINE_NUMBER {
            lineno = lineno.wrapping_add(i32::from(line_delta));
        }
        if current > last {
            break;
        }
    }
    lineno
}

fn line_39(table: &[u8], instruction_offset: u64, firstlineno: i32) -> i32 {
    let mut lineno = firstlineno;
    let mut b = Bytes { table, pos: 0 };
    let mut bc = 0u64;
    while !b.at_end() {
        // memray adds the byte-code delta as a (signed) `char`.
        bc = bc.wrapping_add(b.next() as i8 as i64 as u64);
        if bc > instruction_offset {
            break;
        }
        lineno = lineno.wrapping_add(i32::from(b.next() as i8));
    }
    lineno
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_table_gives_first_line() {
        assert_eq!(line_number(0x030b0000, &[], 10, 7), Some(7));
    }

    #[test]
    fn lnotab_of_39() {
        // bytecode 0..6 -> line 1, 6..10 -> line 2, 10.. -> line 4
        let table = [6, 1, 4, 2];
        assert_eq!(line_39(&table, 0, 1), 1);
        assert_eq!(line_39(&table, 6, 1), 2);
        assert_eq!(line_39(&table, 9, 1), 2);
        assert_eq!(line_39(&table, 12, 1), 4);
    }

    #[test]
    fn linetable_of_310_applies_the_delta_first() {
        let table = [6, 1, 4, 2];
        assert_eq!(line_310(&table, 0, 1), 2);
        assert_eq!(line_310(&table, 3, 1), 4);
    }

    #[test]
    fn location_table_of_311() {
        // One ONE_LINE1 entry of 2 code units (line +1), then a NO_COLUMNS entry (+2).
        let table = [0x80 | (11 << 3) | 1, 0, 4, 0x80 | (13 << 3), 4];
        assert_eq!(line_311(&table, 0, 10), Some(11));
        assert_eq!(line_311(&table, 2, 10), Some(11));
        assert_eq!(line_311(&table, 4, 10), Some(13));
        assert_eq!(line_311(&table, 6, 10), None);
    }

    #[test]
    fn hostile_tables_terminate() {
        let table = [0xffu8; 64];
        let _ = line_number(0x030c0000, &table, u64::MAX, i32::MAX);
        let _ = line_number(0x030a0000, &table, u64::MAX, i32::MIN);
        let _ = line_number(0x03090000, &table, u64::MAX, 0);
    }
}
