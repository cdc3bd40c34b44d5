//! The shell conventions of the command line: `--version`, `transform --help`'s line per
//! format, completion scripts (`memform completions SHELL`) and manual pages (`memform man
//! [COMMAND]`).

use memform::format::Format;

use crate::common::*;

#[test]
fn version_is_the_crate_version() {
    let o = memform(&["--version"]);
    assert!(o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!("memform {}\n", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn transform_help_lists_every_format_in_a_line() {
    let o = memform(&["transform", "--help"]);
    assert!(o.status.success());
    let help = String::from_utf8_lossy(&o.stdout);
    for format in Format::ALL {
        let line = format!("  {:<11} {}", format.name(), format.description());
        assert!(
            help.lines().any(|l| l.trim_end().ends_with(line.trim())),
            "{line:?} in\n{help}"
        );
    }
}

#[test]
fn completion_scripts() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let o = memform(&["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = String::from_utf8_lossy(&o.stdout);
        // Every command and option is in the script (fish writes `-l fail-above`).
        for word in [
            "transform",
            "stats",
            "diff",
            "fail-above",
            "leaks",
            "num-largest",
        ] {
            assert!(script.contains(word), "{shell}: {word}");
        }
    }
    // bash parses its script.
    let o = memform(&["completions", "bash"]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("memform.bash");
    std::fs::write(&path, &o.stdout).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let o = memform(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("invalid value 'tcsh'"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn manual_pages() {
    let o = memform(&["man"]);
    assert!(o.status.success());
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(page.contains(".TH memform 1"), "{page}");
    for command in ["transform", "stats", "diff"] {
        assert!(
            page.contains(&format!("memform\\-{command}")),
            "{command} listed"
        );
        let o = memform(&["man", command]);
        assert!(o.status.success(), "{command}");
        let page = String::from_utf8_lossy(&o.stdout);
        assert!(page.contains(&format!(".TH memform-{command} 1")), "{page}");
    }
    let o = memform(&["man", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr(&o),
        "memform: error: no command \"nope\": transform, stats, diff, completions, man\n"
    );
}
