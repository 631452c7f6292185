#include "output/output_directory.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "output/test_files.hpp"
#include "support/error_text.hpp"
#include "support/skip.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::output {
namespace {

namespace fs = std::filesystem;
using test_files::mode_of;
using test_files::read_file;
using test_files::tree;
using test_files::write_file;

OutputDirectory open_directory(const fs::path& path) {
  auto opened = OutputDirectory::open(path);
  REQUIRE_MESSAGE(opened.ok(), test::error_text(opened));
  return std::move(*opened);
}

PartialFile create(OutputDirectory& directory, std::string_view name, mode_t mode = 0640) {
  auto created = directory.create(name, mode);
  REQUIRE_MESSAGE(created.ok(), test::error_text(created));
  return std::move(*created);
}

void write_all(PartialFile& file, const std::string& data) {
  REQUIRE(::write(file.fd(), data.data(), data.size()) == static_cast<ssize_t>(data.size()));
  file.add_written(data.size());
}

std::string publish(OutputDirectory& directory, PartialFile& file,
                    Completion completion = Completion::kComplete,
                    SyncMode sync = SyncMode::kPublish) {
  auto published = directory.publish(std::move(file), completion, sync);
  REQUIRE_MESSAGE(published.ok(), test::error_text(published));
  return *published;
}

// umask is per process; the tests run one at a time, and this restores it.
class ScopedUmask {
 public:
  explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
  ScopedUmask(const ScopedUmask&) = delete;
  ScopedUmask& operator=(const ScopedUmask&) = delete;
  ~ScopedUmask() { ::umask(previous_); }

 private:
  mode_t previous_;
};

TEST_CASE("open creates the output directory and its parents with mode 0750") {
  test::TempDir temp;
  ScopedUmask umask(0077);
  OutputDirectory directory = open_directory(temp / "a/b/out");
  CHECK(directory.path() == temp / "a/b/out");
  CHECK(mode_of(temp / "a") == 0750);
  CHECK(mode_of(temp / "a/b/out") == 0750);
  // An existing directory is used as it is.
  fs::permissions(temp / "a/b/out", fs::perms(0700));
  open_directory(temp / "a/b/out");
  CHECK(mode_of(temp / "a/b/out") == 0700);
}

TEST_CASE("open names the directory it could not open") {
  test::TempDir temp;
  write_file(temp / "file", "x");
  auto opened = OutputDirectory::open(temp / "file");
  REQUIRE_FALSE(opened.ok());
  CHECK(opened.error().message() ==
        "output directory \"" + (temp / "file").string() + "\": openat: Not a directory");
}

TEST_CASE("until publish only the dot-file exists, and publish gives it its final name") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp.path());
  PartialFile file = create(directory, "ingest/2026-11-24/f.bin");
  CHECK(file.name() == "ingest/2026-11-24/f.bin");
  CHECK(file.partial_path() == "ingest/2026-11-24/.f.bin.part");
  write_all(file, "hello, ");
  write_all(file, "world");
  CHECK(file.bytes_written() == 12);
  CHECK(tree(temp.path()) ==
        std::set<std::string>{"ingest", "ingest/2026-11-24", "ingest/2026-11-24/.f.bin.part"});

  CHECK(publish(directory, file) == "ingest/2026-11-24/f.bin");
  CHECK_FALSE(file.is_open());
  CHECK(tree(temp.path()) ==
        std::set<std::string>{"ingest", "ingest/2026-11-24", "ingest/2026-11-24/f.bin"});
  CHECK(read_file(temp / "ingest/2026-11-24/f.bin") == "hello, world");
}

TEST_CASE("file_mode is set exactly and directories are 0750, whatever the umask") {
  test::TempDir temp;
  ScopedUmask umask(0077);
  OutputDirectory directory = open_directory(temp.path());
  PartialFile shared = create(directory, "d1/d2/shared.bin", 0664);
  CHECK(mode_of(temp / "d1/d2/.shared.bin.part") == 0664);
  CHECK(publish(directory, shared, Completion::kComplete, SyncMode::kNone) == "d1/d2/shared.bin");
  CHECK(mode_of(temp / "d1/d2/shared.bin") == 0664);
  CHECK(mode_of(temp / "d1") == 0750);
  CHECK(mode_of(temp / "d1/d2") == 0750);

  PartialFile secret = create(directory, "secret.bin", 0600);
  CHECK(publish(directory, secret) == "secret.bin");
  CHECK(mode_of(temp / "secret.bin") == 0600);
}

