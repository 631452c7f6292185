#include "output/output_directory.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>

#include "sys/directory.hpp"
#include "sys/syscalls.hpp"
#include "sys/umask.hpp"

namespace zcrecv::output {
namespace {

constexpr std::string_view kPartialSuffix = ".part";
constexpr std::string_view kIncompleteSuffix = ".incomplete";

std::string join(const std::string& directory, const std::string& name) {
  return directory.empty() ? name : directory + "/" + name;
}

std::string in_quotes(const std::string& text) { return "\"" + text + "\""; }

// A directory relative to the output directory, for messages: the root itself shows as ".".
std::string in_quotes_directory(const std::string& directory) {
  return in_quotes(directory.empty() ? "." : directory);
}

sys::Result<sys::UniqueFd> open_directory(int dir_fd, const char* name, int extra_flags) {
  return sys::openat(dir_fd, name, O_DIRECTORY | O_RDONLY | O_CLOEXEC | extra_flags);
}

// Opens directory `name` under `dir_fd`, creating it if missing (then `*created` is set, if
// given). `extra_flags` is O_NOFOLLOW inside the output tree: a symlink planted there fails
// (ENOTDIR) instead of leading out.
sys::Result<sys::UniqueFd> open_or_create_directory(int dir_fd, const char* name, int extra_flags,
                                                    bool* created = nullptr) {
  auto opened = open_directory(dir_fd, name, extra_flags);
  if (opened || opened.error().errno_value() != ENOENT) {
    return opened;
  }
  auto made = sys::mkdirat(dir_fd, name, OutputDirectory::kDirectoryMode);
  // EEXIST: another connection created it between our open and mkdir; use theirs.
  if (!made && made.error().errno_value() != EEXIST) {
    return std::move(made).error();
  }
  opened = open_directory(dir_fd, name, extra_flags);
  if (opened && made && created != nullptr) {
    *created = true;
  }
  // Only a directory made here is chmod'ed: one that already existed keeps the mode its owner gave
  // it.
  if (opened && made) {
    // mkdirat applied the umask; the spec promises 0750.
    if (auto chmod = sys::fchmod(opened->get(), OutputDirectory::kDirectoryMode); !chmod) {
      return std::move(chmod).error();
    }
  }
  return opened;
}

}  // namespace

std::string OutputDirectory::numbered_name(std::string_view name, unsigned n) {
  if (n == 0) {
    return std::string(name);
  }
  // The number goes before the last extension, so that a glob like *.bin still matches. A dot
  // that starts or ends the name is no extension ("x." and ".x" get the number at the end).
  std::size_t dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == name.size()) {
    dot = name.size();
  }
  return std::string(name.substr(0, dot)) + "." + std::to_string(n) + std::string(name.substr(dot));
}

