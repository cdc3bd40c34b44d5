#![no_main]
//! The capture header parser on arbitrary bytes.
use libfuzzer_sys::fuzz_target;
use memform::capture::cursor::Cursor;
use memform::capture::Header;

fuzz_target!(|data: &[u8]| {
    let mut c = Cursor::new(data);
    if Header::parse(&mut c).is_ok() {
        assert!(c.position() <= data.len());
    }
});