TEST_CASE("an incomplete file is published with the .incomplete suffix") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp.path());
  PartialFile file = create(directory, "a/cut.bin");
  write_all(file, "partial stream");
  CHECK(publish(directory, file, Completion::kIncomplete) == "a/cut.bin.incomplete");
  CHECK(tree(temp.path()) == std::set<std::string>{"a", "a/cut.bin.incomplete"});
  CHECK(read_file(temp / "a/cut.bin.incomplete") == "partial stream");
}

TEST_CASE("a taken name gets .1, .2, ... before its extension and nothing is overwritten") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp.path());
  write_file(temp / "f.bin", "old");
  write_file(temp / "f.bin.incomplete", "old cut");

  PartialFile first = create(directory, "f.bin");
  write_all(first, "first");
  // A second writer of the same name while the first is open gets its own partial name.
  PartialFile second = create(directory, "f.bin");
  CHECK(second.partial_path() == ".f.bin.1.part");
  write_all(second, "second");
  PartialFile third = create(directory, "f.bin");
  write_all(third, "third");

  CHECK(publish(directory, first) == "f.1.bin");
  CHECK(publish(directory, second) == "f.2.bin");
  CHECK(publish(directory, third, Completion::kIncomplete) == "f.1.bin.incomplete");
  CHECK(read_file(temp / "f.bin") == "old");
  CHECK(read_file(temp / "f.bin.incomplete") == "old cut");
  CHECK(read_file(temp / "f.1.bin") == "first");
  CHECK(read_file(temp / "f.2.bin") == "second");
  CHECK(read_file(temp / "f.1.bin.incomplete") == "third");
  CHECK(tree(temp.path()).size() == 5);
}

TEST_CASE("a symlink planted at the final name is neither followed nor replaced") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp / "out");
  write_file(temp / "precious", "precious");
  fs::create_symlink(temp / "precious", temp / "out/f.bin");
  PartialFile file = create(directory, "f.bin");
  write_all(file, "data");
  CHECK(publish(directory, file) == "f.1.bin");
  CHECK(read_file(temp / "precious") == "precious");
  CHECK(fs::is_symlink(temp / "out/f.bin"));
  CHECK(read_file(temp / "out/f.1.bin") == "data");
}

TEST_CASE("when every name is taken publish fails, names the file and keeps it") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp.path());
  write_file(temp / "f.bin", "");
  for (unsigned n = 1; n <= OutputDirectory::kMaxNameCollisions; ++n) {
    write_file(temp / ("f." + std::to_string(n) + ".bin"), "");
  }
  PartialFile file = create(directory, "f.bin");
  write_all(file, "kept");
  auto published = directory.publish(std::move(file), Completion::kComplete, SyncMode::kPublish);
  REQUIRE_FALSE(published.ok());
  CHECK(published.error().message() ==
        "output file \".f.bin.part\": renameat2 (f.bin and 1000 numbered names taken): File "
        "exists");
  // publish moves from `file` only on success: the caller still owns the partial file, and its
  // bytes are on disk for recovery.
  CHECK(file.is_open());  // NOLINT(bugprone-use-after-move)
  CHECK(read_file(temp / ".f.bin.part") == "kept");
}

TEST_CASE("the number of a taken name goes before the last extension") {
  CHECK(OutputDirectory::numbered_name("x.bin", 0) == "x.bin");
  CHECK(OutputDirectory::numbered_name("x.bin", 1) == "x.1.bin");
  CHECK(OutputDirectory::numbered_name("x.log.zst", 12) == "x.log.12.zst");
  CHECK(OutputDirectory::numbered_name("x", 2) == "x.2");
  CHECK(OutputDirectory::numbered_name("x.", 3) == "x..3");
  CHECK(OutputDirectory::numbered_name("_x", 4) == "_x.4");
  CHECK(OutputDirectory::numbered_name(".x", 5) == ".x.5");
}

