//! Unit tests of the pprof writer: the message encoding itself (field numbers and wire
//! types), and a fixture report written, gunzipped and decoded back row by row.

use std::io::Read;

use super::*;
use crate::report::write_report;

#[test]
fn messages_use_profile_proto_field_numbers() {
    // ValueType { type = 1, unit = 2 }: varints with tags 1 and 2.
    let vt = proto::ValueType { r#type: 3, unit: 4 };
    assert_eq!(vt.encode_to_vec(), [0x08, 3, 0x10, 4]);
    // Sample: packed location ids (tag 1), packed values (tag 2), labels (tag 3).
    let sample = proto::Sample {
        location_id: vec![1, 2],
        value: vec![5, 6],
        label: vec![proto::Label {
            key: 1,
            str: 2,
            num: 0,
            num_unit: 0,
        }],
    };
    assert_eq!(
        sample.encode_to_vec(),
        [0x0a, 2, 1, 2, 0x12, 2, 5, 6, 0x1a, 4, 0x08, 1, 0x10, 2]
    );
    // Profile: strings are tag 6, default_sample_type tag 14, time_nanos tag 9.
    let profile = proto::Profile {
        string_table: vec![String::new(), "a".into()],
        default_sample_type: 1,
        time_nanos: 2,
        ..Default::default()
    };
    assert_eq!(
        profile.encode_to_vec(),
        [0x32, 0, 0x32, 1, b'a', 0x48, 2, 0x70, 1]
    );
    // Location id 1, mapping 2, address 3, one line; Function id 1, name 2, filename 4.
    let loc = proto::Location {
        id: 1,
        mapping_id: 2,
        address: 3,
        line: vec![proto::Line {
            function_id: 7,
            line: -1,
            column: 0,
        }],
        is_folded: false,
    };
    let mut expected = vec![0x08, 1, 0x10, 2, 0x18, 3, 0x22, 13, 0x08, 7, 0x10];
    expected.extend([0xff; 9]);
    expected.push(0x01);
    assert_eq!(loc.encode_to_vec(), expected);
}

/// What the writer was handed for one row, as the profile should show it.
#[derive(Debug, PartialEq)]
struct Seen {
    values: Vec<i64>,
    thread: String,
    allocator: String,
    frames: Vec<(String, String, i64)>,
}

/// Collects the rows while a [`PprofWriter`] writes them.
struct Collect<'a> {
    pprof: PprofWriter<&'a mut Vec<u8>>,
    rows: Vec<Seen>,
}

impl ReportWriter for Collect<'_> {
    fn begin(&mut self, report: &Report) -> io::Result<()> {
        self.pprof.begin(report)
    }

    fn row(&mut self, row: &ReportRow<'_>) -> io::Result<()> {
        self.rows.push(Seen {
            values: vec![row.size as i64, row.num_allocations as i64],
            thread: row.thread_name.to_string(),
            allocator: row.allocator.name().to_string(),
            frames: row
                .frames
                .iter()
                .map(|f| (f.function.to_string(), f.file.to_string(), f.line.into()))
                .collect(),
        });
        self.pprof.row(row)
    }

    fn finish(&mut self, report: &Report) -> io::Result<()> {
        self.pprof.finish(report)
    }
}

fn write(report: &mut Report) -> (Vec<u8>, Vec<Seen>) {
    let mut bytes = Vec::new();
    let mut collect = Collect {
        pprof: PprofWriter::new(&mut bytes),
        rows: Vec::new(),
    };
    write_report(report, &mut collect).unwrap();
    let rows = std::mem::take(&mut collect.rows);
    drop(collect);
    (bytes, rows)
}

fn decode(gz: &[u8]) -> proto::Profile {
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(gz)
        .read_to_end(&mut raw)
        .unwrap();
    proto::Profile::decode(raw.as_slice()).unwrap()
}

