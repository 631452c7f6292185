#include "support/json_object.hpp"

#include <cctype>

namespace zcrecv::test {
namespace {

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  std::optional<std::map<std::string, JsonValue>> object() {
    std::map<std::string, JsonValue> fields;
    skip_space();
    if (!take('{')) {
      return std::nullopt;
    }
    skip_space();
    if (!take('}')) {
      for (;;) {
        skip_space();
        std::optional<std::string> key = string();
        skip_space();
        if (!key || !take(':')) {
          return std::nullopt;
        }
        skip_space();
        std::optional<JsonValue> value = scalar();
        if (!value || !fields.emplace(std::move(*key), std::move(*value)).second) {
          return std::nullopt;
        }
        skip_space();
        if (take('}')) {
          break;
        }
        if (!take(',')) {
          return std::nullopt;
        }
      }
    }
    skip_space();
    return at_ == text_.size() ? std::optional(std::move(fields)) : std::nullopt;
  }

 private:
  bool take(char c) {
    if (at_ < text_.size() && text_[at_] == c) {
      ++at_;
      return true;
    }
    return false;
  }

  void skip_space() {
    while (at_ < text_.size() && (text_[at_] == ' ' || text_[at_] == '\n' ||
                                  text_[at_] == '\r' || text_[at_] == '\t')) {
      ++at_;
    }
  }

  std::optional<std::string> string() {
    if (!take('"')) {
      return std::nullopt;
    }
    std::string out;
    while (at_ < text_.size()) {
      const char c = text_[at_++];
      if (c == '"') {
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return std::nullopt;  // JSON strings hold no raw control characters
      }
      if (c != '\\') {
        out += c;
        continue;
      }
      if (at_ >= text_.size()) {
        return std::nullopt;
      }
      const char escaped = text_[at_++];
      switch (escaped) {
        case '"':
        case '\\':
        case '/':
          out += escaped;
          break;
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case 'u': {
          if (at_ + 4 > text_.size()) {
            return std::nullopt;
          }
          unsigned code = 0;
          for (int i = 0; i < 4; ++i) {
            const char h = text_[at_++];
            if (std::isxdigit(static_cast<unsigned char>(h)) == 0) {
              return std::nullopt;
            }
            code = code * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(h))
                                                         ? h - '0'
                                                         : std::tolower(h) - 'a' + 10);
          }
          // zcrecv escapes only control characters this way: one byte each.
          if (code > 0x7f) {
            return std::nullopt;
          }
          out += static_cast<char>(code);
          break;
        }
        default:
          return std::nullopt;
      }
    }
    return std::nullopt;
  }

  std::optional<JsonValue> scalar() {
    if (at_ < text_.size() && text_[at_] == '"') {
      std::optional<std::string> text = string();
      if (!text) {
        return std::nullopt;
      }
      return JsonValue{JsonValue::Kind::kString, std::move(*text)};
    }
    for (const auto& [word, kind] : {std::pair{std::string_view("true"), JsonValue::Kind::kBool},
                                     std::pair{std::string_view("false"), JsonValue::Kind::kBool},
                                     std::pair{std::string_view("null"), JsonValue::Kind::kNull}}) {
      if (text_.substr(at_, word.size()) == word) {
        at_ += word.size();
        return JsonValue{kind, std::string(word)};
      }
    }
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    const std::size_t start = at_;
    take('-');
    auto digits = [&] {
      const std::size_t from = at_;
      while (at_ < text_.size() && std::isdigit(static_cast<unsigned char>(text_[at_])) != 0) {
        ++at_;
      }
      return at_ - from;
    };
    const std::size_t integer_start = at_;
    const std::size_t integer_digits = digits();
    if (integer_digits == 0 || (integer_digits > 1 && text_[integer_start] == '0')) {
      return std::nullopt;
    }
    if (take('.') && digits() == 0) {
      return std::nullopt;
    }
    if (take('e') || take('E')) {
      if (!take('+')) {
        take('-');
      }
      if (digits() == 0) {
        return std::nullopt;
      }
    }
    return JsonValue{JsonValue::Kind::kNumber, std::string(text_.substr(start, at_ - start))};
  }

  std::string_view text_;
  std::size_t at_ = 0;
};

}  // namespace

std::optional<std::map<std::string, JsonValue>> parse_flat_json_object(std::string_view text) {
  return Parser(text).object();
}

}  // namespace zcrecv::test