TEST_CASE("a symlink where a directory should be is an error, never followed") {
  test::TempDir temp;
  fs::create_directory(temp / "outside");
  OutputDirectory directory = open_directory(temp / "out");
  fs::create_directory_symlink(temp / "outside", temp / "out/ingest");
  fs::create_directory(temp / "out/real");
  fs::create_symlink(temp / "missing", temp / "out/real/dangling");

  auto through_link = directory.create("ingest/day/f.bin", 0640);
  REQUIRE_FALSE(through_link.ok());
  CHECK(through_link.error().message() ==
        "output file \"ingest/day/f.bin\": directory \"ingest\" is a symbolic link, which is "
        "never followed");

  auto through_dangling = directory.create("real/dangling/f.bin", 0640);
  REQUIRE_FALSE(through_dangling.ok());
  CHECK(through_dangling.error().message() ==
        "output file \"real/dangling/f.bin\": directory \"real/dangling\" is a symbolic link, "
        "which is never followed");

  CHECK(fs::is_empty(temp / "outside"));
  CHECK_FALSE(fs::exists(temp / "missing"));
}

TEST_CASE("a file where a directory should be is an error") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp.path());
  write_file(temp / "ingest", "not a directory");
  auto created = directory.create("ingest/f.bin", 0640);
  REQUIRE_FALSE(created.ok());
  CHECK(created.error().message() ==
        "output file \"ingest/f.bin\": directory \"ingest\": openat: Not a directory");
}

TEST_CASE("create refuses a name that is not a plain relative path") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp.path());
  for (std::string_view name : {"", "/abs", "a/../b", "a//b", "./b", "a/"}) {
    auto created = directory.create(name, 0640);
    REQUIRE_FALSE(created.ok());
    CHECK(created.error().message() ==
          "output file \"" + std::string(name) + "\": not a plain relative name");
  }
  CHECK(tree(temp.path()).empty());
}

TEST_CASE("discard removes an empty partial file and refuses one that holds bytes") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp.path());
  PartialFile empty = create(directory, "d/empty.bin");
  auto discarded = directory.discard(std::move(empty));
  REQUIRE_MESSAGE(discarded.ok(), test::error_text(discarded));
  CHECK(tree(temp.path()) == std::set<std::string>{"d"});

  PartialFile full = create(directory, "d/full.bin");
  write_all(full, "abc");
  discarded = directory.discard(std::move(full));
  REQUIRE_FALSE(discarded.ok());
  CHECK(discarded.error().message() ==
        "output file \"d/.full.bin.part\": not discarded, it holds 3 bytes");
  CHECK(read_file(temp / "d/.full.bin.part") == "abc");

  CHECK(publish(directory, full) == "d/full.bin");
  auto again = directory.publish(std::move(full), Completion::kComplete, SyncMode::kNone);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().message() == "output file \"d/full.bin\": already published or discarded");
}

TEST_CASE(
    "measure_space reports the space available to unprivileged writers, kept for last_space") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp.path());
  CHECK_FALSE(directory.last_space().has_value());
  auto space = directory.measure_space();
  REQUIRE(space.ok());
  struct statvfs info {};
  REQUIRE(::statvfs(temp.path().c_str(), &info) == 0);
  std::uint64_t expected = static_cast<std::uint64_t>(info.f_bavail) * info.f_frsize;
  // Other tests write meanwhile; the two readings agree to within a few MiB.
  std::uint64_t difference =
      space->free_bytes > expected ? space->free_bytes - expected : expected - space->free_bytes;
  CHECK(space->free_bytes > 0);
  CHECK(difference < (64U << 20));
  CHECK(space->size_bytes == static_cast<std::uint64_t>(info.f_blocks) * info.f_frsize);
  CHECK(space->read_only == ((info.f_flag & ST_RDONLY) != 0));
  // A moved directory keeps its figures: the workers read them through the shared one.
  OutputDirectory moved = std::move(directory);
  const auto kept = moved.last_space();
  REQUIRE(kept.has_value());
  CHECK(kept->free_bytes == space->free_bytes);
  CHECK(kept->size_bytes == space->size_bytes);
}

