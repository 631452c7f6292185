#pragma once

// What every fuzz target needs besides the code under test: the input as text, and a check that
// stops the run with a readable reason when a property does not hold.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace zcrecv::fuzz {

/// The fuzzer's bytes as a string_view.
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

/// Aborts (libFuzzer then saves the input as a crash) when `holds` is false, after printing
/// which property failed and the two values it compared.
inline void check(bool holds, std::string_view property, std::string_view got = {},
                  std::string_view expected = {}) {
  if (holds) {
    return;
  }
  std::fprintf(stderr, "property failed: %.*s\n  got:      \"%.*s\"\n  expected: \"%.*s\"\n",
               static_cast<int>(property.size()), property.data(), static_cast<int>(got.size()),
               got.data(), static_cast<int>(expected.size()), expected.data());
  std::abort();
}

}  // namespace zcrecv::fuzz