namespace {

// Renames `from` to `stem + suffix` in `dir_fd`, or to numbered_name(stem, 1) + suffix, ...
// when that name is taken; never replaces a file. Returns the name it got.
sys::Result<std::string> rename_no_replace(int dir_fd, const std::string& from,
                                           const std::string& stem, std::string_view suffix) {
  for (unsigned n = 0; n <= OutputDirectory::kMaxNameCollisions; ++n) {
    std::string to = OutputDirectory::numbered_name(stem, n);
    to += suffix;
    auto renamed = sys::renameat2(dir_fd, from.c_str(), dir_fd, to.c_str(), RENAME_NOREPLACE);
    if (renamed) {
      return to;
    }
    switch (renamed.error().errno_value()) {
      case EEXIST:
        // A user template that collides: try the next suffix.
        continue;
      case EINVAL: {
        // The filesystem has no RENAME_NOREPLACE (NFS, some FUSE): link(2) refuses to replace
        // too, and the unlink then drops the partial name.
        auto linked = sys::linkat(dir_fd, from.c_str(), dir_fd, to.c_str(), 0);
        if (!linked && linked.error().errno_value() == EEXIST) {
          continue;
        }
        if (!linked) {
          return std::move(linked).error();
        }
        if (auto unlinked = sys::unlinkat(dir_fd, from.c_str(), 0); !unlinked) {
          return std::move(unlinked).error().with_context("published " + in_quotes(to) +
                                                          " but the partial name remains");
        }
        return to;
      }
      default:
        return std::move(renamed).error();
    }
  }
  return sys::Error::from_errno(EEXIST, "renameat2 (" + stem + std::string(suffix) + " and " +
                                            std::to_string(OutputDirectory::kMaxNameCollisions) +
                                            " numbered names taken)");
}

bool is_partial_name(std::string_view name) {
  // ".X.part" with a non-empty X.
  return name.size() > 1 + kPartialSuffix.size() && name.front() == '.' &&
         name.substr(name.size() - kPartialSuffix.size()) == kPartialSuffix;
}

struct DirectoryEntry {
  std::string name;
  unsigned char type;
};

sys::Result<std::vector<DirectoryEntry>> read_entries(int dir_fd) {
  std::vector<DirectoryEntry> entries;
  auto read = sys::for_each_entry(dir_fd, [&entries](std::string_view name, unsigned char type) {
    entries.push_back(DirectoryEntry{std::string(name), type});
    return true;
  });
  if (!read) {
    return std::move(read).error();
  }
  // Sorted, so that recovery logs and handles files in a stable order.
  std::sort(entries.begin(), entries.end(),
            [](const DirectoryEntry& a, const DirectoryEntry& b) { return a.name < b.name; });
  return entries;
}

using Mark = std::function<sys::Result<void>(int fd)>;

sys::Result<RecoveredFile> recover_file(int dir_fd, const std::string& directory,
                                        const std::string& partial_name, const Mark& mark) {
  auto file = sys::openat(dir_fd, partial_name.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
  if (!file && file.error().errno_value() == EACCES) {
    // A file_mode without the owner's write bit: it can still be synced and published, if it
    // needs no cut (ftruncate then fails, and the error names the file).
    file = sys::openat(dir_fd, partial_name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  }
  if (!file) {
    return std::move(file).error();
  }
  auto info = sys::fstat(file->get());
  if (!info) {
    return std::move(info).error();
  }
  const auto size = static_cast<std::uint64_t>(info->st_size);
  std::uint64_t kept = size;
  if (size > 0) {
    // After a power cut the file's size and its blocks (unwritten extents: preallocated, or
    // allocated at writeback) can be on disk while its bytes are not: they read as zeros the
    // client never sent. SEEK_HOLE finds the first such byte, an unwritten extent being a hole
    // to it, unless a page of it is in the page cache: then it is data. So: first the bytes a
    // killed process left in the cache go to disk (writeback ends once their extents are
    // written), then every clean page is dropped — one that anything read after the power cut
    // holds zeros.
    if (auto synced = sys::fdatasync(file->get()); !synced) {
      return std::move(synced).error();
    }
    if (auto dropped = sys::fadvise(file->get(), 0, 0, POSIX_FADV_DONTNEED); !dropped) {
      return std::move(dropped).error();
    }
    auto hole = sys::lseek(file->get(), 0, SEEK_HOLE);
    if (!hole) {
      return std::move(hole).error();
    }
    // With no hole before the end, SEEK_HOLE returns the size: lseek(2) counts an implicit hole at
    // the end of every file.
    kept = std::min(size, static_cast<std::uint64_t>(*hole));
    if (kept < size) {
      if (auto cut = sys::ftruncate(file->get(), static_cast<off_t>(kept)); !cut) {
        return std::move(cut).error();
      }
    }
  }
  if (mark) {
    // The pending record goes on a file recovery publishes, as on a new one, so that it is handed
    // off too; the fsync below makes the cut and the record durable together.
    if (auto marked = mark(file->get()); !marked) {
      return std::move(marked).error();
    }
  }
  // The bytes may still be only in the page cache (kill -9); make them, the cut and the mark
  // durable before the name says the file is final.
  if (auto synced = sys::fsync(file->get()); !synced) {
    return std::move(synced).error();
  }
  std::string stem = partial_name.substr(1, partial_name.size() - 1 - kPartialSuffix.size());
  auto renamed = rename_no_replace(dir_fd, partial_name, stem, kIncompleteSuffix);
  if (!renamed) {
    return std::move(renamed).error();
  }
  return RecoveredFile{join(directory, *renamed), kept, size - kept};
}

void recover_directory(int dir_fd, const std::string& directory, Recovery& recovery,
                       const Mark& mark) {
  auto entries = read_entries(dir_fd);
  if (!entries) {
    recovery.errors.push_back(std::move(entries).error().with_context(
        "recovery: directory " + in_quotes_directory(directory)));
    return;
  }
  bool renamed_any = false;
  for (const DirectoryEntry& entry : *entries) {
    std::string path = join(directory, entry.name);
    unsigned char type = entry.type;
    if (type == DT_UNKNOWN) {
      // Some filesystems (XFS without ftype, some FUSE) do not fill d_type.
      auto info = sys::fstatat(dir_fd, entry.name.c_str(), AT_SYMLINK_NOFOLLOW);
      if (!info) {
        recovery.errors.push_back(
            std::move(info).error().with_context("recovery: " + in_quotes(path)));
        continue;
      }
      type = S_ISDIR(info->st_mode) ? DT_DIR : S_ISREG(info->st_mode) ? DT_REG : DT_UNKNOWN;
    }
    if (type == DT_DIR) {
      auto child = open_directory(dir_fd, entry.name.c_str(), O_NOFOLLOW);
      if (!child) {
        recovery.errors.push_back(
            std::move(child).error().with_context("recovery: directory " + in_quotes(path)));
        continue;
      }
      recover_directory(child->get(), path, recovery, mark);
    } else if (type == DT_REG && is_partial_name(entry.name)) {
      auto recovered = recover_file(dir_fd, directory, entry.name, mark);
      if (!recovered) {
        recovery.errors.push_back(
            std::move(recovered).error().with_context("recovery: " + in_quotes(path)));
        continue;
      }
      recovery.files.push_back(std::move(*recovered));
      renamed_any = true;
    }
  }
  // One fsync per directory, after all its renames, as on the sync stage: it makes every new
  // .incomplete name of the directory durable at once.
  if (renamed_any) {
    if (auto synced = sys::fsync(dir_fd); !synced) {
      recovery.errors.push_back(std::move(synced).error().with_context(
          "recovery: directory " + in_quotes_directory(directory)));
    }
  }
}

}  // namespace

sys::Result<OutputDirectory> OutputDirectory::open(const std::filesystem::path& path) {
  if (path.empty()) {
    return sys::Error::invalid("output directory \"\": must not be empty");
  }
  auto opened = open_directory(AT_FDCWD, path.c_str(), 0);
  if (!opened && opened.error().errno_value() == ENOENT) {
    // Create the missing directories one by one, like mkdir -p, and make each new entry durable
    // in its parent: a published file's name is durable only if its directory is reachable.
    std::filesystem::path prefix;
    for (const std::filesystem::path& component : path) {
      const std::filesystem::path parent = prefix.empty() ? std::filesystem::path(".") : prefix;
      prefix /= component;
      bool created = false;
      // No O_NOFOLLOW here: the path is the operator's own configuration, and a symlink on it (to
      // another disk, say) is theirs to make. O_NOFOLLOW applies inside the output tree only.
      opened = open_or_create_directory(AT_FDCWD, prefix.c_str(), 0, &created);
      if (!opened) {
        return std::move(opened).error().with_context("output directory " +
                                                      in_quotes(prefix.string()));
      }
      if (created) {
        auto parent_fd = open_directory(AT_FDCWD, parent.c_str(), 0);
        sys::Result<void> synced = parent_fd ? sys::fsync(parent_fd->get())
                                             : sys::Result<void>(std::move(parent_fd).error());
        if (!synced) {
          return std::move(synced).error().with_context("output directory " +
                                                        in_quotes(parent.string()));
        }
      }
    }
  }
  if (!opened) {
    return std::move(opened).error().with_context("output directory " + in_quotes(path.string()));
  }
  return OutputDirectory(path, std::move(*opened), sys::process_umask());
}

sys::Result<PartialFile> OutputDirectory::create(std::string_view relative_name, mode_t file_mode,
                                                 std::chrono::system_clock::time_point opened) {
  std::string context = "output file " + in_quotes(std::string(relative_name));
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    std::size_t slash = relative_name.find('/', start);
    parts.emplace_back(relative_name.substr(start, slash - start));
    if (slash == std::string_view::npos) {
      break;
    }
    start = slash + 1;
  }
  for (const std::string& part : parts) {
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos) {
      return sys::Error::invalid(context + ": not a plain relative name");
    }
  }

