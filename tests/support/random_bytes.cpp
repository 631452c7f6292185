#include "support/random_bytes.hpp"

#include <algorithm>
#include <cstring>

namespace zcrecv::test {

std::vector<std::byte> random_bytes(std::size_t size, std::uint64_t seed) {
  std::vector<std::byte> bytes(size);
  std::uint64_t state = seed;
  for (std::size_t at = 0; at < size; at += sizeof(std::uint64_t)) {
    // splitmix64: fast, and good enough that a misplaced or repeated block never compares equal.
    state += 0x9e3779b97f4a7c15ULL;
    std::uint64_t word = state;
    word = (word ^ (word >> 30)) * 0xbf58476d1ce4e5b9ULL;
    word = (word ^ (word >> 27)) * 0x94d049bb133111ebULL;
    word ^= word >> 31;
    std::memcpy(bytes.data() + at, &word, std::min(sizeof word, size - at));
  }
  return bytes;
}

}  // namespace zcrecv::test
