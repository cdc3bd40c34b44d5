//! Captures of memray before 1.20 (capture header versions 10, 11 and 12), in every report
//! mode and in csv and gprof2dot, against the output of the `memray transform` of the memray
//! that wrote them (made by `scripts/make_version_fixtures.py`, under
//! tests/fixtures/versions/).
//!
//! memray before 1.20 writes rows in hash-map order; memform writes every version's rows in
//! 1.20's order. So CSV rows are compared as multisets, and gprof2dot documents with their
//! events and functions order-independently (like `canonical_gprof2dot` of the corpus
//! checker). In peak and leak reports of full captures memray takes a merged row's allocator
//! and thread from whichever member its hash map yields first; only in rows whose recorded
//! members differ in allocator or thread is another member's value accepted.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::common::{assert_refused_like_memray, csv_rows, files, stderr, transform_fixture};
use memform::capture::CaptureFile;

fn versions_dir() -> PathBuf {
    crate::common::fixtures().join("versions")
}

/// The header version each memray release of the fixtures writes.
fn header_version_of(memray: &str) -> i32 {
    match memray {
        "1.10.0" => 10,
        "1.18.0" => 11,
        "1.19.3" => 12,
        other => panic!("no header version known for memray {other}"),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct Members {
    stack: String,
    num_allocations: u64,
    size: u64,
    allocators: Vec<String>,
    tids: Vec<u64>,
}

/// Rows as a multiset.
fn multiset(rows: &[Vec<String>]) -> BTreeMap<Vec<String>, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r.clone()).or_insert(0) += 1;
    }
    m
}

/// Compares CSV reports as multisets of rows; returns how many rows were accepted with
/// another member's allocator and thread.
pub(crate) fn check_csv_as_multisets(
    case: &str,
    ours: &str,
    theirs: &str,
    members: Option<&[Members]>,
) -> usize {
    let (a, b) = (csv_rows(ours), csv_rows(theirs));
    assert_eq!(a.first(), b.first(), "{case}: CSV header");
    assert_eq!(a.len(), b.len(), "{case}: row count");
    for (i, r) in a.iter().enumerate() {
        assert_eq!(r.len(), 6, "{case}: row {i} has {} fields", r.len());
    }
    let (mut ours_left, mut theirs_left) = (multiset(&a[1..]), multiset(&b[1..]));
    for (row, n) in ours_left.iter_mut() {
        if let Some(m) = theirs_left.get_mut(row) {
            let common = (*n).min(*m);
            *n -= common;
            *m -= common;
        }
    }
    let key = |r: &Vec<String>| (r[5].clone(), r[1].clone(), r[2].clone());
    let keys = |m: &BTreeMap<Vec<String>, usize>| {
        let mut k: Vec<_> = m
            .iter()
            .flat_map(|(r, &n)| std::iter::repeat_n(key(r), n))
            .collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&ours_left),
        keys(&theirs_left),
        "{case}: rows differ from memray's (stack, count or size)"
    );
    let mut ambiguous = 0;
    for (row, &n) in &ours_left {
        if n == 0 {
            continue;
        }
        let members =
            members.unwrap_or_else(|| panic!("{case}: row {row:?} differs in allocator or thread"));
        let tid: u64 = row[3].parse().expect("a numeric tid");
        let accepted = members.iter().any(|m| {
            (
                m.stack.as_str(),
                m.num_allocations.to_string(),
                m.size.to_string(),
            ) == (row[5].as_str(), row[1].clone(), row[2].clone())
                && (m.allocators.len() > 1 || m.tids.len() > 1)
                && m.allocators.contains(&row[0])
                && m.tids.contains(&tid)
        });
        assert!(
            accepted,
            "{case}: row {row:?} differs in allocator or thread and its members agree"
        );
        assert!(
            row[4].starts_with(&format!("{tid:#x}")),
            "{case}: thread name {:?} of tid {tid}",
            row[4]
        );
        ambiguous += n;
    }
    ambiguous
}

