#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace zcrecv::test {

/// The whole content of a file; throws if it cannot be read.
std::vector<std::byte> read_file(const std::filesystem::path& path);

/// Regular files under `directory` (recursively), as paths relative to it, sorted.
std::vector<std::string> list_files(const std::filesystem::path& directory);

}  // namespace zcrecv::test
