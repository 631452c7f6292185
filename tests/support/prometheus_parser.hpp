#pragma once

#include <map>
#include <string>
#include <vector>

namespace zcrecv::test {

/// A sample as Prometheus' own parser reads it.
struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

/// A metric family as Prometheus' own parser reads it. The Python client names a counter family
/// without its `_total` suffix (its samples keep it) and an untyped one "unknown".
struct ParsedFamily {
  std::string name;
  std::string type;
  std::string help;
  std::vector<ParsedSample> samples;
};

/// Parses a text exposition with a real Prometheus parser: Debian's python3-prometheus-client
/// (`prometheus_client.parser.text_string_to_metric_families`), run as /usr/bin/python3. Throws
/// std::runtime_error with Python's error output if the parser rejects the text.
std::vector<ParsedFamily> parse_with_prometheus_client(const std::string& text);

}  // namespace zcrecv::test
