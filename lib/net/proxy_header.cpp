#include "net/proxy_header.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <utility>
#include <vector>

#include "net/crc32c.hpp"
#include "sys/quoted.hpp"

namespace zcrecv::net {
namespace {

using Parse = sys::Result<std::optional<ProxyHeader>>;

// The v2 signature begins with CR, which no v1 header ("PROXY ") can, so the first byte tells
// the versions apart. Its NUL and final "QUIT\n" are the spec's choice, so that a server not
// expecting the header stops rather than reads it as its own protocol.
constexpr std::string_view kV1Signature = "PROXY ";
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

// The longest each v1 field may be: "UNKNOWN", "255.255.255.255", an IPv6 address ending in a
// dotted quad, "65535".
constexpr std::size_t kV1ProtocolMax = 7;
constexpr std::size_t kV1Ipv4Max = 15;
constexpr std::size_t kV1Ipv6Max = INET6_ADDRSTRLEN - 1;
constexpr std::size_t kV1PortMax = 5;

// v2: the signature, ver_cmd, fam and len come before the address block.
// The spec's 16-byte fixed part: 12 signature bytes, ver_cmd, fam, then len, a 16-bit count in
// network byte order of the bytes that follow.
constexpr std::size_t kV2VersionCommandOffset = 12;
constexpr std::size_t kV2FamilyOffset = 13;
constexpr std::size_t kV2LengthOffset = 14;
constexpr std::size_t kV2FixedSize = 16;
constexpr unsigned kV2Version = 2;
constexpr unsigned kCommandLocal = 0x0;
constexpr unsigned kCommandProxy = 0x1;
constexpr unsigned kTransportStream = 0x1;
constexpr unsigned kTransportDgram = 0x2;
// sizeof sockaddr_un::sun_path on Linux; the spec's Unix block is two of them.
constexpr std::size_t kUnixAddressSize = 108;

constexpr std::size_t kTlvHeaderSize = 3;  // type, 16-bit length
// The TLV type numbers are the spec's PP2_TYPE_CRC32C and PP2_TYPE_SSL, and the client bits its
// PP2_CLIENT_SSL, PP2_CLIENT_CERT_CONN and PP2_CLIENT_CERT_SESS.
constexpr std::uint8_t kTypeCrc32c = 0x03;
constexpr std::uint8_t kTypeSsl = 0x20;
constexpr std::size_t kSslFixedSize = 5;  // client, 32-bit verify
constexpr std::uint8_t kClientSsl = 0x01;
constexpr std::uint8_t kClientCertConnection = 0x02;
constexpr std::uint8_t kClientCertSession = 0x04;

// The strings of the SSL TLV, by subtype.
struct SslString {
  std::uint8_t type;
  const char* name;
  std::string ProxySsl::*member;
};
constexpr std::array<SslString, 5> kSslStrings{{
    {0x21, "version", &ProxySsl::version},
    {0x22, "CN", &ProxySsl::common_name},
    {0x23, "cipher", &ProxySsl::cipher},
    {0x24, "signature algorithm", &ProxySsl::signature_algorithm},
    {0x25, "key algorithm", &ProxySsl::key_algorithm},
}};

sys::Error v1_invalid(const std::string& reason) {
  return sys::Error::invalid("PROXY v1: " + reason);
}

sys::Error v2_invalid(const std::string& reason) {
  return sys::Error::invalid("PROXY v2: " + reason);
}

std::string_view as_text(std::span<const std::byte> bytes) {
  return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

std::uint8_t byte_at(std::span<const std::byte> bytes, std::size_t offset) {
  return std::to_integer<std::uint8_t>(bytes[offset]);
}

std::uint16_t read_u16(std::span<const std::byte> bytes, std::size_t offset) {
  return static_cast<std::uint16_t>(byte_at(bytes, offset) << 8 | byte_at(bytes, offset + 1));
}

std::uint32_t read_u32(std::span<const std::byte> bytes, std::size_t offset) {
  return std::uint32_t{read_u16(bytes, offset)} << 16 | read_u16(bytes, offset + 2);
}

// "0x2a" for a byte, "0x0000002a" for a CRC.
std::string hex(std::uint32_t value, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text = "0x";
  for (int digit = digits - 1; digit >= 0; --digit) {
    text += kHex[(value >> (4 * digit)) & 0xfU];
  }
  return text;
}

std::string at_offset(std::size_t offset) { return " at offset " + std::to_string(offset); }

// Which signature `text` starts with; an error at the first byte that fits neither, nullopt
// while it fits one but is shorter than it.
sys::Result<std::optional<std::string_view>> match_signature(std::string_view text) {
  // One byte decides which signature to compare against, since the two differ in their first.
  std::string_view signature = text[0] == kV2Signature[0] ? kV2Signature : kV1Signature;
  std::size_t compared = std::min(text.size(), signature.size());
  auto wrong = std::mismatch(signature.begin(), signature.begin() + compared, text.begin()).first;
  if (wrong != signature.begin() + compared) {
    auto seen = static_cast<std::size_t>(wrong - signature.begin()) + 1;
    return sys::Error::invalid("not a PROXY protocol header (starts with " +
                               sys::quoted(text.substr(0, seen)) +
                               ", not \"PROXY \" or the v2 signature)");
  }
  if (compared < signature.size()) {
    return std::nullopt;
  }
  return signature;
}

// Version 1: one line of text.

// A v1 field and the byte after it, which ends it: ' ', '\r' or '\n'.
struct Field {
  std::string_view text;
  char end;
};

// A v1 line read field by field, within its first kMaxProxyV1Size bytes. Each field is judged
// once the byte after it has arrived, so that a header sent byte by byte meets the same checks
// as one sent at once. When the bytes run out first, stopped() says whether to wait for more or
// give up because the line is already too long.
class V1Reader {
 public:
  // The spec bounds the line: a receiver reads at most 107 bytes, CRLF included, looking for
  // the end, and a line with no CRLF by then is invalid, not merely incomplete.
  explicit V1Reader(std::string_view text)
      : line_(text.substr(0, kMaxProxyV1Size)),
        at_limit_(text.size() >= kMaxProxyV1Size),
        position_(kV1Signature.size()) {}

  // The next field, up to a space, CR or LF; nullopt if the line stops first (see stopped()).
  std::optional<Field> field(const std::string& name, std::size_t max_length) {
    std::size_t start = position_;
    for (; position_ < line_.size(); ++position_) {
      char c = line_[position_];
      if (c == ' ' || c == '\r' || c == '\n') {
        ++position_;
        return Field{line_.substr(start, position_ - 1 - start), c};
      }
      // A field is judged against its own maximum as it grows, so a long address is reported
      // as such rather than as a line with no CRLF.
      if (position_ - start == max_length) {
        stopped_ = v1_invalid(name + " starting " + sys::quoted(line_.substr(start, max_length + 1)) +
                              " is longer than " + std::to_string(max_length) + " bytes");
        return std::nullopt;
      }
    }
    run_out();
    return std::nullopt;
  }

  // Skips what UNKNOWN allows before the CRLF; false if the line stops first.
  bool skip_to_cr() {
    std::size_t cr = line_.find('\r', position_);
    if (cr == std::string_view::npos) {
      position_ = line_.size();
      run_out();
      return false;
    }
    position_ = cr + 1;
    return true;
  }

  // Called after the CR that ends the line: `header` with its length if an LF follows.
  Parse finish(ProxyHeader header) {
    if (position_ == line_.size()) {
      run_out();
      return stopped_;
    }
    if (line_[position_] != '\n') {
      return v1_invalid("CR not followed by LF");
    }
    header.length = position_ + 1;
    return header;
  }

  [[nodiscard]] const Parse& stopped() const { return stopped_; }

 private:
  void run_out() {
    if (at_limit_) {
      stopped_ =
          v1_invalid("no CRLF within the first " + std::to_string(kMaxProxyV1Size) + " bytes");
    } else {
      stopped_ = std::nullopt;
    }
  }

  std::string_view line_;
  bool at_limit_;
  std::size_t position_;
  Parse stopped_ = std::nullopt;
};

sys::Result<void> check_present(const Field& field, const std::string& name) {
  if (!field.text.empty()) {
    return {};
  }
  return v1_invalid((field.end == ' ' ? "two spaces before the " : "line ends before the ") + name);
}

// Whether a TCP4/TCP6 line's field is there and ended by a single space, or by CR if `last`.
sys::Result<void> check_delimiters(const Field& field, const std::string& name, bool last) {
  if (auto present = check_present(field, name); !present) {
    return present;
  }
  // The spec separates the fields with exactly one space.
  if (!last && field.end != ' ') {
    return v1_invalid("line ends after the " + name);
  }
  if (last && field.end == ' ') {
    return v1_invalid("extra field after the " + name);
  }
  if (last && field.end == '\n') {
    return v1_invalid("LF without CR after the " + name);
  }
  return {};
}

bool all_digits(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// The value of at most 5 decimal digits, which the callers have checked.
unsigned decimal(std::string_view digits) {
  unsigned value = 0;
  std::from_chars(digits.data(), digits.data() + digits.size(), value);
  return value;
}

// The spec's dotted quad: four decimal numbers 0-255, without leading zeros (which some
// parsers read as octal, so that two receivers would see different addresses).
sys::Result<void> check_ipv4(std::string_view text, const std::string& name) {
  auto refuse = [&](const std::string& detail) {
    return v1_invalid("TCP4 " + name + " " + sys::quoted(text) + " is not an IPv4 address" + detail);
  };
  std::size_t parts = 0;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = text.find('.', start);
    std::string_view part = text.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (++parts > 4 || part.empty() || part.size() > 3 || !all_digits(part)) {
      return refuse("");
    }
    if (part.size() > 1 && part[0] == '0') {
      return refuse(" (leading zero in " + sys::quoted(part) + ")");
    }
    if (decimal(part) > 255) {
      return refuse(" (" + std::string(part) + " is more than 255)");
    }
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  if (parts != 4) {
    return refuse("");
  }
  return {};
}

sys::Result<void> check_ipv6(std::string_view text, const std::string& name) {
  // Only the textual form's characters: inet_pton reads a C string, and would stop at a NUL.
  bool textual = std::all_of(text.begin(), text.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == ':' ||
           c == '.';
  });
  in6_addr address{};
  if (!textual || ::inet_pton(AF_INET6, std::string(text).c_str(), &address) != 1) {
    return v1_invalid("TCP6 " + name + " " + sys::quoted(text) + " is not an IPv6 address");
  }
  return {};
}

// A decimal port without leading zeros (as for the addresses, so that no one reads octal).
sys::Result<std::uint16_t> parse_port(std::string_view text, const std::string& name) {
  if (!all_digits(text)) {
    return v1_invalid(name + " " + sys::quoted(text) + " is not a decimal number");
  }
  if (text.size() > 1 && text[0] == '0') {
    return v1_invalid(name + " " + sys::quoted(text) + " has a leading zero");
  }
  const unsigned value = decimal(text);
  // Five digits pass the length check and may still exceed a 16-bit port.
  if (value > 65535) {
    return v1_invalid(name + " " + std::string(text) + " is more than 65535");
  }
  return static_cast<std::uint16_t>(value);
}

Parse parse_v1(std::string_view text) {
  V1Reader reader(text);
  ProxyHeader header;
  header.version = 1;

  auto protocol = reader.field("protocol", kV1ProtocolMax);
  if (!protocol) {
    return reader.stopped();
  }
  if (auto present = check_present(*protocol, "protocol"); !present) {
    return std::move(present).error();
  }
  if (protocol->text == "UNKNOWN") {
    // The rest of the line, if any, is to be ignored: the connection's own addresses stand.
    header.local = true;
    if (protocol->end == '\n') {
      return v1_invalid("LF without CR after UNKNOWN");
    }
    if (protocol->end == ' ' && !reader.skip_to_cr()) {
      return reader.stopped();
    }
    return reader.finish(std::move(header));
  }
  const bool v4 = protocol->text == "TCP4";
  if (!v4 && protocol->text != "TCP6") {
    return v1_invalid("unknown protocol " + sys::quoted(protocol->text) +
                      " (expected TCP4, TCP6 or UNKNOWN)");
  }
  if (protocol->end != ' ') {
    return v1_invalid("line ends after " + std::string(protocol->text) +
                      " (expected two addresses and two ports)");
  }

  const std::array<std::string, 4> names{"source address", "destination address", "source port",
                                         "destination port"};
  std::array<std::string_view, 2> addresses;
  std::array<std::uint16_t, 2> ports{};
  for (std::size_t i = 0; i < names.size(); ++i) {
    const bool is_port = i >= 2;
    auto field = reader.field(names[i], is_port ? kV1PortMax : v4 ? kV1Ipv4Max : kV1Ipv6Max);
    if (!field) {
      return reader.stopped();
    }
    if (auto delimited = check_delimiters(*field, names[i], i + 1 == names.size()); !delimited) {
      return std::move(delimited).error();
    }
    if (is_port) {
      auto port = parse_port(field->text, names[i]);
      if (!port) {
        return std::move(port).error();
      }
      ports[i - 2] = *port;
    } else {
      auto valid = v4 ? check_ipv4(field->text, names[i]) : check_ipv6(field->text, names[i]);
      if (!valid) {
        return std::move(valid).error();
      }
      addresses[i] = field->text;
    }
  }
  header.source = SocketAddress::from_ip(addresses[0], ports[0]);
  header.destination = SocketAddress::from_ip(addresses[1], ports[1]);
  return reader.finish(std::move(header));
}

// Version 2: binary.

// The address block that a family stands for.
struct AddressBlock {
  const char* name;
  std::size_t size;
  int family;
};

// The fam byte: the families the spec lists, streams only for the PROXY command.
sys::Result<AddressBlock> address_block(std::uint8_t family_transport, unsigned command) {
  // The spec's block sizes: INET is two 4-byte addresses and two ports, INET6 two 16-byte addresses
  // and two ports, UNIX two 108-byte paths.
  static constexpr std::array<AddressBlock, 4> kBlocks{{
      {"UNSPEC", 0, AF_UNSPEC},
      {"INET", 12, AF_INET},
      {"INET6", 36, AF_INET6},
      {"UNIX", 2 * kUnixAddressSize, AF_UNIX},
  }};
  static constexpr std::array<const char*, 4> kFamilyNames{"", "IPv4", "IPv6", "Unix"};
  const unsigned family = family_transport >> 4U;
  const unsigned transport = family_transport & 0xfU;
  const bool listed =
      family_transport == 0x00 || (family >= 1 && family < kBlocks.size() &&
                                   (transport == kTransportStream || transport == kTransportDgram));
  if (!listed) {
    return v2_invalid("unknown family and transport (fam " + hex(family_transport, 2) + ")");
  }
  // A datagram header describes a UDP (or Unix datagram) flow, not the byte stream it arrived
  // on: the sender is misconfigured, and its addresses would be credited to the wrong traffic.
  // LOCAL headers ignore the family, so theirs only sizes the block to skip.
  if (transport == kTransportDgram && command == kCommandProxy) {
    return v2_invalid("fam " + hex(family_transport, 2) + " is datagrams over " +
                      kFamilyNames[family] + ", but only streams can be received");
  }
  return kBlocks[family];
}

SocketAddress inet_address(std::span<const std::byte> address, std::span<const std::byte> port) {
  // Both are in network byte order already, as sockaddr_in wants them.
  sockaddr_in in{};
  in.sin_family = AF_INET;
  std::memcpy(&in.sin_addr, address.data(), sizeof in.sin_addr);
  std::memcpy(&in.sin_port, port.data(), sizeof in.sin_port);
  return {reinterpret_cast<const sockaddr*>(&in), sizeof in};
}

SocketAddress inet6_address(std::span<const std::byte> address, std::span<const std::byte> port) {
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  std::memcpy(&in6.sin6_addr, address.data(), sizeof in6.sin6_addr);
  std::memcpy(&in6.sin6_port, port.data(), sizeof in6.sin6_port);
  return {reinterpret_cast<const sockaddr*>(&in6), sizeof in6};
}

// One of the two 108-byte fields of a Unix address block, laid out as sun_path.
sys::Result<SocketAddress> unix_address(std::span<const std::byte> field, const std::string& name) {
  std::string_view text = as_text(field);
  if (text[0] != '\0') {
    std::size_t end = text.find('\0');
    if (end == std::string_view::npos) {
      return v2_invalid("Unix " + name + " has no NUL within its " +
                        std::to_string(kUnixAddressSize) + " bytes");
    }
    return SocketAddress::unix_path(text.substr(0, end));
  }
  // A leading NUL is Linux's abstract namespace. The name's length is not sent, so trailing NULs
  // are taken as padding; nothing but NULs is an unbound socket, as most clients' are.
  std::size_t last = text.find_last_not_of('\0');
  if (last == std::string_view::npos) {
    sockaddr unbound{};
    unbound.sa_family = AF_UNIX;
    return SocketAddress(&unbound, sizeof unbound.sa_family);
  }
  return SocketAddress::unix_abstract(text.substr(1, last));
}

struct Endpoints {
  SocketAddress source;
  SocketAddress destination;
};

sys::Result<Endpoints> read_endpoints(std::span<const std::byte> block, int family) {
  switch (family) {
    case AF_INET:
      return Endpoints{inet_address(block.subspan(0, 4), block.subspan(8, 2)),
                       inet_address(block.subspan(4, 4), block.subspan(10, 2))};
    case AF_INET6:
      return Endpoints{inet6_address(block.subspan(0, 16), block.subspan(32, 2)),
                       inet6_address(block.subspan(16, 16), block.subspan(34, 2))};
    default: {
      auto source = unix_address(block.subspan(0, kUnixAddressSize), "source address");
      if (!source) {
        return std::move(source).error();
      }
      auto destination =
          unix_address(block.subspan(kUnixAddressSize, kUnixAddressSize), "destination address");
      if (!destination) {
        return std::move(destination).error();
      }
      return Endpoints{*source, *destination};
    }
  }
}

struct Tlv {
  std::uint8_t type;
  std::size_t offset;  // of the type byte, from the start of the header
  std::span<const std::byte> value;
};

// The TLVs in header[begin, end), each checked to end by `end`: the reads past a TLV's end that
// these checks prevent are where the CVEs in Apache's mod_remoteip, go-proxyproto and HAProxy
// came from. `what` names the TLVs and `container` what holds them, for the messages.
sys::Result<std::vector<Tlv>> split_tlvs(std::span<const std::byte> header, std::size_t begin,
                                         std::size_t end, const std::string& what,
                                         const std::string& container) {
  std::vector<Tlv> tlvs;
  std::size_t offset = begin;
  while (offset < end) {
    std::size_t left = end - offset;
    if (left < kTlvHeaderSize) {
      return v2_invalid(what + at_offset(offset) + " is cut short: " + std::to_string(left) +
                        " bytes left in " + container + ", a TLV header takes 3");
    }
    std::uint8_t type = byte_at(header, offset);
    std::size_t length = read_u16(header, offset + 1);
    if (length > left - kTlvHeaderSize) {
      return v2_invalid(what + " " + hex(type, 2) + at_offset(offset) + " has length " +
                        std::to_string(length) + ", past the end of " + container + " (" +
                        std::to_string(left - kTlvHeaderSize) + " bytes left)");
    }
    tlvs.push_back({type, offset, header.subspan(offset + kTlvHeaderSize, length)});
    offset += kTlvHeaderSize + length;
  }
  return tlvs;
}

// The spec's check: the CRC32C of the whole header, with the checksum's own 4 bytes as zeros.
sys::Result<void> check_crc32c(std::span<const std::byte> header, const Tlv& tlv) {
  static constexpr std::array<std::byte, 4> kZeros{};
  if (tlv.value.size() != kZeros.size()) {
    return v2_invalid("CRC32C TLV" + at_offset(tlv.offset) + " has length " +
                      std::to_string(tlv.value.size()) + ", not 4");
  }
  const std::size_t field = tlv.offset + kTlvHeaderSize;
  std::uint32_t crc = crc32c(header.first(field));
  crc = crc32c(kZeros, crc);
  crc = crc32c(header.subspan(field + kZeros.size()), crc);
  const std::uint32_t sent = read_u32(header, field);
  if (crc != sent) {
    return v2_invalid("CRC32C mismatch: the header says " + hex(sent, 8) + ", its bytes give " +
                      hex(crc, 8));
  }
  return {};
}

sys::Result<ProxySsl> parse_ssl(std::span<const std::byte> header, const Tlv& tlv) {
  if (tlv.value.size() < kSslFixedSize) {
    return v2_invalid("SSL TLV" + at_offset(tlv.offset) + " has length " +
                      std::to_string(tlv.value.size()) +
                      ", shorter than its client and verify fields (5 bytes)");
  }
  ProxySsl ssl;
  const std::uint8_t client = byte_at(tlv.value, 0);
  ssl.client_ssl = (client & kClientSsl) != 0;
  ssl.client_cert_connection = (client & kClientCertConnection) != 0;
  ssl.client_cert_session = (client & kClientCertSession) != 0;
  // The spec's verify field is 0 when the client's certificate was verified.
  ssl.verified = read_u32(tlv.value, 1) == 0;

  const std::size_t value_offset = tlv.offset + kTlvHeaderSize;
  auto subs = split_tlvs(header, value_offset + kSslFixedSize, value_offset + tlv.value.size(),
                         "SSL sub-TLV", "the SSL TLV");
  if (!subs) {
    return std::move(subs).error();
  }
  std::array<bool, kSslStrings.size()> seen{};
  for (const Tlv& sub : *subs) {
    auto known = std::find_if(kSslStrings.begin(), kSslStrings.end(),
                              [&sub](const SslString& string) { return string.type == sub.type; });
    if (known == kSslStrings.end()) {
      // The spec asks receivers to ignore TLV types they do not know.
      continue;  // a subtype added after these, skipped as the spec allows
    }
    auto index = static_cast<std::size_t>(known - kSslStrings.begin());
    const std::string name = std::string("SSL ") + known->name;
    if (seen[index]) {
      return v2_invalid("second " + name + at_offset(sub.offset));
    }
    seen[index] = true;
    if (sub.value.size() > kMaxProxySslStringSize) {
      return v2_invalid(name + at_offset(sub.offset) + " is " + std::to_string(sub.value.size()) +
                        " bytes, more than " + std::to_string(kMaxProxySslStringSize));
    }
    ssl.*(known->member) = std::string(as_text(sub.value));
  }
  return ssl;
}

Parse parse_v2(std::span<const std::byte> bytes) {
  if (bytes.size() <= kV2VersionCommandOffset) {
    return std::nullopt;
  }
  const std::uint8_t version_command = byte_at(bytes, kV2VersionCommandOffset);
  const unsigned version = version_command >> 4U;
  const unsigned command = version_command & 0xfU;
  if (version != kV2Version) {
    return v2_invalid("version " + std::to_string(version) + " (ver_cmd " +
                      hex(version_command, 2) + "), expected 2");
  }
  if (command != kCommandLocal && command != kCommandProxy) {
    return v2_invalid("unknown command " + std::to_string(command) + " (ver_cmd " +
                      hex(version_command, 2) + "), expected 0 (LOCAL) or 1 (PROXY)");
  }
  if (bytes.size() <= kV2FamilyOffset) {
    return std::nullopt;
  }
  auto block = address_block(byte_at(bytes, kV2FamilyOffset), command);
  if (!block) {
    return std::move(block).error();
  }
  if (bytes.size() < kV2FixedSize) {
    return std::nullopt;
  }
  const std::size_t length = read_u16(bytes, kV2LengthOffset);
  // A length too short for the family's block would make its addresses be read from the TLVs or
  // past the header.
  if (length < block->size) {
    return v2_invalid("length " + std::to_string(length) + " is shorter than the " + block->name +
                      " address block (" + std::to_string(block->size) + " bytes)");
  }
  const std::size_t total = kV2FixedSize + length;
  // 4096 is this receiver's cap (it peeks at most that much, §4.3), not the spec's: len alone
  // would allow 16 + 65535 bytes.
  if (total > kMaxProxyHeaderSize) {
    return v2_invalid("length " + std::to_string(length) + " makes a " + std::to_string(total) +
                      "-byte header, more than the " + std::to_string(kMaxProxyHeaderSize) +
                      " accepted");
  }
  // The spec forbids acting on a partial header; wait for all of it so that the CRC32C and the
  // TLVs are checked on the bytes that will be consumed.
  if (bytes.size() < total) {
    return std::nullopt;
  }
  const std::span<const std::byte> header = bytes.first(total);

  ProxyHeader result;
  result.version = 2;
  result.length = total;
  // The spec: with LOCAL the receiver uses the connection's real endpoints and ignores the
  // address block; UNSPEC carries no addresses either.
  result.local = command == kCommandLocal || block->family == AF_UNSPEC;
  if (!result.local) {
    auto endpoints = read_endpoints(header.subspan(kV2FixedSize, block->size), block->family);
    if (!endpoints) {
      return std::move(endpoints).error();
    }
    result.source = endpoints->source;
    result.destination = endpoints->destination;
  }

  auto tlvs = split_tlvs(header, kV2FixedSize + block->size, total, "TLV", "the header");
  if (!tlvs) {
    return std::move(tlvs).error();
  }
  // Repeats first, then the checksum (a mismatch means the rest cannot be trusted), then SSL.
  const Tlv* crc32c_tlv = nullptr;
  const Tlv* ssl_tlv = nullptr;
  for (const Tlv& tlv : *tlvs) {
    if (tlv.type == kTypeCrc32c) {
      if (crc32c_tlv != nullptr) {
        return v2_invalid("second CRC32C TLV" + at_offset(tlv.offset));
      }
      crc32c_tlv = &tlv;
    } else if (tlv.type == kTypeSsl) {
      if (ssl_tlv != nullptr) {
        return v2_invalid("second SSL TLV" + at_offset(tlv.offset));
      }
      ssl_tlv = &tlv;
    }
    // Every other type (ALPN, AUTHORITY, NOOP, UNIQUE_ID, NETNS, custom) is bounds-checked
    // above and not needed here.
  }
  if (crc32c_tlv != nullptr) {
    if (auto checked = check_crc32c(header, *crc32c_tlv); !checked) {
      return std::move(checked).error();
    }
  }
  if (ssl_tlv != nullptr) {
    auto ssl = parse_ssl(header, *ssl_tlv);
    if (!ssl) {
      return std::move(ssl).error();
    }
    result.ssl = std::move(*ssl);
  }
  return result;
}

}  // namespace

sys::Result<std::optional<ProxyHeader>> parse_proxy_header(std::span<const std::byte> bytes) {
  // Bytes beyond the cap cannot belong to an acceptable header; parsing never looks at them.
  bytes = bytes.first(std::min(bytes.size(), kMaxProxyHeaderSize));
  if (bytes.empty()) {
    return std::nullopt;
  }
  auto signature = match_signature(as_text(bytes));
  if (!signature) {
    return std::move(signature).error();
  }
  if (!*signature) {
    return std::nullopt;
  }
  return **signature == kV1Signature ? parse_v1(as_text(bytes)) : parse_v2(bytes);
}

}  // namespace zcrecv::net
