//! Captures of memray before 1.20 (capture header versions 10, 11 and 12), in every report
//! mode and in csv and gprof2dot, against the output of the `memray transform` of the memray
//! that wrote them (made by `scripts/make_version_fixtures.py`, under
//! tests/fixtures/versions/).
//!
//! memray before 1.20 writes rows in hash-map order; memform writes every version's rows in
//! 1.20's order. So CSV rows are compared as multisets, and gprof2dot documents with their
//! events and functions order-independently (like `canonical_gprof2dot` of the corpus
//! checker). Allocator and thread are part of a row: memray's pick of the first member its
//! hash map yields, which every version makes the same way.

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
        "1.7.0" | "1.10.0" => 10,
        "1.18.0" => 11,
        "1.19.3" => 12,
        other => panic!("no header version known for memray {other}"),
    }
}

/// Rows as a multiset.
fn multiset(rows: &[Vec<String>]) -> BTreeMap<Vec<String>, usize> {
    let mut m = BTreeMap::new();
    for r in rows {
        *m.entry(r.clone()).or_insert(0) += 1;
    }
    m
}

/// Compares CSV reports as multisets of rows, every field included.
pub(crate) fn check_csv_as_multisets(case: &str, ours: &str, theirs: &str) {
    let (a, b) = (csv_rows(ours), csv_rows(theirs));
    assert_eq!(a.first(), b.first(), "{case}: CSV header");
    assert_eq!(a.len(), b.len(), "{case}: row count");
    for (i, r) in a.iter().enumerate() {
        assert_eq!(r.len(), 6, "{case}: row {i} has {} fields", r.len());
    }
    let (ours, theirs) = (multiset(&a[1..]), multiset(&b[1..]));
    if ours != theirs {
        let only = |x: &BTreeMap<Vec<String>, usize>, y: &BTreeMap<Vec<String>, usize>| {
            x.iter()
                .filter(|(r, n)| y.get(*r) != Some(n))
                .map(|(r, _)| r.clone())
                .take(3)
                .collect::<Vec<_>>()
        };
        panic!(
            "{case}: rows differ from memray's; memform's own {:?}, memray's own {:?}",
            only(&ours, &theirs),
            only(&theirs, &ours)
        );
    }
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
    let mut per_header_version = BTreeMap::new();
    for path in files(&expected_dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        // memray's statistics: tests/integration/stats.rs.
        if name.contains("-stats-") {
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
                check_csv_as_multisets(stem, &ours, &theirs);
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
         {refusals} refusals"
    );
    // 13 captures (default, aggregate and mixed of 1.7.0, 1.10.0, 1.18.0, 1.19.3; pyalloc of
    // 1.10.0) x 2 formats x 5 reports; the 3 temporary reports of the 4 aggregated captures
    // are refused.
    assert_eq!(cases, 130, "fixture cases");
    assert_eq!(refusals, 24, "refused cases");
    assert_eq!((csv_cases, gprof2dot_cases), (53, 53), "compared outputs");
    let expected_versions: BTreeMap<i32, i32> = [(10, 70), (11, 30), (12, 30)].into();
    assert_eq!(
        per_header_version, expected_versions,
        "cases per header version"
    );
}