TEST_CASE("recover publishes every partial file as .incomplete with its exact bytes") {
  test::TempDir temp;
  fs::create_directories(temp / "out/a/b");
  fs::create_directories(temp / "out/a/.dir.part");
  fs::create_directories(temp / "outside");
  write_file(temp / "out/.top.bin.part", std::string(100000, 't'));
  write_file(temp / "out/a/b/.x.bin.part", "abc");
  write_file(temp / "out/a/b/x.bin.incomplete", "earlier");
  write_file(temp / "out/a/b/.z.bin.1.part", "zzz");
  write_file(temp / "out/a/.empty.part", "");
  write_file(temp / "out/a/.not-partial", "dot-file");
  write_file(temp / "out/a/.part", "no name");
  write_file(temp / "out/a/done.bin", "complete");
  write_file(temp / "outside/.evil.part", "outside");
  fs::create_directory_symlink(temp / "outside", temp / "out/link");

  OutputDirectory directory = open_directory(temp / "out");
  {
    // A writer that stopped without publishing, as after kill -9.
    PartialFile abandoned = create(directory, "c/live.bin");
    write_all(abandoned, "was being written");
  }

  Recovery recovery = directory.recover();
  for (const sys::Error& error : recovery.errors) {
    FAIL_CHECK(error.message());
  }
  std::set<std::pair<std::string, std::uint64_t>> recovered;
  for (const RecoveredFile& file : recovery.files) {
    recovered.emplace(file.path, file.size);
  }
  CHECK(recovered == std::set<std::pair<std::string, std::uint64_t>>{
                         {"top.bin.incomplete", 100000},
                         {"a/b/x.1.bin.incomplete", 3},
                         {"a/b/z.bin.1.incomplete", 3},
                         {"a/empty.incomplete", 0},
                         {"c/live.bin.incomplete", 17},
                     });
  CHECK(read_file(temp / "out/top.bin.incomplete") == std::string(100000, 't'));
  CHECK(read_file(temp / "out/a/b/x.1.bin.incomplete") == "abc");
  CHECK(read_file(temp / "out/a/b/x.bin.incomplete") == "earlier");
  CHECK(read_file(temp / "out/a/b/z.bin.1.incomplete") == "zzz");
  CHECK(read_file(temp / "out/c/live.bin.incomplete") == "was being written");
  CHECK(tree(temp / "out") == std::set<std::string>{
                                  "top.bin.incomplete",
                                  "a",
                                  "a/.dir.part",
                                  "a/empty.incomplete",
                                  "a/.not-partial",
                                  "a/.part",
                                  "a/done.bin",
                                  "a/b",
                                  "a/b/x.1.bin.incomplete",
                                  "a/b/x.bin.incomplete",
                                  "a/b/z.bin.1.incomplete",
                                  "c",
                                  "c/live.bin.incomplete",
                                  "link",
                              });
  CHECK(read_file(temp / "outside/.evil.part") == "outside");

  // Nothing is left to recover the second time.
  Recovery again = directory.recover();
  CHECK(again.files.empty());
  CHECK(again.errors.empty());
}

// Whether the filesystem of `directory` reports holes to SEEK_HOLE (ext4, XFS, tmpfs do; one
// that does not says the whole file is data).
bool reports_holes(const fs::path& directory) {
  const fs::path probe = directory / "hole-probe";
  write_file(probe, "x");
  fs::resize_file(probe, 1 << 20);
  sys::UniqueFd fd(::open(probe.c_str(), O_RDONLY | O_CLOEXEC));
  const off_t hole = ::lseek(fd.get(), 0, SEEK_HOLE);
  fs::remove(probe);
  return hole >= 0 && hole < (1 << 20);
}

TEST_CASE("recover cuts a partial file at its first hole, and marks each file it publishes") {
  test::TempDir temp;
  fs::create_directories(temp / "out/a");
  if (test::skipped_because(!reports_holes(temp.path()),
                            "the temporary directory's filesystem reports no holes")) {
    return;
  }
  // What a power cut can leave: the size on disk, the last bytes not (they read as zeros).
  write_file(temp / "out/.tail.bin.part", std::string(8192, 't'));
  fs::resize_file(temp / "out/.tail.bin.part", 3 << 20);
  // A hole in the middle: what follows it is cut too, as the stream's bytes run in order.
  write_file(temp / "out/a/.middle.bin.part", std::string(4096, 'm'));
  fs::resize_file(temp / "out/a/.middle.bin.part", 2 << 20);
  {
    std::ofstream out(temp / "out/a/.middle.bin.part", std::ios::in | std::ios::out |
                                                           std::ios::binary);
    out.seekp(1 << 20);
    out << "after the hole";
  }
  write_file(temp / "out/a/.whole.bin.part", std::string(5000, 'w'));

  OutputDirectory directory = open_directory(temp / "out");
  std::vector<std::uint64_t> marked_sizes;
  Recovery recovery = directory.recover([&marked_sizes](int fd) -> sys::Result<void> {
    // Marked after the cut, before the rename.
    struct stat info {};
    REQUIRE(::fstat(fd, &info) == 0);
    marked_sizes.push_back(static_cast<std::uint64_t>(info.st_size));
    return {};
  });
  for (const sys::Error& error : recovery.errors) {
    FAIL_CHECK(error.message());
  }
  std::set<std::tuple<std::string, std::uint64_t, std::uint64_t>> recovered;
  for (const RecoveredFile& file : recovery.files) {
    recovered.emplace(file.path, file.size, file.cut);
  }
  CHECK(recovered == std::set<std::tuple<std::string, std::uint64_t, std::uint64_t>>{
                         {"tail.bin.incomplete", 8192, (3 << 20) - 8192},
                         {"a/middle.bin.incomplete", 4096, (2 << 20) - 4096},
                         {"a/whole.bin.incomplete", 5000, 0},
                     });
  CHECK(read_file(temp / "out/tail.bin.incomplete") == std::string(8192, 't'));
  CHECK(read_file(temp / "out/a/middle.bin.incomplete") == std::string(4096, 'm'));
  CHECK(read_file(temp / "out/a/whole.bin.incomplete") == std::string(5000, 'w'));
  std::sort(marked_sizes.begin(), marked_sizes.end());
  CHECK(marked_sizes == std::vector<std::uint64_t>{4096, 5000, 8192});
}

