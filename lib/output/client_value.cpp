#include "output/client_value.hpp"

#include <cstdint>

namespace zcrecv::output {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr char kEscape = '+';
// "+h" and 16 hex digits.
constexpr std::size_t kHashSuffixSize = 2 + 16;
// A component keeps an extension this long at most when it is shortened.
constexpr std::size_t kMaxKeptExtension = 16;

bool is_kept_byte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

void append_escaped(std::string& out, char c) {
  auto byte = static_cast<unsigned char>(c);
  out += kEscape;
  out += kHex[byte >> 4];
  out += kHex[byte & 0xf];
}

// FNV-1a, 64 bits: not a cryptographic hash, but no input found by chance or by a fuzzer makes
// two values collide, and a deliberate collision only costs the ".N" of a name already taken.
std::uint64_t hash64(std::string_view text) {
  std::uint64_t hash = 0xcbf29ce484222325ULL;
  for (char c : text) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 0x100000001b3ULL;
  }
  return hash;
}

std::string hash_suffix(std::string_view text) {
  std::string out = "+h";
  const std::uint64_t hash = hash64(text);
  for (int shift = 60; shift >= 0; shift -= 4) {
    out += kHex[(hash >> shift) & 0xf];
  }
  return out;
}

bool ends_with(std::string_view text, std::string_view suffix) {
  return text.size() >= suffix.size() && text.substr(text.size() - suffix.size()) == suffix;
}

std::string bounded_component(std::string_view component) {
  if (component.size() <= kMaxNameComponentSize) {
    return std::string(component);
  }
  std::string_view extension;
  const std::size_t dot = component.rfind('.');
  if (dot != std::string_view::npos && dot > 0 && component.size() - dot <= kMaxKeptExtension) {
    extension = component.substr(dot);
  }
  const std::size_t head = kMaxNameComponentSize - kHashSuffixSize - extension.size();
  return std::string(component.substr(0, head)) + hash_suffix(component) + std::string(extension);
}

}  // namespace

std::string render_client_value(std::string_view value) {
  if (value.empty()) {
    // An empty value would turn "a/{client_cn}/b" into "a//b", and must not read like any
    // value: '+' and a letter past 'f' is no escape.
    return "+empty";
  }
  std::string out;
  // Where each byte's rendering starts, to cut between two of them, never inside an escape.
  std::size_t cut = 0;
  const std::size_t budget = kMaxClientValueSize - kHashSuffixSize;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const char c = value[i];
    // A leading '.' would hide the name or make "."/".."; a leading '-' reads as an option to
    // every tool a hook hands the name to.
    const bool keep = is_kept_byte(c) && !(i == 0 && (c == '.' || c == '-'));
    if (keep) {
      out += c;
    } else {
      append_escaped(out, c);
    }
    if (out.size() <= budget) {
      cut = out.size();
    }
  }
  if (out.size() <= kMaxClientValueSize) {
    return out;
  }
  out.resize(cut);
  return out + hash_suffix(value);
}

std::string render_client_cn(const ClientCn& client_cn) {
  switch (client_cn.kind) {
    case ClientCn::Kind::kNoCertificate:
      return "+nocert";
    case ClientCn::Kind::kUnverified:
      return "+unverified";
    case ClientCn::Kind::kVerified:
      break;
  }
  return render_client_value(client_cn.name);
}

std::string bounded_name(std::string name) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t slash = name.find('/', start);
    const std::string_view component =
        std::string_view(name).substr(start, slash == std::string::npos ? slash : slash - start);
    out += bounded_component(component);
    if (slash == std::string::npos) {
      break;
    }
    out += '/';
    start = slash + 1;
  }
  // A template cannot end in ".part" or ".incomplete" (NameTemplate::parse), but a value can
  // complete one ("{client_cn}" with CN "x.part", "{client_cn}rt" with "x.pa"). A value never
  // ends in '+', so the mark cannot make the name of another value.
  if (ends_with(out, ".part") || ends_with(out, ".incomplete")) {
    out += kEscape;
  }
  return out;
}

}  // namespace zcrecv::output
