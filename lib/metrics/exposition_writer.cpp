#include "metrics/exposition_writer.hpp"

#include <array>
#include <cassert>
#include <charconv>
#include <cmath>
#include <cstddef>

namespace zcrecv::metrics {
namespace {

bool is_letter_or_underscore(char c) noexcept {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

std::string_view type_name(MetricType type) noexcept {
  switch (type) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kGauge:
      return "gauge";
    case MetricType::kHistogram:
      return "histogram";
    case MetricType::kUntyped:
      return "untyped";
  }
  return "untyped";
}

// HELP text escapes backslash and newline; a label value escapes the double quote as well.
void append_escaped(std::string& out, std::string_view text, bool quote) {
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      // Only a label value is quoted in the text format, so only there does '"' need escaping; in
      // HELP text a backslash before it would be shown as is.
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

void append_value(std::string& out, std::uint64_t value) {
  // to_chars rather than a stream or snprintf: no locale (a decimal comma would break the format)
  // and no allocation; 20 digits hold any 64-bit value.
  std::array<char, 24> digits{};
  auto [end, error] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
  out.append(digits.data(), end);
}

void append_value(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    // The text format's own spellings (Go's ParseFloat reads them); to_chars would write "inf".
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    // The shortest text that reads back to the same double: "0.005", "1", "1e-07".
    std::array<char, 32> digits{};
    auto [end, error] = std::to_chars(digits.data(), digits.data() + digits.size(), value);
    out.append(digits.data(), end);
  }
}

}  // namespace

bool is_valid_metric_name(std::string_view name) noexcept {
  if (name.empty() || !(is_letter_or_underscore(name[0]) || name[0] == ':')) {
    return false;
  }
  for (char c : name) {
    if (!is_letter_or_underscore(c) && !is_digit(c) && c != ':') {
      return false;
    }
  }
  return true;
}

bool is_valid_label_name(std::string_view name) noexcept {
  // Label names starting with "__" are reserved for Prometheus's own use.
  if (name.empty() || !is_letter_or_underscore(name[0]) || name.starts_with("__")) {
    return false;
  }
  for (char c : name) {
    if (!is_letter_or_underscore(c) && !is_digit(c)) {
      return false;
    }
  }
  return true;
}

void ExpositionWriter::family(std::string_view name, MetricType type, std::string_view help) {
  assert(is_valid_metric_name(name) && "metric name [a-zA-Z_:][a-zA-Z0-9_:]*");
  // A family written twice would give two HELP/TYPE lines for one name, which Prometheus rejects:
  // the whole scrape would fail, not just the family.
  [[maybe_unused]] const bool first = families_.emplace(name).second;
  assert(first && "a family is written once, its samples together");
  family_ = name;
  type_ = type;
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type_name(type);
  text_ += '\n';
}

void ExpositionWriter::sample(std::uint64_t value, std::initializer_list<Label> labels) {
  assert(!family_.empty() && type_ != MetricType::kHistogram && "a plain sample needs its family");
  write_series("", labels, nullptr);
  append_value(text_, value);
  text_ += '\n';
}

void ExpositionWriter::sample(double value, std::initializer_list<Label> labels) {
  assert(!family_.empty() && type_ != MetricType::kHistogram && "a plain sample needs its family");
  write_series("", labels, nullptr);
  append_value(text_, value);
  text_ += '\n';
}

void ExpositionWriter::histogram(const HistogramSnapshot& snapshot,
                                 std::initializer_list<Label> labels) {
  assert(type_ == MetricType::kHistogram && "a histogram sample needs a histogram family");
  std::string bound;
  // Buckets in increasing order of `le`, ending with +Inf, whose cumulative count is _count: the
  // text format requires both, and the snapshot's counts are cumulative already.
  for (std::size_t i = 0; i < snapshot.upper_bounds.size(); ++i) {
    bound.clear();
    // The bound in its shortest exact form: "0.005", not "0.0050000000000000001", so that `le`
    // values match those of other exporters in queries.
    append_value(bound, snapshot.upper_bounds[i]);
    const Label le{"le", bound};
    write_series("_bucket", labels, &le);
    append_value(text_, snapshot.cumulative_counts[i]);
    text_ += '\n';
  }
  write_series("_sum", labels, nullptr);
  append_value(text_, snapshot.sum);
  text_ += '\n';
  write_series("_count", labels, nullptr);
  append_value(text_, snapshot.count);
  text_ += '\n';
}

void ExpositionWriter::write_series(std::string_view suffix, std::initializer_list<Label> labels,
                                    const Label* extra) {
  text_ += family_;
  text_ += suffix;
  if (labels.size() == 0 && extra == nullptr) {
    text_ += ' ';
    return;
  }
  char separator = '{';
  auto append_label = [&](const Label& label) {
    text_ += separator;
    text_ += label.name;
    text_ += "=\"";
    append_escaped(text_, label.value, true);
    text_ += '"';
    separator = ',';
  };
  for (const Label& label : labels) {
    assert(is_valid_label_name(label.name) && "label name [a-zA-Z_][a-zA-Z0-9_]*");
    assert((extra == nullptr || label.name != extra->name) && "le is the histogram's own label");
    append_label(label);
  }
  if (extra != nullptr) {
    append_label(*extra);
  }
  text_ += "} ";
}

}  // namespace zcrecv::metrics
