//! Inputs that made a fuzz target crash, hang or time out (`scripts/fuzz.sh`), kept so they
//! stay fixed. Files in `tests/fixtures/fuzz/` are named `<target>-<what>-<hash>.bin`:
//!
//! - `transform-*` (whole captures): every format and report mode (and the aggregate
//!   format) must end in exit 0 or one
//!   error line and exit 1, without a panic, well within the time limit, and leave no output
//!   file on failure;
//! - `resolve-*` (ELF images, from the symbolizer's target): resolving addresses over the image must return.

use std::time::{Duration, Instant};

use crate::common::*;

/// Far above what any of these inputs needs in a release build (well under a second).
const LIMIT: Duration = Duration::from_secs(20);

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = fixtures().join("fuzz");
    let out_dir = tempfile::tempdir().unwrap();
    let mut runs = 0;
    for path in files(&dir) {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("transform-") {
            for format in ["csv", "gprof2dot", "speedscope", "parquet"] {
                for report in ["peak", "leaks", "temp0", "temp5"] {
                    let out = out_dir.path().join(format!("{name}-{format}-{report}"));
                    let mut args = vec!["transform", format, "-q", "-o", out.to_str().unwrap()];
                    args.extend(report_flags(report));
                    args.push(path.to_str().unwrap());
                    let start = Instant::now();
                    let o = memform(&args);
                    let took = start.elapsed();
                    let err = stderr(&o);
                    assert!(took < LIMIT, "{name} {format} {report}: took {took:?}");
                    assert!(!err.contains("panicked"), "{name} {format} {report}: {err}");
                    match o.status.code() {
                        Some(0) => assert!(out.exists(), "{name} {format} {report}: no output"),
                        Some(1) => {
                            assert_eq!(err.lines().count(), 1, "{name}: {err}");
                            assert!(!out.exists(), "{name} {format} {report}: output left");
                        }
                        other => panic!("{name} {format} {report}: exit {other:?}: {err}"),
                    }
                    runs += 1;
                }
            }
            // The aggregate format's own pass over the capture.
            let out = out_dir.path().join(format!("{name}-aggregate"));
            let o = memform(&[
                "transform",
                "aggregate",
                "-q",
                "-o",
                out.to_str().unwrap(),
                path.to_str().unwrap(),
            ]);
            let err = stderr(&o);
            assert!(!err.contains("panicked"), "{name} aggregate: {err}");
            match o.status.code() {
                Some(0) => assert!(out.exists(), "{name} aggregate: no output"),
                Some(1) => {
                    assert_eq!(err.lines().count(), 1, "{name} aggregate: {err}");
                    assert!(!out.exists(), "{name} aggregate: output left");
                }
                other => panic!("{name} aggregate: exit {other:?}: {err}"),
            }
            runs += 1;
        } else if name.starts_with("resolve-") {
            let mut resolver = memform_symbolizer::SymbolResolver::new();
            let len = std::fs::metadata(&path).unwrap().len();
            let load = 0x40_0000;
            resolver.add_image(path.to_str().unwrap(), load, &[(0, len.max(1))], 1);
            let start = Instant::now();
            for k in 0..32 {
                let _ = resolver.resolve(load + 1 + k * len / 32, 1);
            }
            assert!(
                start.elapsed() < LIMIT,
                "{name}: took {:?}",
                start.elapsed()
            );
            runs += 1;
        } else {
            panic!("{name}: no known fuzz target prefix");
        }
    }
    eprintln!("fuzz regressions: {runs} runs");
    assert!(
        runs >= 16,
        "expected the committed fuzz findings, found {runs} runs"
    );
}
