#include "daemon/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <memory>
#include <string>

namespace zcrecv::daemon {
namespace {

spdlog::level::level_enum to_spdlog(config::LogLevel level) {
  switch (level) {
    case config::LogLevel::kTrace:
      return spdlog::level::trace;
    case config::LogLevel::kDebug:
      return spdlog::level::debug;
    case config::LogLevel::kInfo:
      return spdlog::level::info;
    case config::LogLevel::kWarn:
      return spdlog::level::warn;
    case config::LogLevel::kError:
      return spdlog::level::err;
  }
  return spdlog::level::info;
}

// `%J`: the message as the inside of a JSON string. spdlog's own %v would let a quote or a
// control character in a message (a file name, an error text) break the line's JSON.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& /*time*/,
              spdlog::memory_buf_t& out) override {
    for (char c : message.payload) {
      switch (c) {
        case '"':
          out.append(std::string_view("\\\""));
          break;
        case '\\':
          out.append(std::string_view("\\\\"));
          break;
        case '\n':
          out.append(std::string_view("\\n"));
          break;
        case '\t':
          out.append(std::string_view("\\t"));
          break;
        default:
          if (static_cast<unsigned char>(c) < 0x20) {
            char escaped[8];
            int length = std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
            out.append(escaped, escaped + length);
          } else {
            out.push_back(c);
          }
      }
    }
  }

  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

}  // namespace

void setup_logging(config::LogLevel level, config::LogFormat format) {
  // stderr, unbuffered and without colour codes: journald and pipes read it as plain lines.
  auto logger = spdlog::stderr_logger_mt("zcrecv");
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == config::LogFormat::kJson) {
    formatter->add_flag<JsonEscapedMessage>('J').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","message":"%J"})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l: %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(config::LogLevel level) { spdlog::set_level(to_spdlog(level)); }

}  // namespace zcrecv::daemon
