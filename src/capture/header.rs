//! The capture header: magic, version, interpreter, file format, statistics and command line.

use crate::capture::cursor::{Cursor, Short};

/// memray's own magic, `"memray"` with its NUL.
pub const MAGIC: &[u8; 7] = b"memray\0";

/// Header versions this build reads, and the memray releases that write them.
pub const SUPPORTED_VERSIONS: &str = "10, 11, 12 and 13";
pub const SUPPORTED_MEMRAY: &str = "memray 1.7 to 1.20";

/// The oldest and newest header versions this build reads.
pub const OLDEST_VERSION: i32 = 10;
pub const NEWEST_VERSION: i32 = 13;

/// How the records after the header are encoded; one value per family of header versions.
///
/// memray redesigned its record encoding once in the versions memform reads (1.19.0, header
/// 12); header versions 11 and 13 only added header fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordFormat {
    /// Header 10 and 11 (memray 1.7 – 1.18): a record's byte is `flags << 4 | type`; frames
    /// are FRAME_INDEX records with their function, file and line; addresses are plain
    /// deltas; allocator ids use the numbering of before 1.19; aggregated captures write
    /// their stack records as fixed-width fields.
    FrameIndex,
    /// Header 12 and 13 (memray 1.19 – 1.20): type bits by highest set bit, an address
    /// cache, CODE_OBJECT records with line tables, frames pushed by code object and
    /// instruction offset, allocator ids renumbered, varint stack records.
    CodeObject,
}

impl RecordFormat {
    /// The encoding of header version `version` (one of the supported ones).
    pub fn of_version(version: i32) -> RecordFormat {
        if version <= 11 {
            RecordFormat::FrameIndex
        } else {
            RecordFormat::CodeObject
        }
    }
}

/// How the records after the header are organised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    /// Every allocation event (`memray run`).
    AllAllocations,
    /// One pre-reduced record per location (`memray run --aggregate`).
    AggregatedAllocations,
}

/// The tracker statistics block of the header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    pub n_allocations: u64,
    pub n_frames: u64,
    pub start_time_ms: i64,
    pub end_time_ms: i64,
}

/// A decoded capture header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub version: i32,
    /// `PY_VERSION_HEX` of the traced interpreter, e.g. `0x030b07f0` for 3.11.7; 0 for
    /// header versions 10 and 11, which do not record it.
    pub python_version: u32,
    pub native_traces: bool,
    pub file_format: FileFormat,
    pub stats: TrackerStats,
    pub command_line: String,
    pub pid: i32,
    pub main_tid: u64,
    pub skipped_frames_on_main_tid: u64,
    pub python_allocator: u8,
    /// From header version 11 (false before).
    pub trace_python_allocators: bool,
    /// From header version 12 (false before).
    pub track_object_lifetimes: bool,
    /// From header version 13 (empty before).
    pub libdest: String,
    pub site_packages: Vec<String>,
    pub sys_path: Vec<String>,
}

/// Why a header could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeaderError {
    BadMagic,
    UnsupportedVersion(i32),
    /// The bytes end at `offset` inside the field named.
    Truncated {
        offset: usize,
        what: &'static str,
    },
    Malformed {
        offset: usize,
        what: &'static str,
    },
}

fn field<'a, T>(
    c: &mut Cursor<'a>,
    what: &'static str,
    read: impl FnOnce(&mut Cursor<'a>) -> Result<T, Short>,
) -> Result<T, HeaderError> {
    let offset = c.position();
    read(c).map_err(|e| match e {
        Short::Incomplete => HeaderError::Truncated { offset, what },
        Short::Malformed(_) => HeaderError::Malformed { offset, what },
    })
}

fn string(c: &mut Cursor<'_>, what: &'static str) -> Result<String, HeaderError> {
    field(c, what, |c| c.cstr()).map(|b| String::from_utf8_lossy(b).into_owned())
}

