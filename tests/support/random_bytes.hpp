#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace zcrecv::test {

/// `size` pseudo-random bytes, the same for the same seed on every run (splitmix64).
std::vector<std::byte> random_bytes(std::size_t size, std::uint64_t seed);

}  // namespace zcrecv::test
