// The configuration loader on arbitrary documents, with the validators wired as the command line
// wires them (cmd/zcrecv/main.cpp make_validators). A document it accepts must survive to_toml:
// the printed form loads back to an equal Config and prints the same text (--check-config).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.hpp"
#include "fuzz_check.hpp"
#include "output/name_template.hpp"

namespace {

using namespace zcrecv;

config::Validators make_validators() {
  config::Validators validators;
  validators.name_template = [](std::string_view text) -> std::optional<std::string> {
    auto parsed = output::NameTemplate::parse(text);
    return parsed ? std::nullopt : std::optional(parsed.error().message());
  };
  return validators;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const config::Validators kValidators = make_validators();
  auto loaded = config::load_config_string(fuzz::as_text(data, size), "fuzz.toml", kValidators);
  if (!loaded) {
    fuzz::check(!loaded.error().message().empty(), "a refused document has an error message");
    return 0;
  }
  const std::string printed = config::to_toml(*loaded);
  auto reloaded = config::load_config_string(printed, "printed.toml", kValidators);
  fuzz::check(reloaded.ok(), "to_toml output loads back",
              reloaded ? std::string_view() : reloaded.error().message(), printed);
  fuzz::check(*reloaded == *loaded, "to_toml output loads back to an equal Config", printed);
  const std::string reprinted = config::to_toml(*reloaded);
  fuzz::check(reprinted == printed, "to_toml is a fixed point", reprinted, printed);
  return 0;
}