  std::shared_ptr<const sys::UniqueFd> directory_fd = fd_;
  std::string directory;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    directory = join(directory, parts[i]);
    auto child = open_or_create_directory(directory_fd->get(), parts[i].c_str(), O_NOFOLLOW);
    if (!child) {
      // O_NOFOLLOW|O_DIRECTORY on a symlink fails with ENOTDIR (ELOOP without O_DIRECTORY);
      // say what is really there.
      auto info = sys::fstatat(directory_fd->get(), parts[i].c_str(), AT_SYMLINK_NOFOLLOW);
      if (info && S_ISLNK(info->st_mode)) {
        return sys::Error::invalid(context + ": directory " + in_quotes(directory) +
                                   " is a symbolic link, which is never followed");
      }
      return std::move(child).error().with_context(context + ": directory " + in_quotes(directory));
    }
    directory_fd = std::make_shared<const sys::UniqueFd>(std::move(*child));
  }

  const std::string& basename = parts.back();
  for (unsigned n = 0; n <= kMaxNameCollisions; ++n) {
    std::string partial = "." + basename;
    if (n > 0) {
      partial += "." + std::to_string(n);
    }
    partial += kPartialSuffix;
    // O_CREAT | O_EXCL never opens an existing file, and it does not follow a symlink in the last
    // component either (open(2)): whatever is planted under a partial name, no byte goes into it.
    auto file = sys::openat(directory_fd->get(), partial.c_str(),
                            O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, file_mode);
    if (!file && file.error().errno_value() == EEXIST) {
      // Another connection writes to the same name right now (a template without {conn}).
      continue;
    }
    if (!file) {
      return std::move(file).error().with_context(context + ": " +
                                                  in_quotes(join(directory, partial)));
    }
    // openat applied the umask; file_mode is what the operator asked for.
    // When the umask is known and takes none of file_mode's bits, the fchmod is skipped: one system
    // call less per file. When it is unknown (no Umask in /proc), the fchmod is always made.
    const bool masked = !umask_ || (file_mode & *umask_) != 0;
    if (auto chmod = masked ? sys::fchmod(file->get(), file_mode) : sys::Result<void>();
        !chmod) {
      // An empty file with the wrong mode is removed rather than kept: no byte went into it yet.
      (void)sys::unlinkat(directory_fd->get(), partial.c_str(), 0);
      return std::move(chmod).error().with_context(context + ": " +
                                                   in_quotes(join(directory, partial)));
    }
    return PartialFile(fd_, std::move(directory_fd), std::move(*file), directory, basename, partial,
                       opened);
  }
  return sys::Error::from_errno(
      EEXIST,
      context + ": openat (" + std::to_string(kMaxNameCollisions + 1) + " partial names taken)");
}

