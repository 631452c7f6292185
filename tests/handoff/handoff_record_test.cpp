#include "handoff/handoff_record.hpp"

#include <doctest/doctest.h>
#include <fcntl.h>

#include <fstream>

#include "support/error_text.hpp"
#include "support/temp_dir.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

HandoffRecord sample() {
  return HandoffRecord{HandoffState::kPending, "ingest", "unix uid=1000 pid=42", "9f3a61c200000000",
                       7};
}

sys::UniqueFd make_file(const test::TempDir& dir, const char* name) {
  std::ofstream(dir / name) << "data";
  auto file = sys::open((dir / name).c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(file.ok());
  return std::move(*file);
}

TEST_CASE("handoff record: encoded as key=value lines, decoded back") {
  const HandoffRecord record = sample();
  CHECK(record.encode() ==
        "state=pending\nlistener=ingest\npeer=unix uid=1000 pid=42\nconn=9f3a61c200000000\n"
        "seq=7\n");
  CHECK(HandoffRecord::decode(record.encode()) == record);
  HandoffRecord done = record;
  done.state = HandoffState::kDone;
  CHECK(done.encode().starts_with("state=done\n"));
  CHECK(HandoffRecord::decode(done.encode()) == done);
  // Later versions may add keys; the order does not matter.
  CHECK(HandoffRecord::decode("seq=7\nconn=9f3a61c200000000\nnew=1\npeer=unix uid=1000 pid=42\n"
                              "listener=ingest\nstate=pending") == record);
}

TEST_CASE("handoff record: anything else is not a record") {
  CHECK_FALSE(HandoffRecord::decode("").has_value());
  CHECK_FALSE(HandoffRecord::decode("state=pending\nlistener=a\npeer=b\nconn=c\n").has_value());
  CHECK_FALSE(
      HandoffRecord::decode("state=maybe\nlistener=a\npeer=b\nconn=c\nseq=0\n").has_value());
  CHECK_FALSE(
      HandoffRecord::decode("state=done\nlistener=a\npeer=b\nconn=c\nseq=-1\n").has_value());
  CHECK_FALSE(HandoffRecord::decode("garbage").has_value());
}

TEST_CASE("handoff record: written to the file's xattr, read back, marked done") {
  test::TempDir dir;
  auto file = make_file(dir, "f.bin");
  auto none = read_record(file.get());
  REQUIRE_MESSAGE(none.ok(), test::error_text(none));
  CHECK_FALSE(none->has_value());

  HandoffRecord record = sample();
  auto written = write_record(file.get(), record);
  REQUIRE_MESSAGE(written.ok(), test::error_text(written));
  auto read = read_record(file.get());
  REQUIRE(read.ok());
  CHECK(**read == record);

  record.state = HandoffState::kDone;
  REQUIRE(write_record(file.get(), record).ok());
  CHECK((*read_record(file.get()))->state == HandoffState::kDone);

  // A rename keeps it: the mark travels from .NAME.part to NAME.
  std::filesystem::rename(dir / "f.bin", dir / "g.bin");
  auto moved = sys::open((dir / "g.bin").c_str(), O_RDONLY | O_CLOEXEC);
  REQUIRE(moved.ok());
  CHECK(**read_record(moved->get()) == record);
}

TEST_CASE("handoff record: an attribute that is not a record is an error naming it") {
  test::TempDir dir;
  auto file = make_file(dir, "f.bin");
  REQUIRE(sys::fsetxattr(file.get(), kAttribute, "hello").ok());
  auto read = read_record(file.get());
  REQUIRE_FALSE(read.ok());
  CHECK(read.error().message() == "user.zcrecv.handoff: not a hand-off record");
}

TEST_CASE("handoff record: the output filesystem is checked for user xattrs, leaving nothing") {
  test::TempDir dir;
  auto root = sys::open(dir.path().c_str(), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  REQUIRE(root.ok());
  auto checked = check_user_xattrs(root->get());
  CHECK_MESSAGE(checked.ok(), test::error_text(checked));
  CHECK_FALSE(sys::fgetxattr(root->get(), "user.zcrecv.probe")->has_value());

  // /proc takes no user attributes.
  auto proc = sys::open("/proc/self", O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  REQUIRE(proc.ok());
  auto refused = check_user_xattrs(proc->get());
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message().starts_with("user.zcrecv.probe: fsetxattr: "));
}

}  // namespace
}  // namespace zcrecv::handoff
