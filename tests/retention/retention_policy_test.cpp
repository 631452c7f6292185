#include "retention/retention_policy.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <set>
#include <string>
#include <vector>

namespace zcrecv::retention {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::system_clock;

// One file the policy deletes: its index in the files given, and why.
struct RetentionDecision {
  std::size_t index = 0;
  RetentionReason reason = RetentionReason::kMaxAge;

  bool operator==(const RetentionDecision&) const = default;
};

// The files of `oldest_first` to delete, in order, at `now`; `held(i)` says file i must stay.
// The walk Retention makes over its index, over a plain list.
std::vector<RetentionDecision> select_deletions(std::span<const RetainedFile> oldest_first,
                                                const RetentionLimits& limits,
                                                std::chrono::system_clock::time_point now,
                                                const std::function<bool(std::size_t)>& held) {
  std::uint64_t bytes = 0;
  for (const RetainedFile& file : oldest_first) {
    bytes += file.bytes;
  }
  RetentionPolicy policy(limits, now, oldest_first.size(), bytes);
  std::vector<RetentionDecision> decisions;
  for (std::size_t i = 0; i < oldest_first.size(); ++i) {
    const std::optional<RetentionReason> reason = policy.reason(oldest_first[i]);
    if (!reason) {
      break;
    }
    if (held(i)) {
      continue;
    }
    decisions.push_back(RetentionDecision{i, *reason});
    policy.deleted(oldest_first[i]);
  }
  return decisions;
}

const Clock::time_point kNow = Clock::time_point(std::chrono::seconds(1'800'000'000));

// Files f0 (oldest) .. fN-1, one hour apart, the youngest an hour old, of `bytes` bytes each.
std::vector<RetainedFile> files(std::size_t count, std::uint64_t bytes = 100) {
  std::vector<RetainedFile> list;
  for (std::size_t i = 0; i < count; ++i) {
    list.push_back(RetainedFile{"f" + std::to_string(i), bytes,
                                kNow - std::chrono::hours(count - i)});
  }
  return list;
}

// The decisions as "NAME:REASON" strings, in order.
std::vector<std::string> deleted(const std::vector<RetainedFile>& list,
                                 const RetentionLimits& limits,
                                 const std::set<std::size_t>& held = {}) {
  std::vector<std::string> names;
  for (const RetentionDecision& decision :
       select_deletions(list, limits, kNow, [&](std::size_t i) { return held.contains(i); })) {
    names.push_back(list[decision.index].name + ":" + std::string(to_string(decision.reason)));
  }
  return names;
}

TEST_CASE("retention policy: without a limit nothing goes") {
  CHECK_FALSE(RetentionLimits{}.enabled());
  CHECK(deleted(files(50, 1 << 20), RetentionLimits{}).empty());
}

TEST_CASE("retention policy: max_files deletes the oldest until the count fits") {
  CHECK(deleted(files(5), RetentionLimits{0, 3, 0s}) ==
        std::vector<std::string>{"f0:max_files", "f1:max_files"});
  CHECK(deleted(files(3), RetentionLimits{0, 3, 0s}).empty());
}

TEST_CASE("retention policy: max_bytes deletes the oldest until the bytes fit") {
  // 5 × 100 bytes against 250: three go, 200 stay.
  CHECK(deleted(files(5), RetentionLimits{250, 0, 0s}) ==
        std::vector<std::string>{"f0:max_bytes", "f1:max_bytes", "f2:max_bytes"});
  // Exactly at the limit is within it.
  CHECK(deleted(files(5), RetentionLimits{500, 0, 0s}).empty());
  // Sizes differ: the oldest go whatever their size, until the rest fits.
  std::vector<RetainedFile> mixed = files(4);
  mixed[0].bytes = 10;
  mixed[1].bytes = 1000;
  CHECK(deleted(mixed, RetentionLimits{300, 0, 0s}) ==
        std::vector<std::string>{"f0:max_bytes", "f1:max_bytes"});
}

TEST_CASE("retention policy: max_age deletes every file older than it, and only those") {
  // f0..f4 are 5, 4, 3, 2 and 1 hours old.
  CHECK(deleted(files(5), RetentionLimits{0, 0, 150min}) ==
        std::vector<std::string>{"f0:max_age", "f1:max_age", "f2:max_age"});
  // Exactly max_age old is not older.
  CHECK(deleted(files(5), RetentionLimits{0, 0, 5h}).empty());
}

TEST_CASE("retention policy: the limits combine, age first, then count, then bytes") {
  // f0, f1 are too old; then 3 files of 100 against max_files 2: f2 goes; 200 bytes against 150:
  // f3 goes.
  CHECK(deleted(files(5), RetentionLimits{150, 2, 210min}) ==
        std::vector<std::string>{"f0:max_age", "f1:max_age", "f2:max_files", "f3:max_bytes"});
}

TEST_CASE("retention policy: a held file stays and counts, and the next oldest goes instead") {
  // max_files 2 over 5 files with f0 and f2 held: they count, so three others must go to bring
  // the count to 2, and only f1, f3 and f4 can: the held ones are all that is left.
  CHECK(deleted(files(5), RetentionLimits{0, 2, 0s}, {0, 2}) ==
        std::vector<std::string>{"f1:max_files", "f3:max_files", "f4:max_files"});
  // Every file held: nothing goes, however far past the limits.
  CHECK(deleted(files(4), RetentionLimits{1, 1, 1s}, {0, 1, 2, 3}).empty());
  // A held file past max_age stays; the younger ones within it are not touched for it.
  CHECK(deleted(files(4), RetentionLimits{0, 0, 150min}, {0}) ==
        std::vector<std::string>{"f1:max_age"});
}

TEST_CASE("retention policy: the pass stops at the first file no limit touches") {
  std::vector<RetainedFile> list = files(4);
  int asked = 0;
  auto decisions = select_deletions(list, RetentionLimits{0, 3, 0s}, kNow, [&](std::size_t) {
    ++asked;
    return false;
  });
  CHECK(decisions.size() == 1);
  // Only the file that goes was looked at: the hand-off check costs a read per file.
  CHECK(asked == 1);
}

}  // namespace
}  // namespace zcrecv::retention