/// A gprof2dot document with events and functions in a canonical order.
fn canonical_gprof2dot(case: &str, text: &str) -> serde_json::Value {
    let doc: serde_json::Value = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("{case}: gprof2dot output is not JSON: {e}"));
    let functions: Vec<(String, String)> = doc["functions"]
        .as_array()
        .unwrap_or_else(|| panic!("{case}: no functions"))
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["module"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut events: Vec<(Vec<(String, String)>, String)> = doc["events"]
        .as_array()
        .unwrap_or_else(|| panic!("{case}: no events"))
        .iter()
        .map(|e| {
            let chain = e["callchain"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| functions[i.as_u64().unwrap() as usize].clone())
                .collect();
            (chain, e["cost"].to_string())
        })
        .collect();
    events.sort();
    let mut sorted_functions = functions.clone();
    sorted_functions.sort();
    serde_json::json!({
        "version": doc["version"],
        "costs": doc["costs"],
        "events": events,
        "functions": sorted_functions,
        "keys": doc.as_object().unwrap().keys().collect::<Vec<_>>(),
    })
}

fn header_version(path: &Path) -> i32 {
    let capture = CaptureFile::open(path).expect("fixture opens");
    memform::analysis::read_capture_header(&capture)
        .expect("fixture header")
        .version
}

#[test]
fn every_older_version_fixture_matches_its_memray() {
    let dir = versions_dir();
    let expected_dir = dir.join("expected");
    let out_dir = tempfile::tempdir().unwrap();
    let mut cases = 0;
    let mut refusals = 0;
    let mut csv_cases = 0;
    let mut gprof2dot_cases = 0;
    let mut with_members = 0;
    let mut ambiguous = 0;
    let mut per_header_version = BTreeMap::new();
    for path in files(&expected_dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".members.json") {
            continue;
        }
        let (stem, ext) = name.rsplit_once('.').unwrap();
        let parts: Vec<&str> = stem.rsplitn(3, '-').collect();
        let (report, format, capture_name) = (parts[0], parts[1], parts[2]);
        let capture = dir.join("captures").join(format!("{capture_name}.bin"));
        let memray = capture_name
            .strip_prefix('v')
            .and_then(|n| n.split('-').next())
            .unwrap();
        let version = header_version(&capture);
        assert_eq!(
            version,
            header_version_of(memray),
            "{capture_name}: header version"
        );
        *per_header_version.entry(version).or_insert(0) += 1;
        let out = out_dir.path().join(format!("{stem}.out"));
        let o = transform_fixture(&capture, format, report, &out);
        cases += 1;
        if ext == "error" {
            assert_refused_like_memray(&path, &o, &out, stem);
            refusals += 1;
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{stem}: {}", stderr(&o));
        let ours = std::fs::read_to_string(&out).unwrap();
        let theirs = std::fs::read_to_string(&path).unwrap();
        match format {
            "csv" => {
                let members_path =
                    expected_dir.join(format!("{capture_name}-{report}.members.json"));
                let members: Option<Vec<Members>> = std::fs::read(&members_path)
                    .ok()
                    .map(|b| serde_json::from_slice(&b).unwrap());
                with_members += usize::from(members.is_some());
                ambiguous += check_csv_as_multisets(stem, &ours, &theirs, members.as_deref());
                csv_cases += 1;
            }
            "gprof2dot" => {
                assert_eq!(
                    canonical_gprof2dot(stem, &ours),
                    canonical_gprof2dot(stem, &theirs),
                    "{stem}: gprof2dot documents differ (order aside)"
                );
                gprof2dot_cases += 1;
            }
            other => panic!("{stem}: unexpected format {other}"),
        }
    }
    eprintln!(
        "{cases} older-version fixture cases: {csv_cases} csv, {gprof2dot_cases} gprof2dot, \
         {refusals} refusals; {ambiguous} rows accepted with another member's allocator/thread"
    );
    // 7 captures (default and aggregate of 1.10.0, 1.18.0, 1.19.3; pyalloc of 1.10.0) x 2
    // formats x 5 reports; the 3 temporary reports of the 3 aggregated captures are refused.
    assert_eq!(cases, 70, "fixture cases");
    assert_eq!(refusals, 18, "refused cases");
    assert_eq!((csv_cases, gprof2dot_cases), (26, 26), "compared outputs");
    assert_eq!(
        with_members, 8,
        "peak and leak reports of full captures with members"
    );
    let expected_versions: BTreeMap<i32, i32> = [(10, 30), (11, 20), (12, 20)].into();
    assert_eq!(
        per_header_version, expected_versions,
        "cases per header version"
    );
}
