//! The `memform` binary: see [`memform::cli`].

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let code = memform::cli::main();
    write_peak_rss();
    std::process::exit(code);
}

/// Test hook: with `MEMFORM_PEAK_RSS_FILE` set, the process's own peak resident size (the
/// `VmHWM` line of /proc/self/status, e.g. `VmHWM: 20480 kB`) is written into that file
/// at exit. The tests' memory bounds need it: a child's `ru_maxrss` (wait4) also counts the
/// address space it was spawned from, the test process's, which a busy test run makes far
/// larger than memform's own.
fn write_peak_rss() {
    let Some(path) = std::env::var_os("MEMFORM_PEAK_RSS_FILE") else {
        return;
    };
    if let Ok(status) = std::fs::read_to_string("/proc/self/status") {
        if let Some(line) = status.lines().find(|l| l.starts_with("VmHWM:")) {
            let _ = std::fs::write(path, line);
        }
    }
}
