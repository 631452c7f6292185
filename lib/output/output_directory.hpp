#pragma once

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "output/partial_file.hpp"
#include "sys/result.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::output {

/// How a file ends: at a rotation boundary or clean end of stream, or cut short.
enum class Completion { kComplete, kIncomplete };

/// Durability of publish (docs/design.md §8.1).
enum class SyncMode {
  /// Leave the data to the page cache.
  kNone,
  /// fdatasync the file before the rename and fsync its directory after it.
  kPublish,
};

/// The output filesystem as fstatvfs(3) sees it.
struct FilesystemSpace {
  /// Bytes available to an unprivileged writer.
  std::uint64_t free_bytes = 0;
  /// The filesystem's size.
  std::uint64_t size_bytes = 0;
  /// Mounted read-only (ST_RDONLY): nothing can be written, whatever the free space.
  bool read_only = false;
};

/// A partial file left by an unclean stop and published by recover().
struct RecoveredFile {
  /// The published name, relative to the output directory ("a/x.bin.incomplete").
  std::string path;
  /// Its bytes, once the tail the disk never got is cut off.
  std::uint64_t size = 0;
  /// The bytes cut off: from the file's first hole (an unwritten extent after a power cut: the
  /// size reached the disk, the data did not) to its end.
  std::uint64_t cut = 0;
};

/// What recover() did: the files it published, and one error per thing it could not handle.
struct Recovery {
  std::vector<RecoveredFile> files;
  std::vector<sys::Error> errors;
};

/// The output directory: every file is created, published and recovered relative to its fd.
///
/// Nothing under it is ever overwritten (RENAME_NOREPLACE; a name that is taken gets ".1", ".2",
/// ... before its last extension: "x.bin" → "x.1.bin", "x.bin.incomplete" → "x.1.bin.incomplete"),
/// no symlink inside it is followed, and a
/// consumer that skips dot-files only ever sees complete files. Every method only reads the
/// root descriptor, so worker threads may share one OutputDirectory.
class OutputDirectory {
 public:
  /// Directories are created with this mode, exactly (whatever the umask).
  static constexpr mode_t kDirectoryMode = 0750;
  /// How many ".N" names publish tries after the plain name is taken.
  static constexpr unsigned kMaxNameCollisions = 1000;

  /// The `n`th numbered variant of a taken file name: "x.bin" → "x.1.bin", "x" → "x.1"; n = 0
  /// is `name` itself.
  static std::string numbered_name(std::string_view name, unsigned n);

  /// Opens `path`, creating it and its parents (kDirectoryMode) if missing. `path` itself may
  /// be a symlink (the operator's choice); nothing below it is followed.
  static sys::Result<OutputDirectory> open(const std::filesystem::path& path);

  /// Creates the partial file for `relative_name` ("a/b/NAME" → "a/b/.NAME.part", or
  /// ".NAME.1.part" ... if another writer holds that partial name), with exactly `file_mode`,
  /// creating missing directories on the way. A symlink or a non-directory where a directory
  /// should be is an error, never followed.
  sys::Result<PartialFile> create(
      std::string_view relative_name, mode_t file_mode,
      std::chrono::system_clock::time_point opened = std::chrono::system_clock::now());

  /// Renames `file` to its final name (kIncomplete: NAME.incomplete), never replacing a file,
  /// and returns the name it got, relative to the output directory. On failure the partial file
  /// stays on disk and `file` still owns it, and the error names it. A failed directory fsync
  /// after the rename is reported although the file is published (`file` is then closed).
  sys::Result<std::string> publish(PartialFile&& file, Completion completion, SyncMode sync);