/// The rows of `profile` as [`Seen`], through its tables.
fn samples(p: &proto::Profile) -> Vec<Seen> {
    let s = |i: i64| p.string_table[i as usize].clone();
    let label = |sample: &proto::Sample, key: &str| {
        let found: Vec<_> = sample.label.iter().filter(|l| s(l.key) == key).collect();
        assert_eq!(found.len(), 1, "one {key} label");
        s(found[0].str)
    };
    p.sample
        .iter()
        .map(|sample| Seen {
            values: sample.value.clone(),
            thread: label(sample, "thread"),
            allocator: label(sample, "allocator"),
            frames: sample
                .location_id
                .iter()
                .map(|&id| {
                    let loc = &p.location[id as usize - 1];
                    assert_eq!(loc.id, id);
                    assert_eq!(loc.line.len(), 1);
                    let f = &p.function[loc.line[0].function_id as usize - 1];
                    assert_eq!(f.id, loc.line[0].function_id);
                    assert_eq!(f.system_name, 0, "system names stay empty");
                    (s(f.name), s(f.filename), loc.line[0].line)
                })
                .collect(),
        })
        .collect()
}

#[test]
fn a_fixture_report_decodes_back_to_its_rows() {
    let (_, mut report) = crate::report::fixture_leaks_report("v1.20.0-py3.11-default.bin");
    let (bytes, rows) = write(&mut report);
    // gzip, no time stamp, no file name.
    assert_eq!(&bytes[..4], [0x1f, 0x8b, 8, 0]);
    assert_eq!(&bytes[4..8], [0, 0, 0, 0]);
    let p = decode(&bytes);
    assert_eq!(p.string_table[0], "");
    let s = |i: i64| p.string_table[i as usize].as_str();
    let types: Vec<_> = p
        .sample_type
        .iter()
        .map(|t| (s(t.r#type), s(t.unit)))
        .collect();
    assert_eq!(types, [("space", "bytes"), ("objects", "count")]);
    assert_eq!(s(p.default_sample_type), "space");
    let stats = report.header.stats;
    assert_eq!(p.time_nanos, stats.start_time_ms * 1_000_000);
    assert_eq!(
        p.duration_nanos,
        (stats.end_time_ms - stats.start_time_ms) * 1_000_000
    );
    assert!(p.comment.iter().any(|&c| s(c) == "memray leaks report"));
    assert!(p.mapping.is_empty(), "no native traces, no mappings");
    assert!(!rows.is_empty());
    assert_eq!(samples(&p), rows);
    // Distinct frames and functions only.
    let mut frames: Vec<_> = rows.iter().flat_map(|r| r.frames.iter()).collect();
    frames.sort();
    frames.dedup();
    assert_eq!(p.location.len(), frames.len());
    // The same bytes every time.
    let (_, mut again) = crate::report::fixture_leaks_report("v1.20.0-py3.11-default.bin");
    assert_eq!(write(&mut again).0, bytes);
}

#[test]
fn native_captures_list_their_images_as_mappings() {
    let (_, mut report) = crate::report::fixture_leaks_report("v1.20.0-py3.11-native.bin");
    let images: Vec<(String, u64)> = report
        .native
        .as_ref()
        .unwrap()
        .images()
        .iter()
        .map(|i| (i.filename.clone(), i.addr))
        .collect();
    let (bytes, rows) = write(&mut report);
    let p = decode(&bytes);
    assert_eq!(samples(&p), rows);
    assert!(!p.mapping.is_empty());
    for (i, m) in p.mapping.iter().enumerate() {
        assert_eq!(m.id, i as u64 + 1);
        assert!(m.memory_start <= m.memory_limit);
        let name = p.string_table[m.filename as usize].clone();
        assert!(images.iter().any(|(f, _)| *f == name), "{name}");
    }
}

#[test]
fn mappings_span_their_segments_once_per_image() {
    let image = |filename: &str, addr, segments: Vec<(u64, u64)>, generation| ImageSegments {
        filename: filename.into(),
        addr,
        segments,
        generation,
    };
    let images = [
        image("/bin/python", 0x1000, vec![(0, 0x100), (0x200, 0x50)], 1),
        image("/lib/libc.so", 0x9000, vec![], 1),
        image("/bin/python", 0x1000, vec![(0, 0x100), (0x200, 0x50)], 2),
        image("/lib/libm.so", u64::MAX - 1, vec![(0x10, 0x10)], 2),
    ];
    let mut tables = Tables::new();
    let m = mappings(&images, &mut tables);
    let ranges: Vec<_> = m
        .iter()
        .map(|m| (m.id, m.memory_start, m.memory_limit))
        .collect();
    assert_eq!(
        ranges,
        [
            (1, 0x1000, 0x1250),
            (2, 0x9000, 0x9000),
            (3, u64::MAX, u64::MAX)
        ]
    );
    assert_eq!(tables.strings.get_index(0).map(String::as_str), Some(""));
}
