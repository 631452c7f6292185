#pragma once

#include <spdlog/common.h>
#include <spdlog/pattern_formatter.h>

#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

namespace zcrecv::log {

/// One field of a structured log event: a key (a JSON key, stable, listed in the README's
/// table) and its value.
struct Field {
  using Value = std::variant<std::string_view, std::int64_t, std::uint64_t, double, bool>;

  Field(std::string_view name, std::string_view text) : key(name), value(text) {}
  Field(std::string_view name, const std::string& text) : key(name), value(std::string_view(text)) {}
  Field(std::string_view name, const char* text) : key(name), value(std::string_view(text)) {}
  Field(std::string_view name, double number) : key(name), value(number) {}
  template <std::integral T>
  Field(std::string_view name, T number) : key(name), value(integer_value(number)) {}

  std::string_view key;
  /// Strings are borrowed: a Field lives only as long as the event() call it is built for.
  Value value;

 private:
  template <std::integral T>
  static Value integer_value(T number) {
    if constexpr (std::same_as<T, bool>) {
      return number;
    } else if constexpr (std::signed_integral<T>) {
      return static_cast<std::int64_t>(number);
    } else {
      return static_cast<std::uint64_t>(number);
    }
  }
};

/// Logs one event through the spdlog default logger: `text` is the line of the text format,
/// exactly as a plain spdlog call would write it; the JSON format writes
/// `{"time":…,"level":…,"message":TEXT,"event":NAME,KEY:VALUE,…}` with each field a key of its
/// own (strings as JSON strings, numbers as numbers, booleans as true/false). `name` and the
/// keys are snake_case; a key must not be one of time, level, message or event.
///
///   log::event(spdlog::level::info, "listening", {{"address", address}, {"listener", name}},
///              fmt::format("listening on {} ({})", address, name));
void event(spdlog::level::level_enum level, std::string_view name,
           std::initializer_list<Field> fields, std::string_view text);

/// Appends `text` to `out` as the inside of a JSON string: quotes, backslashes and control
/// characters escaped; other bytes as they are.
void append_json_escaped(spdlog::memory_buf_t& out, std::string_view text);

/// The `%E` flag of a JSON pattern: `,"event":NAME,KEY:VALUE…` for a line logged by event(),
/// nothing for any other line. Add it with pattern_formatter::add_flag<EventFieldsFlag>('E').
class EventFieldsFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& message, const std::tm& time,
              spdlog::memory_buf_t& out) override;
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override;
};

}  // namespace zcrecv::log
