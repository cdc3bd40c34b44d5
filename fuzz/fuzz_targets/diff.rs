#![no_main]
//! `memform diff` on arbitrary input: the capture against itself (see `common::diff`).
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::diff(data);
});
