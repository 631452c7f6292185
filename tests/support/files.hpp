#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace zcrecv::test {

/// The whole content of a file; throws if it cannot be read.
std::vector<std::byte> read_file(const std::filesystem::path& path);

/// Writes `text` into `path`, created or truncated; throws if it cannot be written.
void write_text(const std::filesystem::path& path, const std::string& text);

/// The whole content of a text file; throws if it cannot be read.
std::string read_text(const std::filesystem::path& path);

/// The lines of `text`, each without its '\n'.
std::vector<std::string> lines_of(const std::string& text);

/// Regular files under `directory` (recursively), as paths relative to it, sorted.
std::vector<std::string> list_files(const std::filesystem::path& directory);

}  // namespace zcrecv::test
