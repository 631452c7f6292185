#include "output/client_value.hpp"

#include <doctest/doctest.h>

#include <set>
#include <string>
#include <vector>

namespace zcrecv::output {
namespace {

TEST_CASE("a client value keeps its plain bytes and escapes every other one, a leading . and - too") {
  CHECK(render_client_value("ingest.example.com") == "ingest.example.com");
  CHECK(render_client_value("10.0.0.5_51234") == "10.0.0.5_51234");
  CHECK(render_client_value("a/b") == "a+2fb");
  CHECK(render_client_value("a+2fb") == "a+2b2fb");
  CHECK(render_client_value(".hidden") == "+2ehidden");
  CHECK(render_client_value("-rf") == "+2drf");
  CHECK(render_client_value("a-") == "a-");
  CHECK(render_client_value(std::string("\0", 1)) == "+00");
  CHECK(render_client_value("") == "+empty");
}

TEST_CASE("values that an underscore rendering made alike stay apart") {
  const std::vector<std::string> values{"a/b", "a_b", "a b", "_", ".", "", "+empty", "+2e"};
  std::set<std::string> rendered;
  for (const std::string& value : values) {
    rendered.insert(render_client_value(value));
  }
  CHECK(rendered.size() == values.size());
}

TEST_CASE("no certificate, an unverified one and an empty CN render apart, and apart from any CN") {
  const std::set<std::string> rendered{
      render_client_cn({ClientCn::Kind::kNoCertificate, ""}),
      render_client_cn({ClientCn::Kind::kUnverified, ""}),
      render_client_cn({ClientCn::Kind::kVerified, ""}),
      render_client_cn({ClientCn::Kind::kVerified, "+nocert"}),
      render_client_cn({ClientCn::Kind::kVerified, "+unverified"}),
      render_client_cn({ClientCn::Kind::kVerified, "_"})};
  CHECK(rendered.size() == 6);
  CHECK(render_client_cn({ClientCn::Kind::kNoCertificate, ""}) == "+nocert");
  CHECK(render_client_cn({ClientCn::Kind::kUnverified, "alice"}) == "+unverified");
}

TEST_CASE("a long value is cut between escapes and ends in a hash of the whole value") {
  const std::string rendered = render_client_value(std::string(255, '/'));
  CHECK(rendered.size() <= kMaxClientValueSize);
  // 15 escapes of 3 bytes fit before the 18-byte hash suffix; a 16th would be cut.
  CHECK(rendered.substr(0, 45) == [] {
    std::string escapes;
    for (int i = 0; i < 15; ++i) {
      escapes += "+2f";
    }
    return escapes;
  }());
  CHECK(rendered.substr(45, 2) == "+h");
  CHECK(rendered.size() == 45 + 18);
  CHECK(render_client_value(std::string(254, '/') + "x") != rendered);
  CHECK(render_client_value(std::string(kMaxClientValueSize, 'a')) ==
        std::string(kMaxClientValueSize, 'a'));
  CHECK(render_client_value(std::string(kMaxClientValueSize + 1, 'a')).size() ==
        kMaxClientValueSize);
}

TEST_CASE("bounded_name shortens long components, keeps the extension, and marks reserved ends") {
  const std::string long_name = std::string(300, 'a') + ".bin";
  const std::string bounded = bounded_name("dir/" + long_name);
  CHECK(bounded.starts_with("dir/"));
  const std::string file = bounded.substr(4);
  CHECK(file.size() == kMaxNameComponentSize);
  CHECK(file.ends_with(".bin"));
  CHECK(file.find("+h") == kMaxNameComponentSize - 18 - 4);
  CHECK(bounded_name("dir/" + std::string(300, 'a') + ".bim") != bounded);
  CHECK(bounded_name("a/b.bin") == "a/b.bin");
  CHECK(bounded_name("a/b.part") == "a/b.part+");
  CHECK(bounded_name("a.incomplete/b") == "a.incomplete/b");
  CHECK(bounded_name("b.incomplete") == "b.incomplete+");
}

}  // namespace
}  // namespace zcrecv::output
