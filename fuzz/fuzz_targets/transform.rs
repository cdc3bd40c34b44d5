#![no_main]
//! The whole pipeline — every report mode, every format — on arbitrary input.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::transform(data);
});
