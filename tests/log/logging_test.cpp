#include "log/logging.hpp"

#include <doctest/doctest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <limits>
#include <memory>
#include <sstream>
#include <string>

#include "log/event.hpp"
#include "support/json_object.hpp"

namespace zcrecv::log {
namespace {

// Makes a logger writing into a string, in `format`, the default logger while it lives.
class StringLog {
 public:
  explicit StringLog(log::LogFormat format)
      : sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(stream_)),
        previous_(spdlog::default_logger()) {
    sink_->set_formatter(make_log_formatter(format));
    auto logger = std::make_shared<spdlog::logger>("string", sink_);
    logger->set_level(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
  }
  StringLog(const StringLog&) = delete;
  StringLog& operator=(const StringLog&) = delete;
  ~StringLog() { spdlog::set_default_logger(previous_); }

  std::string text() const { return stream_.str(); }

 private:
  std::ostringstream stream_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
  std::shared_ptr<spdlog::logger> previous_;
};

void log_connection_end() {
  const std::string first = "a/x \"1\".bin";
  log::event(spdlog::level::warn, "connection_end",
             {{"conn", "c42"},
              {"bytes", std::uint64_t{1} << 40},
              {"files", 3},
              {"first_file", first},
              {"seconds", 1.5},
              {"receipt", true},
              {"delta", -7}},
             "connection c42: 1099511627776 bytes, 3 files");
}

TEST_CASE("log::event: the text format writes the text alone, as a plain line would") {
  StringLog log(log::LogFormat::kText);
  log_connection_end();
  spdlog::info("plain {}", 1);
  const std::string text = log.text();
  CHECK(text.find(" warning: connection c42: 1099511627776 bytes, 3 files\n") != std::string::npos);
  CHECK(text.find(" info: plain 1\n") != std::string::npos);
  CHECK(text.find("c42\",") == std::string::npos);
  CHECK(text.find("connection_end") == std::string::npos);
}

TEST_CASE("log::event: the JSON format makes each field a key with a typed value") {
  StringLog log(log::LogFormat::kJson);
  log_connection_end();
  spdlog::info("plain \"quoted\"\tline");
  const std::string text = log.text();
  const std::size_t newline = text.find('\n');
  REQUIRE(newline != std::string::npos);
  auto event = test::parse_flat_json_object(text.substr(0, newline));
  REQUIRE_MESSAGE(event.has_value(), text);
  CHECK(event->at("level").text == "warning");
  CHECK(event->at("message").text == "connection c42: 1099511627776 bytes, 3 files");
  CHECK(event->at("event").text == "connection_end");
  CHECK(event->at("conn").is_string());
  CHECK(event->at("conn").text == "c42");
  CHECK(event->at("bytes").is_number());
  CHECK(event->at("bytes").text == "1099511627776");
  CHECK(event->at("files").text == "3");
  CHECK(event->at("first_file").text == "a/x \"1\".bin");
  CHECK(event->at("seconds").is_number());
  CHECK(event->at("seconds").text == "1.5");
  CHECK(event->at("receipt").kind == test::JsonValue::Kind::kBool);
  CHECK(event->at("receipt").text == "true");
  CHECK(event->at("delta").text == "-7");
  CHECK(event->size() == 11);

  // A plain line has no event and no fields, and its message survives quotes and tabs.
  auto plain = test::parse_flat_json_object(text.substr(newline + 1));
  REQUIRE_MESSAGE(plain.has_value(), text);
  CHECK(plain->at("message").text == "plain \"quoted\"\tline");
  CHECK_FALSE(plain->contains("event"));
  CHECK(plain->size() == 3);
}

TEST_CASE("log::event: a value that JSON cannot hold as a number is null, never a broken line") {
  StringLog log(log::LogFormat::kJson);
  log::event(spdlog::level::info, "rate", {{"rate", std::numeric_limits<double>::infinity()}, {"ctl", "a\x01z"}}, "rate");
  auto event = test::parse_flat_json_object(log.text());
  REQUIRE_MESSAGE(event.has_value(), log.text());
  CHECK(event->at("rate").kind == test::JsonValue::Kind::kNull);
  CHECK(event->at("ctl").text == "a\x01z");
}

}  // namespace
}  // namespace zcrecv::log
