#pragma once

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>

// Helpers for the output tests: file contents, modes and directory trees as plain values.
namespace zcrecv::output::test_files {

/// The whole content of `path`.
inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw std::runtime_error("cannot read " + path.string());
  }
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Creates (or truncates) `path` with `content`.
inline void write_file(const std::filesystem::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
  if (!out) {
    throw std::runtime_error("cannot write " + path.string());
  }
}

/// Every entry below `root`, relative to it, without following symlinks.
inline std::set<std::string> tree(const std::filesystem::path& root) {
  std::set<std::string> entries;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(root)) {
    entries.insert(entry.path().lexically_relative(root).string());
  }
  return entries;
}

/// The permission bits of `path` (the link itself for a symlink).
inline mode_t mode_of(const std::filesystem::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0) {
    throw std::runtime_error("cannot stat " + path.string());
  }
  return info.st_mode & 07777;
}

}  // namespace zcrecv::output::test_files
