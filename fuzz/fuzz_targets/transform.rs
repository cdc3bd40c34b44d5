#![no_main]
//! The whole pipeline on arbitrary input: one report mode in one format per input, chosen
//! by its length, then the aggregate and events passes (see `common::transform`).
use libfuzzer_sys::fuzz_target;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    common::transform(data);
});
