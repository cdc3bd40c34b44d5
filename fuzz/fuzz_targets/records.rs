#![no_main]
//! The ALL_ALLOCATIONS record decoder on arbitrary bytes after a valid header.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::header(false);
    bytes.extend_from_slice(data);
    common::decode(&bytes);
});
