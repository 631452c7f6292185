#include "handoff/last_line.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

namespace zcrecv::handoff {
namespace {

void feed(LastLine& line, std::string_view text) { line.feed(std::span(text.data(), text.size())); }

TEST_CASE("hook output: the last non-empty line is kept, across chunk boundaries") {
  LastLine line;
  CHECK(line.text().empty());
  feed(line, "first\nsec");
  CHECK(line.text() == "sec");
  feed(line, "ond\n\n");
  CHECK(line.text() == "second");
  feed(line, "third\r\n");
  CHECK(line.text() == "third");
}

TEST_CASE("hook output: a line is cut at 512 bytes and control characters are masked") {
  LastLine line;
  feed(line, std::string(10000, 'x') + "\n");
  CHECK(line.text() == std::string(LastLine::kMaxLength, 'x'));
  feed(line, std::string("a\tb\x1b[31mc\n"));
  CHECK(line.text() == "a?b?[31mc");
}

}  // namespace
}  // namespace zcrecv::handoff
