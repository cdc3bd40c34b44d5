#![no_main]
//! The AGGREGATED_ALLOCATIONS record decoder on arbitrary bytes after a valid header.
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut bytes = common::header(true);
    bytes.extend_from_slice(data);
    common::decode(&bytes);
});
