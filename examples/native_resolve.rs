//! Dev tool for the native symbol resolver (the `memform-symbolizer` crate).
//!
//! ```text
//! native_resolve dump <memray-parse-output>   < queries
//! native_resolve elf <path> <load-address> <ip>...
//! ```
//!
//! `dump` reads the output of `python -m memray parse <capture>` (memory maps and
//! NATIVE_FRAME_ID records), then for each `<native_stack_id> <generation>` line on stdin
//! prints the stack's frames as one JSON line `[[function, file, line], ...]`, innermost
//! first — what memray's `AllocationRecord.native_stack_trace()` returns.
//!
//! `elf` maps one ELF file at `load-address` (its PT_LOAD segments) and prints the frames of
//! each ip (hex), one JSON line each (`null` when nothing resolves).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use memform_symbolizer::{NativeFrame, SymbolResolver};

fn parse_hex(text: &str) -> Option<u64> {
    if text == "(nil)" {
        return Some(0);
    }
    u64::from_str_radix(text.trim_start_matches("0x"), 16).ok()
}

fn frames_json(frames: &[NativeFrame]) -> serde_json::Value {
    serde_json::Value::Array(
        frames
            .iter()
            .map(|f| serde_json::json!([f.function, f.file, f.line]))
            .collect(),
    )
}

/// The memory maps and native frames of a `memray parse` dump.
struct Dump {
    resolver: SymbolResolver,
    /// NATIVE_FRAME_ID records in order: (ip, parent id); id `i` is `frames[i - 1]`.
    frames: Vec<(u64, usize)>,
}

fn read_dump(path: &str) -> Result<Dump, String> {
    let file = std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?;
    let mut resolver = SymbolResolver::new();
    let mut frames = Vec::new();
    let mut generation = 0u64;
    let mut lines = std::io::BufReader::new(file).lines();
    while let Some(line) = lines.next() {
        let line = line.map_err(|e| format!("{path}: {e}"))?;
        if line == "MEMORY_MAP_START" {
            generation += 1;
        } else if let Some(rest) = line.strip_prefix("SEGMENT_HEADER filename=") {
            let bad = || format!("bad SEGMENT_HEADER line: {line}");
            let at = rest.rfind(" num_segments=").ok_or_else(bad)?;
            let filename = &rest[..at];
            let mut fields = rest[at + 1..].split(' ');
            let count: usize = fields
                .next()
                .and_then(|f| f.strip_prefix("num_segments="))
                .and_then(|f| f.parse().ok())
                .ok_or_else(bad)?;
            let address = fields
                .next()
                .and_then(|f| f.strip_prefix("addr="))
                .and_then(parse_hex)
                .ok_or_else(bad)?;
            let mut segments = Vec::with_capacity(count);
            for _ in 0..count {
                let segment = lines
                    .next()
                    .ok_or_else(bad)?
                    .map_err(|e| format!("{path}: {e}"))?;
                let mut parts = segment.split(' ');
                if parts.next() != Some("SEGMENT") {
                    return Err(format!("expected SEGMENT, got: {segment}"));
                }
                let vaddr = parts.next().and_then(parse_hex).ok_or_else(bad)?;
                let memsz = parts.next().and_then(parse_hex).ok_or_else(bad)?;
                segments.push((vaddr, memsz));
            }
            resolver.add_image(filename, address, &segments, generation);
        } else if let Some(rest) = line.strip_prefix("NATIVE_FRAME_ID ") {
            let bad = || format!("bad NATIVE_FRAME_ID line: {line}");
            let mut fields = rest.split(' ');
            let ip = fields
                .next()
                .and_then(|f| f.strip_prefix("ip="))
                .and_then(parse_hex)
                .ok_or_else(bad)?;
            let parent = fields
                .next()
                .and_then(|f| f.strip_prefix("index="))
                .and_then(|f| f.parse().ok())
                .ok_or_else(bad)?;
            frames.push((ip, parent));
        }
    }
    Ok(Dump { resolver, frames })
}

fn run_dump(path: &str) -> Result<(), String> {
    let mut dump = read_dump(path)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for query in std::io::stdin().lock().lines() {
        let query = query.map_err(|e| e.to_string())?;
        let mut fields = query.split_whitespace();
        let (Some(Ok(mut id)), Some(Ok(generation))) = (
            fields.next().map(str::parse::<usize>),
            fields.next().map(str::parse::<u64>),
        ) else {
            return Err(format!("bad query: {query}"));
        };
        let mut stack = Vec::new();
        let mut steps = 0;
        while id != 0 && steps <= dump.frames.len() {
            let Some(&(ip, parent)) = dump.frames.get(id - 1) else {
                return Err(format!("no native frame {id}"));
            };
            if let Some(frames) = dump.resolver.resolve(ip, generation) {
                stack.extend(frames.iter().cloned());
            }
            id = parent;
            steps += 1;
        }
        writeln!(out, "{}", frames_json(&stack)).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn run_elf(path: &str, load_address: &str, ips: &[String]) -> Result<(), String> {
    let data = std::fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    let segments = memform_symbolizer::load_segments(&data)
        .ok_or_else(|| format!("{path}: not an ELF file with program headers"))?;
    let load_address = parse_hex(load_address).ok_or("bad load address")?;
    let mut resolver = SymbolResolver::new();
    resolver.add_image(path, load_address, &segments, 1);
    for ip in ips {
        let ip = parse_hex(ip).ok_or_else(|| format!("bad ip {ip}"))?;
        match resolver.resolve(ip, 1) {
            Some(frames) => println!("{}", frames_json(&frames)),
            None => println!("null"),
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("dump") if args.len() == 3 => run_dump(&args[2]),
        Some("elf") if args.len() >= 4 => run_elf(&args[2], &args[3], &args[4..]),
        _ => Err(
            "usage: native_resolve dump <memray-parse-output> < queries\n       \
                  native_resolve elf <path> <load-address> <ip>..."
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("native_resolve: {message}");
            ExitCode::FAILURE
        }
    }
}
