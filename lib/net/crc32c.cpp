#include "net/crc32c.hpp"

#include <array>

namespace zcrecv::net {
namespace {

// 0x1EDC6F41 with its bits reversed: the CRC is computed least significant bit first.
constexpr std::uint32_t kPolynomial = 0x82F63B78;

// The CRC of each byte value, so that the loop below takes a byte per step instead of a bit.
constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < table.size(); ++byte) {
    std::uint32_t crc = byte;
    for (int bit = 0; bit < 8; ++bit) {
      crc = (crc & 1U) != 0 ? (crc >> 1) ^ kPolynomial : crc >> 1;
    }
    table[byte] = crc;
  }
  return table;
}

constexpr std::array<std::uint32_t, 256> kTable = make_table();

}  // namespace

std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc) noexcept {
  // The register starts as all ones and is inverted at the end; undoing the final inversion
  // first is what lets a result be continued.
  std::uint32_t state = ~crc;
  for (std::byte byte : bytes) {
    state = kTable[(state ^ std::to_integer<std::uint32_t>(byte)) & 0xffU] ^ (state >> 8);
  }
  return ~state;
}

}  // namespace zcrecv::net
