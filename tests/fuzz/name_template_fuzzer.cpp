// Name templates on arbitrary text, rendered with fixed fields (ordinary ones and hostile ones).
// A rendered name must stay below the output directory whatever the template and the values:
// relative, no empty, "." or ".." segment, no control character, and a final name that is not
// hidden and does not end like a partial or cut file.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "output/name_template.hpp"

namespace {

using namespace zcrecv;

void check_rendered(const std::string& name, std::string_view text) {
  fuzz::check(!name.empty() && name.front() != '/', "a name is relative", name, text);
  std::size_t start = 0;
  while (true) {
    const std::size_t slash = name.find('/', start);
    const std::string_view segment =
        std::string_view(name).substr(start, slash == std::string::npos ? slash : slash - start);
    fuzz::check(!segment.empty() && segment != "." && segment != "..", "no empty, . or .. segment",
                name, text);
    if (slash == std::string::npos) {
      fuzz::check(segment.front() != '.', "the file name is not hidden", name, text);
      fuzz::check(!segment.ends_with(".part") && !segment.ends_with(".incomplete"),
                  "the file name has no reserved suffix", name, text);
      break;
    }
    start = slash + 1;
  }
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    fuzz::check(byte >= 0x20 && byte != 0x7f, "no control character", name, text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using std::chrono::seconds;
  using std::chrono::system_clock;
  static const std::vector<output::NameFields> kFields{
      {.listener = "tcp-9000",
       .peer = "10.0.0.5_51234",
       .conn = "0a1b2c3d-000001",
       .host = "ingest-1",
       .seq = 0,
       .opened = system_clock::time_point(seconds(1795517700)),
       .client_cn = {output::ClientCn::Kind::kVerified, "ingest.example.com"}},
      {.listener = "..",
       .peer = "",
       .conn = "/etc/passwd",
       .host = ".hidden\n",
       .seq = 1234567,
       .opened = system_clock::time_point(seconds(-1)),
       .client_cn = {}},
      {.listener = ".",
       .peer = "a/../b",
       .conn = "%s{seq}",
       .host = "\xff\x01",
       .seq = 999999,
       // The latest second the clock holds (in 2262: libstdc++ counts nanoseconds). Year 10000,
       // the date here before, overflowed the conversion (UBSan, in the corpus replay).
       .opened = std::chrono::floor<seconds>(system_clock::time_point::max()),
       .client_cn = {output::ClientCn::Kind::kVerified, "../CN=x/.."}},
  };
  const std::string_view text = fuzz::as_text(data, size);
  auto parsed = output::NameTemplate::parse(text);
  if (!parsed) {
    fuzz::check(parsed.error().message().starts_with("name template \""),
                "errors name the template", parsed.error().message());
    return 0;
  }
  fuzz::check(parsed->text() == text, "text() is the template as parsed", parsed->text(), text);
  for (const output::NameFields& fields : kFields) {
    check_rendered(parsed->render(fields), text);
  }
  return 0;
}
