//! C++ symbol demangling as memray's native resolver does it: names starting with `_Z` go
//! through `abi::__cxa_demangle`, anything else (and anything that fails to demangle) is
//! kept as it is.
//!
//! memray calls the `__cxa_demangle` of the libstdc++ its process loaded; its output
//! differs from other demanglers in many details (parenthesised template arguments,
//! `[clone .cold]` suffixes, ...), so memform loads the same function from the system's
//! `libstdc++.so.6` at run time. Where there is no libstdc++, `cpp_demangle` stands in.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::sync::OnceLock;

type CxaDemangle =
    unsafe extern "C" fn(*const c_char, *mut c_char, *mut usize, *mut c_int) -> *mut c_char;

fn cxa_demangle() -> Option<CxaDemangle> {
    static FUNCTION: OnceLock<Option<CxaDemangle>> = OnceLock::new();
    *FUNCTION.get_or_init(|| {
        // SAFETY: dlopen/dlsym with NUL-terminated names; the library handle is never
        // closed, so the function pointer stays valid for the life of the process.
        unsafe {
            for library in [c"libstdc++.so.6", c"libstdc++.so"] {
                let handle = libc::dlopen(library.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL);
                if handle.is_null() {
                    continue;
                }
                let symbol = libc::dlsym(handle, c"__cxa_demangle".as_ptr());
                if !symbol.is_null() {
                    return Some(std::mem::transmute::<*mut c_void, CxaDemangle>(symbol));
                }
            }
            None
        }
    })
}

fn demangle_with_libstdcxx(function: CxaDemangle, name: &str) -> Option<String> {
    let name = CString::new(name).ok()?;
    let mut status: c_int = 0;
    // SAFETY: `name` is NUL-terminated; a NULL buffer and length make __cxa_demangle
    // allocate the result with malloc, which we copy and free.
    unsafe {
        let out = function(
            name.as_ptr(),
            std::ptr::null_mut(),
            std::ptr::null_mut(),
            &mut status,
        );
        if out.is_null() {
            return None;
        }
        let text = CStr::from_ptr(out).to_string_lossy().into_owned();
        libc::free(out.cast());
        (status == 0).then_some(text)
    }
}

fn demangle_with_cpp_demangle(name: &str) -> Option<String> {
    let symbol = cpp_demangle::Symbol::new(name.as_bytes()).ok()?;
    symbol.demangle(&cpp_demangle::DemangleOptions::new()).ok()
}

/// memray's `demangle()`: `_Z...` names demangled, everything else unchanged.
pub fn demangle(name: &str) -> String {
    if !name.starts_with("_Z") {
        return name.to_string();
    }
    let demangled = match cxa_demangle() {
        Some(function) => demangle_with_libstdcxx(function, name),
        None => demangle_with_cpp_demangle(name),
    };
    demangled.unwrap_or_else(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_z_names_are_demangled() {
        assert_eq!(demangle("PyObject_Malloc"), "PyObject_Malloc");
        assert_eq!(demangle("Z_not_mangled"), "Z_not_mangled");
        assert_eq!(demangle(""), "");
        assert_eq!(
            demangle("_ZL18_umath_linalg_execP7_object"),
            "_umath_linalg_exec(_object*)"
        );
        assert_eq!(demangle("_Znwm"), "operator new(unsigned long)");
        // Not a valid mangling: kept as it is.
        assert_eq!(demangle("_Z"), "_Z");
        assert_eq!(demangle("_Zfoo.bar"), "_Zfoo.bar");
    }

    #[test]
    fn libstdcxx_spelling_when_available() {
        if cxa_demangle().is_none() {
            return;
        }
        // libstdc++ parenthesises function addresses in template arguments and keeps clone
        // suffixes.
        assert_eq!(demangle("_Z3fooIXadL_Z3barvEEEvv"), "void foo<&(bar())>()");
        assert_eq!(demangle("_Z3barv.cold"), "bar() [clone .cold]");
    }
}
