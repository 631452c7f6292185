#include "log/logging.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <string_view>

#include "log/event.hpp"

namespace zcrecv::log {
namespace {

spdlog::level::level_enum to_spdlog(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return spdlog::level::trace;
    case LogLevel::kDebug:
      return spdlog::level::debug;
    case LogLevel::kInfo:
      return spdlog::level::info;
    case LogLevel::kWarn:
      return spdlog::level::warn;
    case LogLevel::kError:
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
    append_json_escaped(out, std::string_view(message.payload.data(), message.payload.size()));
  }

  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

}  // namespace

std::unique_ptr<spdlog::formatter> make_log_formatter(LogFormat format) {
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (format == LogFormat::kJson) {
    // %E: the event name and fields of a line logged by log::event (README "Log fields").
    formatter->add_flag<JsonEscapedMessage>('J').add_flag<EventFieldsFlag>('E').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","message":"%J"%E})");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%fZ %l: %v");
  }
  return formatter;
}

void setup_logging(LogLevel level, LogFormat format) {
  // stderr, unbuffered and without colour codes: journald and pipes read it as plain lines.
  auto logger = spdlog::stderr_logger_mt("zcrecv");
  logger->set_formatter(make_log_formatter(format));
  logger->set_level(to_spdlog(level));
  logger->flush_on(spdlog::level::trace);
  spdlog::set_default_logger(std::move(logger));
}

void set_log_level(LogLevel level) { spdlog::set_level(to_spdlog(level)); }

}  // namespace zcrecv::log
