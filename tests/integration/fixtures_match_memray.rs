//! Every committed fixture capture, in every format and report mode, against memray 1.20's
//! own output for it (made by `scripts/make_fixtures.py`).
//!
//! Outputs must be byte-identical, the allocator and thread of every merged row included
//! (memray's pick of the first member its hash map yields; the `mixed` captures merge
//! threads and allocators at shared lines and rehash memray's map after the peak).
//! speedscope documents name their exporter (memray's `memray@1.20.0`, memform's
//! `memform@<version>`); apart from that field they must be equal as parsed JSON and
//! byte-identical.

use std::path::Path;

use crate::common::*;

/// CSV reports must be the same bytes; a difference is named by its first row.
pub(crate) fn check_csv_in_order(case: &str, ours: &str, theirs: &str) {
    if ours == theirs {
        return;
    }
    let (a, b) = (csv_rows(ours), csv_rows(theirs));
    assert_eq!(a.len(), b.len(), "{case}: row count");
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_eq!(x, y, "{case}: row {i} (memform, then memray)");
    }
    panic!("{case}: the same rows in other bytes");
}

/// speedscope: equal to memray's document as parsed JSON once the `exporter` field is set
/// aside, and byte-identical once it is replaced by memray's.
fn check_speedscope(case: &str, ours: &str, theirs: &str) {
    let mut a: serde_json::Value = serde_json::from_str(ours)
        .unwrap_or_else(|e| panic!("{case}: our speedscope output is not JSON: {e}"));
    let mut b: serde_json::Value = serde_json::from_str(theirs).unwrap();
    let exporter = |v: &mut serde_json::Value| {
        v.as_object_mut()
            .and_then(|o| o.remove("exporter"))
            .and_then(|e| e.as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("{case}: no exporter"))
    };
    let (ours_exporter, theirs_exporter) = (exporter(&mut a), exporter(&mut b));
    assert_eq!(
        ours_exporter,
        format!("memform@{}", env!("CARGO_PKG_VERSION")),
        "{case}: exporter"
    );
    assert!(
        a == b,
        "{case}: speedscope documents differ (apart from the exporter)"
    );
    let field = |e: &str| format!("\"exporter\": \"{e}\"}}");
    let ours = ours.replacen(&field(&ours_exporter), &field(&theirs_exporter), 1);
    assert!(
        ours == theirs,
        "{case}: speedscope output equal as JSON but not byte-identical to memray's"
    );
}

#[derive(serde::Deserialize)]
struct Image {
    build_id: Option<String>,
    debug_file: bool,
}

/// For a native capture (one with an `.images.json` beside its outputs): `Ok` when this
/// machine has every ELF image the capture's memory maps name, with the build-id and the
/// separate debug file the recording machine had, so native frames resolve the same; `Err`
/// with the first difference otherwise. `None` for captures without native traces.
pub(crate) fn native_images(expected_dir: &Path, capture_name: &str) -> Option<Result<(), String>> {
    let text = std::fs::read(expected_dir.join(format!("{capture_name}.images.json"))).ok()?;
    let images: std::collections::BTreeMap<String, Image> = serde_json::from_slice(&text).unwrap();
    for (path, image) in images {
        let found = elf_build_id(Path::new(&path));
        if found != image.build_id {
            return Some(Err(format!(
                "{path}: build-id {found:?}, recorded {:?}",
                image.build_id
            )));
        }
        let debug = found.as_ref().is_some_and(|id| {
            Path::new(&format!(
                "/usr/lib/debug/.build-id/{}/{}.debug",
                &id[..2],
                &id[2..]
            ))
            .is_file()
        });
        if debug != image.debug_file {
            return Some(Err(format!(
                "{path}: separate debug file present: {debug}, recorded {}",
                image.debug_file
            )));
        }
    }
    Some(Ok(()))
}

/// The GNU build-id of the ELF file at `path`, as hex.
fn elf_build_id(path: &Path) -> Option<String> {
    use object::Object;
    let bytes = std::fs::read(path).ok()?;
    let file = object::File::parse(&*bytes).ok()?;
    let id = file.build_id().ok()??;
    Some(id.iter().map(|b| format!("{b:02x}")).collect())
}