sys::Result<std::string> OutputDirectory::publish(PartialFile&& file, Completion completion,
                                                  SyncMode sync) {
  if (!file.is_open()) {
    return sys::Error::invalid("output file " + in_quotes(file.name()) +
                               ": already published or discarded");
  }
  if (sync == SyncMode::kPublish) {
    if (auto synced = sync_before_rename(file, sys::fdatasync, sys::fsync); !synced) {
      return std::move(synced).error();
    }
  }
  // This order is what a power cut needs: data, then name, then directory. A rename made durable
  // before the data could leave a final name over bytes that never reached the disk.
  auto renamed = rename_into_place(file, completion);
  if (!renamed) {
    return std::move(renamed).error();
  }
  if (sync == SyncMode::kPublish) {
    // The rename is durable only once the directory is: without this a power cut can bring
    // back the partial name.
    if (auto synced = sys::fsync(renamed->directory_fd->get()); !synced) {
      return directory_sync_failed(*renamed, std::move(synced).error());
    }
  }
  return std::move(renamed->name);
}

sys::Result<void> OutputDirectory::sync_before_rename(const PartialFile& file,
                                                     const SyncCall& fdatasync,
                                                     const SyncCall& fsync) {
  // The bytes, before the name says the file is final. A file with a hand-off record gets fsync:
  // fdatasync need not write an extended attribute (XFS leaves an empty file's out), and a file
  // published without its record would never be handed off after a power cut.
  auto synced = file.has_attributes() ? fsync(file.fd()) : fdatasync(file.fd());
  if (!synced) {
    return std::move(synced).error().with_context("output file " + in_quotes(file.partial_path()));
  }
  // The entries of the directories between the output directory and the file's, each made
  // perhaps for this file (or for another stream's a moment ago): without them the published
  // name is durable in a directory that a power cut unlinks. Most are clean, and their fsync
  // then writes nothing.
  if (file.directory_.empty()) {
    return {};
  }
  std::shared_ptr<const sys::UniqueFd> parent = file.root_fd_;
  std::size_t start = 0;
  for (;;) {
    if (auto parent_synced = fsync(parent->get()); !parent_synced) {
      return std::move(parent_synced).error().with_context(
          "output file " + in_quotes(file.partial_path()) + ": the directory above it");
    }
    const std::size_t slash = file.directory_.find('/', start);
    if (slash == std::string::npos) {
      return {};
    }
    const std::string component = file.directory_.substr(start, slash - start);
    auto child = open_directory(parent->get(), component.c_str(), O_NOFOLLOW);
    if (!child) {
      return std::move(child).error().with_context(
          "output file " + in_quotes(file.partial_path()) + ": directory " +
          in_quotes(file.directory_.substr(0, slash)));
    }
    parent = std::make_shared<const sys::UniqueFd>(std::move(*child));
    start = slash + 1;
  }
}

