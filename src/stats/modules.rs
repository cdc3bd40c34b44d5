//! Which module an allocating stack belongs to, as memray 1.20's statistics decide it
//! (`memray/reporters/module_tools.py`): the first frame from the leaf outwards that is not
//! in the standard library names it, by where its file lies: under a site-packages folder,
//! under a `sys.path` entry, or else by its file's name alone.

use std::path::{Component, Path, PathBuf};

use crate::stacks::Location;
use crate::stats::compute::Totals;

/// The module of stacks with no frame outside the standard library, and of memray's own.
pub const ROOT: &str = "<root>";

/// A module's allocations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleTotals {
    pub module: String,
    pub totals: Totals,
}

/// The folders of the traced interpreter that the capture's header records.
#[derive(Debug)]
pub struct ModuleResolver {
    stdlib: Option<PathBuf>,
    site_packages: Vec<PathBuf>,
    sys_path: Vec<PathBuf>,
}

/// What a file is to the resolver.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Stdlib,
    Other,
}

impl ModuleResolver {
    pub fn new(libdest: &str, site_packages: &[String], sys_path: &[String]) -> ModuleResolver {
        ModuleResolver {
            stdlib: (!libdest.is_empty()).then(|| normalize(libdest)),
            site_packages: site_packages.iter().map(|p| normalize(p)).collect(),
            sys_path: sys_path.iter().map(|p| normalize(p)).collect(),
        }
    }

    /// `get_module_for_stack`: `stack` leaf first.
    pub fn module_for_stack(&self, stack: &[Location]) -> String {
        stack
            .iter()
            .find_map(|frame| self.module_of_file(&frame.file))
            .unwrap_or_else(|| ROOT.to_string())
    }

    /// The module a frame in `file` gives its stack, or `None` for a file of the standard
    /// library, which the walk from the leaf passes over.
    pub fn module_of_file(&self, file: &str) -> Option<String> {
        let (name, kind) = self.module_and_kind(file);
        if kind == Kind::Stdlib {
            return None;
        }
        let top = name.split('.').next().unwrap_or("");
        Some(if top == "memray" { ROOT } else { top }.to_string())
    }

    /// `_extract_module_name_and_type_impl`.
    fn module_and_kind(&self, filename: &str) -> (String, Kind) {
        if filename.is_empty() {
            return ("unknown".to_string(), Kind::Other);
        }
        if let Some(rest) = filename.strip_prefix("<frozen ") {
            let mut name = rest.to_string();
            name.pop();
            return (name, Kind::Stdlib);
        }
        let path = normalize(filename);
        for base in &self.site_packages {
            if let Ok(rel) = path.strip_prefix(base) {
                return (path_to_module(rel), Kind::Other);
            }
        }
        if let Some(stdlib) = &self.stdlib {
            if path.strip_prefix(stdlib).is_ok() {
                return (String::new(), Kind::Stdlib);
            }
        }
        for base in &self.sys_path {
            if let Ok(rel) = path.strip_prefix(base) {
                return (path_to_module(rel), Kind::Other);
            }
        }
        let name = path.file_name().map(PathBuf::from).unwrap_or_default();
        (path_to_module(&name), Kind::Other)
    }
}

/// `pathlib.PurePosixPath(p)`: `//` and `/./` collapse, a trailing `/` goes; `..` stays.
fn normalize(p: &str) -> PathBuf {
    let path = Path::new(p);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// `_path_to_module`: a package's `__init__.py` names the package, `.py` is dropped, and the
/// parts are joined with dots.
fn path_to_module(p: &Path) -> String {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let p: PathBuf = if name == "__init__.py" {
        p.parent().map(Path::to_path_buf).unwrap_or_default()
    } else if p.extension().and_then(|e| e.to_str()) == Some("py")
        && p.file_stem().is_some_and(|s| !s.is_empty())
    {
        p.with_extension("")
    } else {
        p.to_path_buf()
    };
    let parts: Vec<String> = p
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(file: &str) -> Location {
        Location::new("f", file, 1)
    }

    #[test]
    fn modules_as_memray_names_them() {
        let r = ModuleResolver::new(
            "/usr/lib/python3.11",
            &["/venv/lib/python3.11/site-packages/".to_string()],
            &["/work/proj".to_string(), "/usr/lib/python3.11".to_string()],
        );
        let m = |files: &[&str]| {
            let stack: Vec<Location> = files.iter().map(|f| frame(f)).collect();
            r.module_for_stack(&stack)
        };
        assert_eq!(
            m(&["/venv/lib/python3.11/site-packages/pandas/core/frame.py"]),
            "pandas"
        );
        assert_eq!(
            m(&[
                "/usr/lib/python3.11/json/decoder.py",
                "/work/proj/app/main.py"
            ]),
            "app"
        );
        assert_eq!(
            m(&["<frozen importlib._bootstrap>", "/work/proj/tool.py"]),
            "tool"
        );
        assert_eq!(
            m(&["/venv/lib/python3.11/site-packages/memray/_memray.py"]),
            "<root>"
        );
        assert_eq!(m(&["/elsewhere/x/foo.py"]), "foo");
        assert_eq!(m(&["<string>"]), "<string>");
        assert_eq!(m(&[""]), "unknown");
        assert_eq!(m(&["/usr/lib/python3.11/runpy.py"]), "<root>");
        assert_eq!(m(&[]), "<root>");
        assert_eq!(m(&["/work/proj/pkg/__init__.py"]), "pkg");
    }
}