#[test]
fn every_fixture_case_matches_memray() {
    let expected_dir = fixtures().join("expected");
    let out_dir = tempfile::tempdir().unwrap();
    let mut cases = 0;
    let mut identical = 0;
    let mut speedscope = 0;
    let mut native_cases = 0;
    let mut native_skipped = std::collections::BTreeSet::new();
    // Per capture: reading the images' build-ids once is enough.
    let mut native_by_capture = std::collections::BTreeMap::new();
    for path in files(&expected_dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".images.json") {
            continue;
        }
        // memray's statistics: tests/integration/stats.rs.
        if name.contains("-stats-") {
            continue;
        }
        let (stem, ext) = name.rsplit_once('.').unwrap();
        let parts: Vec<&str> = stem.rsplitn(3, '-').collect();
        let (report, format, capture_name) = (parts[0], parts[1], parts[2]);
        let native = native_by_capture
            .entry(capture_name.to_string())
            .or_insert_with(|| native_images(&expected_dir, capture_name))
            .clone();
        if let Some(Err(reason)) = &native {
            if native_skipped.insert(capture_name.to_string()) {
                eprintln!("{capture_name}: native frames not compared: {reason}");
            }
        }
        let compare_stacks = !matches!(native, Some(Err(_)));
        let capture = capture(&format!("{capture_name}.bin"));
        let out = out_dir.path().join(format!("{stem}.out"));
        let o = transform_fixture(&capture, format, report, &out);
        cases += 1;
        if ext == "error" {
            assert_refused_like_memray(&path, &o, &out, stem);
            continue;
        }
        assert_eq!(o.status.code(), Some(0), "{stem}: {}", stderr(&o));
        let ours = std::fs::read_to_string(&out).unwrap();
        let theirs = std::fs::read_to_string(&path).unwrap();
        if native.is_some() {
            native_cases += 1;
        }
        if !compare_stacks {
            // Another machine's libraries: everything but the frames must still agree.
            if format == "csv" {
                let (a, b) = (csv_rows(&ours), csv_rows(&theirs));
                let numbers = |rows: &[Vec<String>]| -> Vec<Vec<String>> {
                    rows.iter().map(|r| r[..5].to_vec()).collect()
                };
                assert_eq!(numbers(&a), numbers(&b), "{stem}: rows apart from stacks");
            }
            continue;
        }
        if format == "speedscope" {
            check_speedscope(stem, &ours, &theirs);
            identical += 1;
            speedscope += 1;
            continue;
        }
        if ours == theirs {
            identical += 1;
            continue;
        }
        assert_eq!(format, "csv", "{stem}: JSON output differs from memray's");
        check_csv_in_order(stem, &ours, &theirs);
    }
    eprintln!(
        "{cases} fixture cases, {identical} byte-identical \
         ({speedscope} speedscope documents, apart from their exporter); \
         {native_cases} native cases, stacks of {} native captures not compared",
        native_skipped.len()
    );
    assert!(
        native_cases >= 20,
        "expected at least 20 native cases, found {native_cases}"
    );
    assert!(
        cases >= 100,
        "expected at least 100 fixture cases, found {cases}"
    );
    assert!(
        speedscope >= 50,
        "expected at least 50 speedscope fixture cases, found {speedscope}"
    );
}

#[test]
fn fixtures_cover_every_capture_mode_and_several_pythons() {
    let names: Vec<String> = files(&fixtures().join("captures"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    for mode in [
        "default",
        "pyalloc",
        "aggregate",
        "nocompress",
        "killed",
        "native",
        "nativeagg",
        "mixed",
        "mixedpyalloc",
    ] {
        assert!(
            names.iter().any(|n| n.ends_with(&format!("-{mode}.bin"))),
            "no {mode} fixture"
        );
    }
    let pythons: std::collections::BTreeSet<&str> =
        names.iter().filter_map(|n| n.split('-').nth(1)).collect();
    assert!(pythons.len() >= 2, "fixtures for {pythons:?}");
    assert!(Path::new(&fixtures().join("workload.py")).exists());
    assert!(Path::new(&fixtures().join("mixed_sites.py")).exists());
}
