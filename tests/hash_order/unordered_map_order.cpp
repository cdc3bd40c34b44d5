// The reference for memform's model of memray's hash-map order (src/analysis/hash_order.rs):
// a real std::unordered_map<uintptr_t, ...>, as memray's SnapshotAllocationAggregator keeps its
// live allocations (`d_ptr_to_allocation[address] = ...` on allocation, `erase` on free).
//
// stdin: operations of 9 bytes, a kind byte and a little-endian u64 address:
//   'A' assign (operator[]: a new key is linked, an existing one keeps its node),
//   'F' free (erase if present), 'D' dump (the address is ignored).
// stdout, for each dump: u64 key count, u64 bucket count, then the keys in iteration order.
// `unordered_map_order primes`: the bucket counts libstdc++'s _Prime_rehash_policy gives
// (_M_next_bkt from 14 up), one per line, for the model's table.
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <unordered_map>
#include <vector>

int main(int argc, char** argv) {
    if (argc > 1 && std::strcmp(argv[1], "primes") == 0) {
        std::__detail::_Prime_rehash_policy policy;
        std::size_t n = 14;
        for (;;) {
            std::size_t p = policy._M_next_bkt(n);
            std::printf("%zu\n", p);
            if (p == n - 1 || p < n) break;  // the last prime repeats
            n = p + 1;
        }
        return 0;
    }
    std::unordered_map<uintptr_t, uint64_t> map;
    std::vector<uint64_t> out;
    unsigned char op[9];
    uint64_t counter = 0;
    while (std::fread(op, 1, 9, stdin) == 9) {
        uint64_t address;
        std::memcpy(&address, op + 1, 8);
        switch (op[0]) {
            case 'A':
                map[address] = counter++;
                break;
            case 'F': {
                auto it = map.find(address);
                if (it != map.end()) map.erase(it);
                break;
            }
            case 'D': {
                out.clear();
                out.push_back(map.size());
                out.push_back(map.bucket_count());
                for (const auto& kv : map) out.push_back(kv.first);
                std::fwrite(out.data(), 8, out.size(), stdout);
                break;
            }
            default:
                std::fprintf(stderr, "unknown operation %d\n", op[0]);
                return 2;
        }
    }
    return 0;
}