sys::Result<OutputDirectory::Renamed> OutputDirectory::rename_into_place(PartialFile& file,
                                                                         Completion completion) {
  auto renamed = rename_no_replace(file.directory_fd_->get(), file.partial_basename_, file.basename_,
                                   completion == Completion::kIncomplete ? kIncompleteSuffix : "");
  if (!renamed) {
    return std::move(renamed).error().with_context("output file " +
                                                   in_quotes(file.partial_path()));
  }
  file.file_.reset();
  return Renamed{join(file.directory_, *renamed), file.directory_,
                 std::move(file.directory_fd_)};
}

sys::Error OutputDirectory::directory_sync_failed(const Renamed& renamed, sys::Error error) {
  return std::move(error).with_context("published " + in_quotes(renamed.name) +
                                       " but its directory " +
                                       in_quotes_directory(renamed.directory));
}

sys::Result<void> OutputDirectory::discard(PartialFile&& file) {
  if (!file.is_open()) {
    return sys::Error::invalid("output file " + in_quotes(file.name()) +
                               ": already published or discarded");
  }
  std::string context = "output file " + in_quotes(file.partial_path());
  auto info = sys::fstat(file.fd());
  if (!info) {
    return std::move(info).error().with_context(context);
  }
  // A safety net: discard is meant for files that took no byte, and refusing here means a logic
  // error can never unlink received data.
  if (info->st_size != 0) {
    return sys::Error::invalid(context + ": not discarded, it holds " +
                               std::to_string(info->st_size) + " bytes");
  }
  if (auto unlinked = sys::unlinkat(file.directory_fd_->get(), file.partial_basename_.c_str(), 0);
      !unlinked) {
    return std::move(unlinked).error().with_context(context);
  }
  file.file_.reset();
  file.directory_fd_.reset();
  return {};
}

bool OutputDirectory::is_current() const {
  auto held = sys::fstat(fd_->get());
  // Compared by device and inode: the configured path may now name another directory (moved,
  // replaced, a filesystem mounted over it), and then the descriptor held is no longer current.
  auto named = sys::fstatat(AT_FDCWD, path_.c_str(), 0);
  return held && named && held->st_dev == named->st_dev && held->st_ino == named->st_ino;
}

sys::Result<FilesystemSpace> OutputDirectory::measure_space() {
  auto info = sys::fstatvfs(fd_->get());
  if (!info) {
    space_->known.store(false, std::memory_order_relaxed);
    return std::move(info).error().with_context("output directory " + in_quotes(path_.string()));
  }
  const FilesystemSpace space{
      // f_bavail, not f_bfree: the blocks the filesystem keeps for root (5 % by default on ext4) do
      // not count, so the free-space floor means the same whichever user the daemon runs as. Both
      // counts are in units of f_frsize (statvfs(3)).
      static_cast<std::uint64_t>(info->f_bavail) * info->f_frsize,
      static_cast<std::uint64_t>(info->f_blocks) * info->f_frsize,
      (info->f_flag & ST_RDONLY) != 0,
  };
  // Relaxed: each value is read on its own by the metrics and the health check, which tolerate a
  // mix of two measurements (docs/design.md §6: each counter exact, a set of them approximate).
  space_->free_bytes.store(space.free_bytes, std::memory_order_relaxed);
  space_->size_bytes.store(space.size_bytes, std::memory_order_relaxed);
  space_->read_only.store(space.read_only, std::memory_order_relaxed);
  space_->known.store(true, std::memory_order_relaxed);
  return space;
}

std::optional<FilesystemSpace> OutputDirectory::last_space() const {
  if (!space_->known.load(std::memory_order_relaxed)) {
    return std::nullopt;
  }
  return FilesystemSpace{space_->free_bytes.load(std::memory_order_relaxed),
                         space_->size_bytes.load(std::memory_order_relaxed),
                         space_->read_only.load(std::memory_order_relaxed)};
}

Recovery OutputDirectory::recover(const std::function<sys::Result<void>(int fd)>& mark) {
  Recovery recovery;
  // A descriptor of its own: reading the entries moves the descriptor's offset.
  auto root = open_directory(fd_->get(), ".", 0);
  if (!root) {
    recovery.errors.push_back(std::move(root).error().with_context("recovery: output directory " +
                                                                   in_quotes(path_.string())));
    return recovery;
  }
  recover_directory(root->get(), "", recovery, mark);
  return recovery;
}

}  // namespace zcrecv::output
