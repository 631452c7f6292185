#include "log/event.hpp"

#include <spdlog/spdlog.h>

#include <cmath>
#include <cstdio>
#include <span>

namespace zcrecv::log {
namespace {

// The event being logged on this thread, between event() and the formatter's %E. The default
// logger is synchronous, so its formatter runs inside the spdlog::log call, on the calling
// thread: the fields reach it without a copy and without the logger knowing the format (the
// text pattern has no %E and so ignores them).
struct CurrentEvent {
  std::string_view name;
  std::span<const Field> fields;
};
thread_local const CurrentEvent* current_event = nullptr;

void append(spdlog::memory_buf_t& out, std::string_view text) { out.append(text); }

void append_json_string(spdlog::memory_buf_t& out, std::string_view text) {
  out.push_back('"');
  append_json_escaped(out, text);
  out.push_back('"');
}

void append_value(spdlog::memory_buf_t& out, const Field::Value& value) {
  if (const auto* text = std::get_if<std::string_view>(&value)) {
    append_json_string(out, *text);
  } else if (const auto* signed_number = std::get_if<std::int64_t>(&value)) {
    append(out, std::to_string(*signed_number));
  } else if (const auto* number = std::get_if<std::uint64_t>(&value)) {
    append(out, std::to_string(*number));
  } else if (const auto* real = std::get_if<double>(&value)) {
    // JSON has no NaN or infinity; a rate over a zero duration must not break the line.
    if (!std::isfinite(*real)) {
      append(out, "null");
    } else {
      char digits[32];
      // "%.6g": six significant digits, plenty for durations and rates. snprintf writes a '.'
      // because zcrecv never calls setlocale: the C locale stays in force, and JSON needs the dot.
      const int length = std::snprintf(digits, sizeof digits, "%.6g", *real);
      out.append(digits, digits + length);
    }
  } else {
    append(out, std::get<bool>(value) ? "true" : "false");
  }
}

}  // namespace

void event(spdlog::level::level_enum level, std::string_view name,
           std::initializer_list<Field> fields, std::string_view text) {
  const CurrentEvent event{name, std::span<const Field>(fields.begin(), fields.size())};
  const CurrentEvent* outer = current_event;
  current_event = &event;
  spdlog::log(level, "{}", text);
  // Restored rather than cleared: an event() made while another one is being logged (from a sink,
  // say) leaves the outer event's fields in place for its own line.
  current_event = outer;
}

void append_json_escaped(spdlog::memory_buf_t& out, std::string_view text) {
  for (const char c : text) {
    switch (c) {
      case '"':
        append(out, "\\\"");
        break;
      case '\\':
        append(out, "\\\\");
        break;
      case '\n':
        append(out, "\\n");
        break;
      case '\t':
        append(out, "\\t");
        break;
      default:
        // The other control bytes as \u00XX, which JSON requires for every byte below 0x20 (RFC
        // 8259 §7). Bytes from 0x80 up pass as they are: names and messages are UTF-8 or treated as
        // such.
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          const int length = std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out.append(escaped, escaped + length);
        } else {
          out.push_back(c);
        }
    }
  }
}

void EventFieldsFlag::format(const spdlog::details::log_msg& /*message*/, const std::tm& /*time*/,
                             spdlog::memory_buf_t& out) {
  // A plain spdlog call, not an event(): the JSON line gets no event fields.
  if (current_event == nullptr) {
    return;
  }
  append(out, ",\"event\":");
  append_json_string(out, current_event->name);
  for (const Field& field : current_event->fields) {
    out.push_back(',');
    append_json_string(out, field.key);
    out.push_back(':');
    append_value(out, field.value);
  }
}

std::unique_ptr<spdlog::custom_flag_formatter> EventFieldsFlag::clone() const {
  return std::make_unique<EventFieldsFlag>();
}

}  // namespace zcrecv::log
