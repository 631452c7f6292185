#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace zcrecv::net {

/// The CRC-32C (Castagnoli polynomial, the one iSCSI, ext4 and the PROXY protocol v2 use) of
/// `bytes`. Pass an earlier result as `crc` to continue it: crc32c(b, crc32c(a)) is the CRC of
/// a followed by b.
std::uint32_t crc32c(std::span<const std::byte> bytes, std::uint32_t crc = 0) noexcept;

}  // namespace zcrecv::net
