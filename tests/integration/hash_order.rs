//! memform's model of memray's hash-map order (the live table, laid out as memray's map) against a real
//! `std::unordered_map<uintptr_t, …>`: `tests/hash_order/unordered_map_order.cpp`, built with
//! the machine's `g++` and linked against the libstdc++ that memray's wheels load, runs
//! millions of random inserts and erases of allocator-shaped addresses through many
//! rehashes; the model must give the same iteration order at every checkpoint.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use memform::analysis::live_table::{Live, LiveTable};

/// Builds the reference program into `dir`.
fn build_reference(dir: &std::path::Path) -> std::path::PathBuf {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hash_order/unordered_map_order.cpp");
    let binary = dir.join("unordered_map_order");
    let status = Command::new("g++")
        .args(["-O2", "-std=c++17", "-o"])
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("g++ runs (scripts/test.sh installs it)");
    assert!(status.success(), "g++ failed on {}", source.display());
    binary
}

/// The model driven as the heap tracker drives it: the live table.
#[derive(Default)]
struct Model {
    table: LiveTable,
    relinks: usize,
}

impl Model {
    fn assign(&mut self, address: u64) {
        let buckets = self.table.bucket_count();
        let live = Live {
            seq: 0,
            size: 1,
            site: 0,
            position: 0,
        };
        self.table.insert(address, live);
        self.relinks += usize::from(self.table.bucket_count() != buckets);
    }

    fn free(&mut self, address: u64) {
        self.table.remove(address);
    }

    /// `[count, bucket count, keys in iteration order…]`, as the reference dumps.
    fn dump(&self) -> Vec<u64> {
        let mut nodes: Vec<(u64, u64)> =
            self.table.entries().map(|(a, l)| (l.position, a)).collect();
        nodes.sort_unstable_by(|a, b| b.cmp(a));
        let mut out = vec![nodes.len() as u64, self.table.bucket_count()];
        out.extend(nodes.into_iter().map(|(_, a)| a));
        out
    }
}

/// A xorshift stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// An address as allocators hand them out: 16-byte aligned in a few arenas (small objects
/// packed in pools, a heap growing upwards, page-aligned large blocks).
fn address(rng: &mut Rng, span: u64) -> u64 {
    let r = rng.next();
    match r % 4 {
        0 => 0x7f3a_2c00_0000 + (r >> 8) % span * 16,
        1 => 0x5583_9e40_0000 + (r >> 8) % (span * 4) * 16,
        2 => 0x7f3a_4000_0000 + (r >> 8) % (span / 8 + 1) * 4096,
        _ => 0x0000_7ffd_1000 + (r >> 8) % span * 32,
    }
}

/// FNV-1a over the words of one dump.
fn digest(words: impl Iterator<Item = u64>) -> u64 {
    words.fold(0xcbf2_9ce4_8422_2325, |h, w| {
        (h ^ w).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[test]
fn the_model_iterates_as_std_unordered_map() {
    let dir = tempfile::tempdir().expect("temp dir");
    let reference = build_reference(dir.path());
    let ops_path = dir.path().join("ops.bin");
    let mut ops = std::io::BufWriter::new(std::fs::File::create(&ops_path).expect("ops file"));
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let mut model = Model::default();
    // Each dump as (key count, bucket count, digest of the keys in order): the test process
    // keeps no more than that, as other tests measure the memory of the processes it forks.
    let mut expected: Vec<(u64, u64, u64)> = Vec::new();
    let mut op = |kind: u8, address: u64| {
        ops.write_all(&[kind]).expect("ops written");
        ops.write_all(&address.to_le_bytes()).expect("ops written");
    };
    // Phases: growth through many rehashes, churn at a steady size (assignments to live
    // keys, frees of unknown ones), a shrink and regrowth (the table never shrinks), and a
    // small map that grows from empty again.
    let phases: [(u64, u64, u64); 5] = [
        // (operations, address span, per-mille frees)
        (1_200_000, 200_000, 300),
        (1_500_000, 200_000, 500),
        (600_000, 200_000, 800),
        (800_000, 400_000, 350),
        (400_000, 3_000, 500),
    ];
    let mut total = 0;
    let mut dump = |op: &mut dyn FnMut(u8, u64), model: &Model| {
        op(b'D', 0);
        let d = model.dump();
        expected.push((d[0], d[1], digest(d[2..].iter().copied())));
    };
    for (n, span, frees) in phases {
        for i in 0..n {
            let a = address(&mut rng, span);
            if rng.next() % 1000 < frees {
                op(b'F', a);
                model.free(a);
            } else {
                op(b'A', a);
                model.assign(a);
            }
            if i % 97_001 == 0 {
                dump(&mut op, &model);
            }
        }
        dump(&mut op, &model);
        total += n;
    }
    ops.flush().expect("ops written");
    drop(ops);
    assert!(total >= 4_000_000);
    assert!(model.relinks >= 14, "{} rehashes", model.relinks);

    let mut child = Command::new(&reference)
        .stdin(std::fs::File::open(&ops_path).expect("ops file"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("the reference runs");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut word = || {
        let mut b = [0u8; 8];
        out.read_exact(&mut b).ok().map(|()| u64::from_le_bytes(b))
    };
    for (i, &(count, buckets, keys)) in expected.iter().enumerate() {
        let got_count = word().expect("a dump");
        let got_buckets = word().expect("a dump");
        let got_keys = digest((0..got_count).map(|_| word().expect("a key")));
        assert_eq!(
            (got_count, got_buckets),
            (count, buckets),
            "dump {i}: keys and buckets (std::unordered_map, then the model)"
        );
        assert_eq!(got_keys, keys, "dump {i}: {count} keys in another order");
    }
    assert_eq!(word(), None, "the reference dumped more");
    assert!(child.wait().expect("the reference ends").success());
    assert!(expected.len() > 40, "{} dumps", expected.len());
}
