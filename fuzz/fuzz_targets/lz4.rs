#![no_main]
//! LZ4 framing: arbitrary bytes after the LZ4 frame magic, read to the end.
use libfuzzer_sys::fuzz_target;
use memform::capture::CaptureFile;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let mut bytes = memform::capture::source::LZ4_MAGIC.to_vec();
    bytes.extend_from_slice(data);
    let path = common::scratch(&bytes);
    let Ok(capture) = CaptureFile::open(&path) else { return };
    let mut stream = capture.stream();
    loop {
        let n = stream.window().len();
        stream.consume(n);
        match stream.refill() {
            Ok(true) => continue,
            _ => break,
        }
    }
});
