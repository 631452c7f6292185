// The listen address parser on arbitrary text. An accepted address must print (to_string, the
// canonical form used in logs and `listening on ADDR`) as text that parses back to the same
// address, and its default listener name must be usable as {listener}.

#include <cstddef>
#include <cstdint>
#include <string>

#include "config/config.hpp"
#include "fuzz_check.hpp"
#include "net/listen_address.hpp"

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace zcrecv;
  const std::string_view text = fuzz::as_text(data, size);
  auto address = net::parse_listen_address(text);
  if (!address) {
    fuzz::check(address.error().message().starts_with("listen address \""),
                "errors name the listen address", address.error().message());
    return 0;
  }
  const std::string canonical = address->to_string();
  auto again = net::parse_listen_address(canonical);
  fuzz::check(again.ok(), "to_string parses back", canonical, text);
  fuzz::check(*again == *address, "to_string parses back to the same address", canonical, text);

  const std::string name = config::default_listener_name(text);
  bool valid = !name.empty() && name != "." && name != "..";
  for (const char c : name) {
    valid = valid && is_name_char(c);
  }
  fuzz::check(valid, "the default listener name is one file name component", name, text);
  return 0;
}
