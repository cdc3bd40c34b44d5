//! Helpers shared by the integration tests: fixture paths, running the binary, reading
//! captures and CSV reports, headless Chromium's screenshots of SVG pictures.

use std::ffi::OsStr;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("fixtures")
}

pub fn capture(name: &str) -> PathBuf {
    fixtures().join("captures").join(name)
}

/// Runs `memform` with `args`.
pub fn memform(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_memform"))
        .args(args)
        .output()
        .expect("memform runs")
}

/// How a run of the binary ended.
pub struct Finished {
    pub code: i32,
    pub stderr: String,
    /// The child's own peak resident set size, in bytes.
    pub max_rss: u64,
}

/// Runs `memform` with `args`, failing `case` if it runs longer than `limit` (the child is
/// killed) or is killed by a signal. The child is reaped with `wait4`, which gives its own
/// peak RSS (not that of every child this test process has had, which other tests running
/// at the same time would inflate).
// The child is reaped by `wait4`, which clippy does not see.
#[allow(clippy::zombie_processes)]
pub fn memform_within(args: &[&OsStr], limit: Duration, case: &str) -> Finished {
    // memform's own peak RSS, which it writes at exit (src/main.rs): wait4's also counts
    // this test process's address space, which the child was spawned from.
    static SPAWNED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let rss_file = std::env::temp_dir().join(format!(
        "memform-test-rss-{}-{}",
        std::process::id(),
        SPAWNED.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_file(&rss_file);
    let mut child = Command::new(env!("CARGO_BIN_EXE_memform"))
        .args(args)
        .env("MEMFORM_PEAK_RSS_FILE", &rss_file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("memform runs");
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let (status, usage) = loop {
        let mut status = 0;
        let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
        // SAFETY: wait4 writes the status and the usage it is given; WNOHANG returns 0
        // while the child runs.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, usage.as_mut_ptr()) };
        assert!(reaped >= 0, "{case}: wait4 failed");
        if reaped == pid {
            // SAFETY: filled by the successful wait4 above.
            break (status, unsafe { usage.assume_init() });
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("{case}: memform hung");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let mut stderr = String::new();
    child
        .stderr
        .as_mut()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(libc::WIFEXITED(status), "{case}: killed by a signal");
    // `VmHWM:     20480 kB`; without it (an exit before main's end), wait4's upper bound.
    let own = std::fs::read_to_string(&rss_file).ok().and_then(|line| {
        let kib = line
            .strip_prefix("VmHWM:")?
            .trim()
            .strip_suffix("kB")?
            .trim();
        kib.parse::<u64>().ok()
    });
    let _ = std::fs::remove_file(&rss_file);
    Finished {
        code: libc::WEXITSTATUS(status),
        stderr,
        max_rss: own.unwrap_or(usage.ru_maxrss as u64) * 1024,
    }
}

/// Runs `memform transform` on `capture` in `format` with the flags of fixture report
/// `report`, writing `out`.
pub fn transform_fixture(capture: &Path, format: &str, report: &str, out: &Path) -> Output {
    let mut args = vec!["transform", format, "-q", "-o", out.to_str().unwrap()];
    args.extend(report_flags(report));
    args.push(capture.to_str().unwrap());
    memform(&args)
}

/// A case memray refused: memform must exit 1, leave no output file, and say memray's
/// message. `expected_error` holds memray's last stderr line, `ExceptionType: message`.
pub fn assert_refused_like_memray(expected_error: &Path, o: &Output, out: &Path, case: &str) {
    let line = std::fs::read_to_string(expected_error).unwrap();
    let message = line.split_once(": ").map_or(line.as_str(), |(_, m)| m);
    assert_eq!(o.status.code(), Some(1), "{case}: exit code");
    assert!(!out.exists(), "{case}: no output file on failure");
    assert!(
        stderr(o).contains(message.trim()),
        "{case}: stderr {:?} lacks memray's message {:?}",
        stderr(o),
        message.trim()
    );
}

/// Flags of a report name used in fixture file names.
pub fn report_flags(report: &str) -> Vec<&'static str> {
    match report {
        "peak" => vec![],
        "leaks" => vec!["--leaks"],
        "temp" => vec!["--temporary-allocations"],
        "temp0" => vec!["--temporary-allocation-threshold", "0"],
        "temp5" => vec!["--temporary-allocation-threshold", "5"],
        other => panic!("unknown report {other}"),
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Files in `dir` (not recursive), sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.filter_map(|e| e.ok()).map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Parses the rows of a CSV report (header included) as Python's csv module writes them:
/// `\r\n` line ends, `"` quoting with doubled quotes; no field of the fixtures holds a newline.
pub fn csv_rows(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for line in text.split("\r\n").filter(|l| !l.is_empty()) {
        let mut fields = Vec::new();
        let mut field = String::new();
        let mut quoted = false;
        let mut chars = line.chars().peekable();
        while let Some(c) = chars.next() {
            match (c, quoted) {
                ('"', false) if field.is_empty() => quoted = true,
                ('"', true) if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                ('"', true) => quoted = false,
                (',', false) => fields.push(std::mem::take(&mut field)),
                (c, _) => field.push(c),
            }
        }
        fields.push(field);
        rows.push(fields);
    }
    rows
}

/// Offset of the first record of an uncompressed capture.
pub fn first_record_offset(path: &Path) -> usize {
    let capture = memform::capture::CaptureFile::open(path).unwrap();
    let mut stream = capture.stream();
    memform::capture::read_header(&mut stream).unwrap();
    stream.offset() as usize
}

/// `memform transform FORMAT -q -o OUT INPUT`, run with [`memform_within`].
pub fn transform_within(
    format: &str,
    out: &Path,
    input: &Path,
    limit: Duration,
    case: &str,
) -> Finished {
    let args = [
        OsStr::new("transform"),
        OsStr::new(format),
        OsStr::new("-q"),
        OsStr::new("-o"),
        out.as_os_str(),
        input.as_os_str(),
    ];
    memform_within(&args, limit, case)
}

/// Fails `case` if `dir` holds a report's temporary file (`.<name>.memform-….tmp`).
pub fn assert_no_temporary_files(dir: &Path, case: &str) {
    let leftovers: Vec<_> = files(dir)
        .into_iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            name.starts_with('.') && name.ends_with(".tmp")
        })
        .collect();
    assert!(
        leftovers.is_empty(),
        "{case}: temporary files left: {leftovers:?}"
    );
}

/// The bytes of a CSV report: the sum of its `size` column.
pub fn csv_bytes(csv: &str) -> u128 {
    let rows = csv_rows(csv);
    let size = rows[0].iter().position(|c| c == "size").unwrap();
    rows[1..]
        .iter()
        .map(|r| r[size].parse::<u128>().unwrap())
        .sum()
}

/// Debian's `chromium`, or `None` (with a note) where it is missing, unless
/// `MEMFORM_REQUIRE_CHROMIUM=1` (scripts/test.sh), which makes it a failure.
pub fn chromium() -> Option<PathBuf> {
    let found = ["chromium", "chromium-browser"].iter().find_map(|name| {
        std::process::Command::new(name)
            .arg("--version")
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|_| PathBuf::from(name))
    });
    if found.is_none() {
        assert!(
            std::env::var_os("MEMFORM_REQUIRE_CHROMIUM").is_none(),
            "chromium is required (apt-get install chromium)"
        );
        eprintln!("chromium not found: the rendering check is skipped");
    }
    found
}

/// Renders `svg` in headless Chromium into `png`, a window of `size` pixels.
pub fn screenshot(chromium: &Path, svg: &Path, png: &Path, size: (u32, u32)) {
    let o = std::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
        ])
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", svg.display()))
        .output()
        .expect("chromium runs");
    assert!(
        o.status.success() && png.exists(),
        "chromium: {}",
        stderr(&o)
    );
}

/// The number of distinct colours of the PNG at `path`.
pub fn distinct_colours(path: &Path) -> usize {
    let colours: std::collections::HashSet<[u8; 3]> = pixels(path).into_iter().collect();
    colours.len()
}

/// The RGB pixels of the PNG at `path` (8-bit RGB or RGBA, as Chromium writes them).
pub fn pixels(path: &Path) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{}", path.display());
    let step = info.color_type.samples();
    assert!(step >= 3, "{}: {:?}", path.display(), info.color_type);
    buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}