fn string_list(c: &mut Cursor<'_>, what: &'static str) -> Result<Vec<String>, HeaderError> {
    let mut out = Vec::new();
    loop {
        let s = string(c, what)?;
        if s.is_empty() {
            return Ok(out);
        }
        out.push(s);
    }
}

impl Header {
    /// Decodes a header from the start of the record stream. On success the cursor stands on
    /// the first record.
    pub fn parse(c: &mut Cursor<'_>) -> Result<Header, HeaderError> {
        let magic = field(c, "the magic \"memray\\0\"", |c| c.bytes(MAGIC.len()));
        match magic {
            Ok(m) if m == MAGIC => {}
            Ok(_) => return Err(HeaderError::BadMagic),
            Err(_) => {
                // Fewer than seven bytes: still a bad magic unless what is there matches.
                let rest = c.remaining();
                if !MAGIC.starts_with(rest) {
                    return Err(HeaderError::BadMagic);
                }
                return Err(HeaderError::Truncated {
                    offset: rest.len(),
                    what: "the magic \"memray\\0\"",
                });
            }
        }
        let version = field(c, "the header version", |c| c.i32_le())?;
        if !(OLDEST_VERSION..=NEWEST_VERSION).contains(&version) {
            return Err(HeaderError::UnsupportedVersion(version));
        }
        // Fields by the header version that added them: python_version and
        // track_object_lifetimes in 12, trace_python_allocators in 11, the path lists in 13.
        let python_version = if version >= 12 {
            field(c, "the Python version", |c| c.u32_le())?
        } else {
            0
        };
        let native_traces = field(c, "the native-traces flag", |c| c.bool())?;
        let format_offset = c.position();
        let file_format = match field(c, "the file format", |c| c.u8())? {
            0 => FileFormat::AllAllocations,
            1 => FileFormat::AggregatedAllocations,
            _ => {
                return Err(HeaderError::Malformed {
                    offset: format_offset,
                    what: "a file format of 0 (all allocations) or 1 (aggregated)",
                })
            }
        };
        let stats = field(c, "the tracker statistics", |c| {
            Ok(TrackerStats {
                n_allocations: c.u64_le()?,
                n_frames: c.u64_le()?,
                start_time_ms: c.u64_le()? as i64,
                end_time_ms: c.u64_le()? as i64,
            })
        })?;
        let command_line = string(c, "the command line")?;
        let pid = field(c, "the process id", |c| c.i32_le())?;
        let main_tid = field(c, "the main thread id", |c| c.u64_le())?;
        let skipped_frames_on_main_tid = field(c, "the skipped-frames count", |c| c.u64_le())?;
        let python_allocator = field(c, "the Python allocator", |c| c.u8())?;
        let trace_python_allocators = if version >= 11 {
            field(c, "the trace-python-allocators flag", |c| c.bool())?
        } else {
            false
        };
        let track_object_lifetimes = if version >= 12 {
            field(c, "the track-object-lifetimes flag", |c| c.bool())?
        } else {
            false
        };
        let (libdest, site_packages, sys_path) = if version >= 13 {
            (
                string(c, "the library directory")?,
                string_list(c, "the site-packages list")?,
                string_list(c, "the sys.path list")?,
            )
        } else {
            (String::new(), Vec::new(), Vec::new())
        };
        Ok(Header {
            version,
            python_version,
            native_traces,
            file_format,
            stats,
            command_line,
            pid,
            main_tid,
            skipped_frames_on_main_tid,
            python_allocator,
            trace_python_allocators,
            track_object_lifetimes,
            libdest,
            site_packages,
            sys_path,
        })
    }

    /// How the records after this header are encoded.
    pub fn record_format(&self) -> RecordFormat {
        RecordFormat::of_version(self.version)
    }

