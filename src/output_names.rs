//! The names of memform's outputs: memray's default report names beside the capture
//! (`memray-<format>-<name>.<suffix>`), the same names inside an `--output-dir`, and the
//! default name of the diff of two captures.

use std::path::{Path, PathBuf};

use crate::format::Format;

/// memray's `determine_output_filename`: `memray-<format>-<name>` beside the capture, where
/// `<name>` is the capture's file name with its suffix replaced and a `memray-` prefix
/// dropped; for the statistics, the name `memray stats --json` gives them
/// ([`default_json_path`]).
pub fn default_output_path(capture: &Path, format: Format) -> PathBuf {
    if format == Format::Stats {
        return default_json_path(capture);
    }
    capture.parent().unwrap_or(Path::new("")).join(format!(
        "memray-{}-{}{}",
        format.name(),
        capture_name(capture),
        format.suffix()
    ))
}

/// memray's default name of the statistics document of `capture` (`memray stats --json`):
/// `memray-stats-<file name>.json` beside it, the whole file name kept but for a leading
/// `memray-`.
pub fn default_json_path(capture: &Path) -> PathBuf {
    let name = format!("{}.json", file_name(capture));
    let name = name.strip_prefix("memray-").unwrap_or(&name);
    capture.with_file_name(format!("memray-stats-{name}"))
}

/// pathlib's `stem`: the name without its suffix, which starts at the last dot unless that
/// dot starts the name or ends it.
pub fn file_stem(name: &str) -> &str {
    match name.rfind('.') {
        Some(i) if i > 0 && i < name.len() - 1 => &name[..i],
        _ => name,
    }
}

/// Where `--output-dir` puts `capture`'s report: the file name of its default report
/// ([`default_output_path`]) inside `dir`.
pub fn output_in_dir(dir: &Path, capture: &Path, format: Format) -> PathBuf {
    let default = default_output_path(capture, format);
    match default.file_name() {
        Some(name) => dir.join(name),
        None => dir.join(default),
    }
}

/// The last component of `path` as a string (read lossily where it is not UTF-8; empty for a
/// path without a file name).
pub fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The name a capture gives its outputs: its file name without its suffix
/// ([`file_stem`]) and without a `memray-` prefix (`memray-app.123.bin` → `app.123`).
pub fn capture_name(capture: &Path) -> String {
    let name = file_name(capture);
    let stem = file_stem(&name);
    stem.strip_prefix("memray-").unwrap_or(stem).to_string()
}

/// The default file of the diff of `base` and `new`: `memray-diff-<base>-<new><suffix>`
/// beside `new`, each named by [`capture_name`].
pub fn diff_output_path(base: &Path, new: &Path, suffix: &str) -> PathBuf {
    new.parent().unwrap_or(Path::new("")).join(format!(
        "memray-diff-{}-{}{suffix}",
        capture_name(base),
        capture_name(new)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_output_names_follow_memray() {
        let p = |s: &str, f| default_output_path(Path::new(s), f);
        assert_eq!(
            p("dir/run.bin", Format::Csv),
            PathBuf::from("dir/memray-csv-run.csv")
        );
        assert_eq!(
            p("memray-app.123.bin", Format::Gprof2dot),
            PathBuf::from("memray-gprof2dot-app.123.json")
        );
        assert_eq!(
            p("noext", Format::Csv),
            PathBuf::from("memray-csv-noext.csv")
        );
        assert_eq!(
            p(".hidden", Format::Csv),
            PathBuf::from("memray-csv-.hidden.csv")
        );
        assert_eq!(
            p("dir/run.bin", Format::Speedscope),
            PathBuf::from("dir/memray-speedscope-run.speedscope.json")
        );
        assert_eq!(
            p("memray-run.bin", Format::Parquet),
            PathBuf::from("memray-parquet-run.parquet")
        );
        assert_eq!(
            p("dir/run.bin", Format::Folded),
            PathBuf::from("dir/memray-folded-run.folded")
        );
        assert_eq!(
            p("dir/run.bin", Format::Aggregate),
            PathBuf::from("dir/memray-aggregate-run.bin")
        );
        assert_eq!(
            p("memray-app.123.bin", Format::Aggregate),
            PathBuf::from("memray-aggregate-app.123.bin")
        );
        // `memray stats --json`'s name: the whole file name, suffix kept.
        assert_eq!(
            p("dir/memray-app.123.bin", Format::Stats),
            PathBuf::from("dir/memray-stats-app.123.bin.json")
        );
        assert_eq!(
            p("dir/memray-app.123.bin", Format::Timeline),
            PathBuf::from("dir/memray-timeline-app.123.svg")
        );
    }

    #[test]
    fn output_dir_names() {
        assert_eq!(
            output_in_dir(Path::new("out"), Path::new("caps/run.bin"), Format::Csv),
            PathBuf::from("out/memray-csv-run.csv")
        );
        assert_eq!(
            output_in_dir(Path::new("/o"), Path::new("memray-x.bin"), Format::Parquet),
            PathBuf::from("/o/memray-parquet-x.parquet")
        );
    }

    #[test]
    fn diff_names() {
        assert_eq!(
            diff_output_path(
                Path::new("a/memray-app.1.bin"),
                Path::new("b/app.2.bin"),
                ".csv"
            ),
            PathBuf::from("b/memray-diff-app.1-app.2.csv")
        );
        assert_eq!(
            diff_output_path(Path::new("base"), Path::new("new.bin"), ".svg"),
            PathBuf::from("memray-diff-base-new.svg")
        );
    }
}
