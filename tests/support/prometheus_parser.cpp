#include "support/prometheus_parser.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "support/process.hpp"
#include "sys/unique_fd.hpp"

namespace zcrecv::test {
namespace {

// Prints one line per family ("F NAME TYPE HELP") and per sample ("S NAME VALUE LABEL=VALUE
// ..."). Strings go as "x" + hex of their UTF-8 bytes, so that no escaping stands between
// Python's reading and the test's; values as repr(), which reads back to the same double.
constexpr const char* kScript = R"(
import sys
from prometheus_client.parser import text_string_to_metric_families
def x(text):
    return "x" + text.encode().hex()
for family in text_string_to_metric_families(sys.stdin.read()):
    print("F", x(family.name), family.type, x(family.documentation))
    for sample in family.samples:
        labels = [x(name) + "=" + x(value) for name, value in sample.labels.items()]
        print("S", x(sample.name), repr(sample.value), *labels)
)";

std::string unhex(const std::string& field) {
  if (field.empty() || field[0] != 'x' || field.size() % 2 != 1) {
    throw std::runtime_error("parser output: bad string field " + field);
  }
  std::string text;
  for (std::size_t i = 1; i < field.size(); i += 2) {
    text += static_cast<char>(std::stoi(field.substr(i, 2), nullptr, 16));
  }
  return text;
}

// The text as a file at offset 0, for the child's standard input.
sys::UniqueFd memory_file(const std::string& text) {
  sys::UniqueFd fd(::memfd_create("exposition", MFD_CLOEXEC));
  if (!fd) {
    throw std::system_error(errno, std::system_category(), "memfd_create");
  }
  if (::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size()) ||
      ::lseek(fd.get(), 0, SEEK_SET) != 0) {
    throw std::system_error(errno, std::system_category(), "writing the exposition");
  }
  return fd;
}

}  // namespace

std::vector<ParsedFamily> parse_with_prometheus_client(const std::string& text) {
  sys::UniqueFd input = memory_file(text);
  Process python({"/usr/bin/python3", "-c", kScript}, {.stdin_fd = input.get()});
  if (int status = python.wait(); status != 0) {
    throw std::runtime_error("prometheus_client rejected the exposition (status " +
                             std::to_string(status) + "):\n" + python.stderr_text() + "\ntext:\n" +
                             text);
  }
  std::vector<ParsedFamily> families;
  std::istringstream lines(python.stdout_text());
  for (std::string line; std::getline(lines, line);) {
    std::istringstream fields(line);
    std::string kind;
    std::string name;
    fields >> kind >> name;
    if (kind == "F") {
      ParsedFamily family;
      std::string help;
      fields >> family.type >> help;
      family.name = unhex(name);
      family.help = unhex(help);
      families.push_back(std::move(family));
    } else if (kind == "S" && !families.empty()) {
      ParsedSample sample;
      sample.name = unhex(name);
      std::string value;
      fields >> value;
      sample.value = std::strtod(value.c_str(), nullptr);
      for (std::string label; fields >> label;) {
        auto equals = label.find('=');
        sample.labels[unhex(label.substr(0, equals))] = unhex(label.substr(equals + 1));
      }
      families.back().samples.push_back(std::move(sample));
    } else {
      throw std::runtime_error("parser output: unexpected line " + line);
    }
  }
  return families;
}

}  // namespace zcrecv::test