  /// A file renamed to its final name, whose directory still needs an fsync for the name to be
  /// durable.
  struct Renamed {
    /// The name it got, relative to the output directory.
    std::string name;
    /// Its directory, relative to the output directory ("" for the root), for messages.
    std::string directory;
    std::shared_ptr<const sys::UniqueFd> directory_fd;
  };
  using SyncCall = std::function<sys::Result<void>(int fd)>;
  /// The sync step of publish(), before its rename, for the sync stage, which runs the steps
  /// apart: the file's bytes (`fdatasync`; `fsync` when it has_attributes()), then every
  /// directory between the output directory and the file's (`fsync`), whose entries may be new.
  static sys::Result<void> sync_before_rename(const PartialFile& file, const SyncCall& fdatasync,
                                              const SyncCall& fsync);
  /// The rename step of publish(), for the sync stage, which runs the steps apart: renames `file`
  /// to its final name (kIncomplete: NAME.incomplete), never replacing a file, and closes it. On
  /// failure `file` still owns the partial file, and the error names it.
  static sys::Result<Renamed> rename_into_place(PartialFile& file, Completion completion);
  /// The error of a failed directory fsync after `renamed`: the file is there, but its name may
  /// not survive a power cut.
  static sys::Error directory_sync_failed(const Renamed& renamed, sys::Error error);

  /// Removes an empty partial file (a connection that sent nothing, keep_empty = false). A file
  /// that holds bytes is refused and left alone.
  sys::Result<void> discard(PartialFile&& file);

  /// Measures the output filesystem now (one fstatvfs) and keeps what it found for
  /// last_space(); a failure forgets the last figures.
  sys::Result<FilesystemSpace> measure_space();
  /// What the last measure_space() found; std::nullopt before the first, or after one that
  /// failed. Any thread, without a system call: each figure is one relaxed atomic, so a reader
  /// racing a measure may mix two measures' figures, each of them exact.
  [[nodiscard]] std::optional<FilesystemSpace> last_space() const;
  /// Whether the directory at path() is still the one this object holds open; false once it
  /// was removed (and perhaps created again) or replaced, when files would go to a directory
  /// nobody can see.
  [[nodiscard]] bool is_current() const;

  /// Publishes every partial file in the tree (`.NAME.part`, regular files only) as
  /// NAME.incomplete, syncing each file and its directory. A file is cut at its first hole:
  /// after a power cut, the bytes past it were never written, and read as zeros. Symlinks are not followed. Call it at
  /// start, before any file is created: it cannot tell a crashed writer's file from a live one.
  /// `mark`, if given, is called with each partial file's descriptor before it is synced and
  /// renamed (a hand-off record for a file whose record never reached the disk).
  Recovery recover(const std::function<sys::Result<void>(int fd)>& mark = {});

  /// The path the directory was opened with.
  [[nodiscard]] const std::filesystem::path& path() const noexcept { return path_; }
  /// The directory's descriptor, for layers that find files in the tree again (hand-off).
  [[nodiscard]] int fd() const noexcept { return fd_->get(); }

 private:
  // The figures of the last measure_space(), apart so that the directory stays movable.
  struct MeasuredSpace {
    std::atomic<bool> known{false};
    std::atomic<std::uint64_t> free_bytes{0};
    std::atomic<std::uint64_t> size_bytes{0};
    std::atomic<bool> read_only{false};
  };

  OutputDirectory(std::filesystem::path path, sys::UniqueFd fd, std::optional<mode_t> umask)
      : path_(std::move(path)),
        fd_(std::make_shared<const sys::UniqueFd>(std::move(fd))),
        umask_(umask),
        space_(std::make_unique<MeasuredSpace>()) {}

  std::filesystem::path path_;
  /// Shared with the partial files in the root, which may outlive this object (a reload that
  /// changes the output directory leaves the streams in flight where they began).
  std::shared_ptr<const sys::UniqueFd> fd_;
  // The umask when the directory was opened (zcrecv never changes it): create() corrects a
  // file's mode with fchmod only when the umask took bits from it, or is unknown.
  std::optional<mode_t> umask_;
  std::unique_ptr<MeasuredSpace> space_;
};

}  // namespace zcrecv::output