TEST_CASE("recover: a mark that fails leaves the file partial and names it") {
  test::TempDir temp;
  fs::create_directories(temp / "out");
  write_file(temp / "out/.x.bin.part", "abc");
  OutputDirectory directory = open_directory(temp / "out");
  Recovery recovery = directory.recover(
      [](int) -> sys::Result<void> { return sys::Error::invalid("no record for you"); });
  CHECK(recovery.files.empty());
  REQUIRE(recovery.errors.size() == 1);
  CHECK(recovery.errors[0].message().find(".x.bin.part") != std::string::npos);
  CHECK(recovery.errors[0].message().find("no record for you") != std::string::npos);
  CHECK(fs::exists(temp / "out/.x.bin.part"));
}

// The inode of what `fd` refers to.
ino_t inode_of(int fd) {
  struct stat info {};
  REQUIRE(::fstat(fd, &info) == 0);
  return info.st_ino;
}

TEST_CASE("sync_before_rename: a file's bytes, then every directory above the file's") {
  test::TempDir temp;
  OutputDirectory directory = open_directory(temp / "out");
  std::vector<std::pair<std::string, ino_t>> calls;
  auto record = [&calls](const char* call) {
    return [&calls, call](int fd) -> sys::Result<void> {
      calls.emplace_back(call, inode_of(fd));
      return {};
    };
  };
  auto inode = [](const fs::path& path) {
    struct stat info {};
    REQUIRE(::stat(path.c_str(), &info) == 0);
    return info.st_ino;
  };

  PartialFile deep = create(directory, "a/b/c/x.bin");
  REQUIRE(OutputDirectory::sync_before_rename(deep, record("fdatasync"), record("fsync")).ok());
  CHECK(calls == std::vector<std::pair<std::string, ino_t>>{
                     {"fdatasync", inode_of(deep.fd())},
                     {"fsync", inode(temp / "out")},
                     {"fsync", inode(temp / "out/a")},
                     {"fsync", inode(temp / "out/a/b")},
                 });

  // A file with a hand-off record is fsynced: fdatasync need not write its attribute. A file
  // in the output directory itself has no directory above it to sync.
  calls.clear();
  PartialFile top = create(directory, "y.bin");
  top.mark_attributes();
  REQUIRE(OutputDirectory::sync_before_rename(top, record("fdatasync"), record("fsync")).ok());
  CHECK(calls == std::vector<std::pair<std::string, ino_t>>{{"fsync", inode_of(top.fd())}});

  // An error names the file and what failed.
  auto failing = [](int) -> sys::Result<void> { return sys::Error::from_errno(EIO, "fsync"); };
  auto failed = OutputDirectory::sync_before_rename(deep, record("fdatasync"), failing);
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message().find("a/b/c/.x.bin.part") != std::string::npos);
}

TEST_CASE("is_current turns false once the directory is removed, even if created again") {
  test::TempDir dir;
  auto path = dir / "out";
  auto directory = open_directory(path);
  CHECK(directory.is_current());
  fs::remove_all(path);
  CHECK_FALSE(directory.is_current());
  fs::create_directory(path);
  CHECK_FALSE(directory.is_current());
  CHECK(open_directory(path).is_current());
}

}  // namespace
}  // namespace zcrecv::output