    /// The interpreter version as `major.minor.micro` ("0.0.0" when the header does not
    /// record it, before version 12).
    pub fn python_version_string(&self) -> String {
        let v = self.python_version;
        format!("{}.{}.{}", v >> 24, (v >> 16) & 0xff, (v >> 8) & 0xff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header of `version` as memray writes it, with every field that version has.
    pub(crate) fn header_bytes(version: i32) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        b.extend(version.to_le_bytes());
        if version >= 12 {
            b.extend(0x030b07f0u32.to_le_bytes());
        }
        b.push(0);
        b.push(0);
        for v in [5u64, 7, 1000, 2000] {
            b.extend(v.to_le_bytes());
        }
        b.extend(b"python x.py\0");
        b.extend(42i32.to_le_bytes());
        b.extend(1u64.to_le_bytes());
        b.extend(2u64.to_le_bytes());
        b.push(1);
        if version >= 11 {
            b.push(1);
        }
        if version >= 12 {
            b.push(1);
        }
        if version >= 13 {
            b.extend(b"/usr/lib\0/site\0\0/a\0/b\0\0");
        }
        b
    }

    pub(crate) fn sample_header_bytes() -> Vec<u8> {
        header_bytes(13)
    }

    #[test]
    fn parses_a_v13_header() {
        let bytes = sample_header_bytes();
        let mut c = Cursor::new(&bytes);
        let h = Header::parse(&mut c).unwrap();
        assert_eq!(h.python_version_string(), "3.11.7");
        assert_eq!(h.command_line, "python x.py");
        assert_eq!(h.stats.n_allocations, 5);
        assert_eq!(h.main_tid, 1);
        assert_eq!(h.skipped_frames_on_main_tid, 2);
        assert_eq!(h.site_packages, vec!["/site".to_string()]);
        assert_eq!(h.sys_path, vec!["/a".to_string(), "/b".to_string()]);
        assert_eq!(h.record_format(), RecordFormat::CodeObject);
        assert!(h.trace_python_allocators && h.track_object_lifetimes);
        assert!(c.is_empty());
    }

    #[test]
    fn parses_the_headers_of_older_versions() {
        for version in [10, 11, 12] {
            let bytes = header_bytes(version);
            let mut c = Cursor::new(&bytes);
            let h = Header::parse(&mut c).unwrap();
            assert!(c.is_empty(), "v{version}: the whole header is read");
            assert_eq!(h.version, version);
            assert_eq!(h.command_line, "python x.py");
            assert_eq!(
                (h.pid, h.main_tid, h.skipped_frames_on_main_tid),
                (42, 1, 2)
            );
            assert_eq!(h.stats.end_time_ms, 2000);
            assert_eq!(h.python_allocator, 1);
            assert_eq!(h.trace_python_allocators, version >= 11);
            assert_eq!(h.track_object_lifetimes, version >= 12);
            assert_eq!(h.python_version, if version >= 12 { 0x030b07f0 } else { 0 });
            assert!(h.libdest.is_empty() && h.site_packages.is_empty() && h.sys_path.is_empty());
            let format = if version >= 12 {
                RecordFormat::CodeObject
            } else {
                RecordFormat::FrameIndex
            };
            assert_eq!(h.record_format(), format);
        }
    }

    #[test]
    fn every_truncation_is_reported_with_its_offset() {
        for version in [10, 11, 12, 13] {
            let bytes = header_bytes(version);
            for cut in 0..bytes.len() {
                let mut c = Cursor::new(&bytes[..cut]);
                match Header::parse(&mut c) {
                    Err(HeaderError::Truncated { offset, .. }) => assert!(offset <= cut),
                    other => panic!("v{version} cut at {cut}: {other:?}"),
                }
            }
        }
    }

    #[test]
    fn rejects_other_versions_and_magics() {
        for version in [0, 9, 14, 200, -1] {
            let mut bytes = sample_header_bytes();
            bytes[7..11].copy_from_slice(&i32::to_le_bytes(version));
            assert_eq!(
                Header::parse(&mut Cursor::new(&bytes)),
                Err(HeaderError::UnsupportedVersion(version))
            );
        }
        assert_eq!(
            Header::parse(&mut Cursor::new(b"MEMRAY\0abcd")),
            Err(HeaderError::BadMagic)
        );
    }
}
