#![no_main]
//! `memform stats` on arbitrary input (see `common::stats`).
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::stats(data);
});
