#pragma once

#include <climits>
#include <cstddef>
#include <string>
#include <string_view>

namespace zcrecv::output {

/// {client_cn}: what a proxy said of the client's TLS certificate on this connection.
struct ClientCn {
  enum class Kind {
    /// No certificate: no TLS, no SSL TLV, no proxy, or a connection the proxy made itself.
    kNoCertificate,
    /// A certificate the proxy did not verify: its CN is anybody's choice, so it is not used.
    kUnverified,
    /// A verified certificate; `name` is its CN (possibly empty).
    kVerified,
  };
  Kind kind = Kind::kNoCertificate;
  /// The CN, the sender's bytes unchecked (kVerified only).
  std::string name;

  bool operator==(const ClientCn&) const = default;
};

/// The longest rendering of one client value in a name.
inline constexpr std::size_t kMaxClientValueSize = 64;
/// The longest path component a rendered name may have: NAME_MAX less room for what is added
/// to a file name on disk ("." before and ".part" after a partial name, ".N" for a collision,
/// ".incomplete" for a cut stream).
inline constexpr std::size_t kMaxNameComponentSize = NAME_MAX - 32;

/// A value a client chose (a certificate's CN, a PROXY header's addresses), as part of a file
/// name. Bytes in [A-Za-z0-9_.-] stay, every other byte is escaped as '+' and two lowercase hex
/// digits ("a/b" → "a+2fb", "+" → "+2b"), and so is a leading '.' or '-': the result never
/// holds a '/', never starts a name with '.' or '-', and two distinct values never render
/// alike. An empty value renders as "+empty". A rendering longer than kMaxClientValueSize is
/// cut (never inside an escape) and ends in "+h" and 16 hex digits of a 64-bit hash of the
/// whole value, so that long values stay apart.
std::string render_client_value(std::string_view value);

/// {client_cn}: "+nocert" without a certificate, "+unverified" for one the proxy did not
/// verify, else render_client_value of the CN ("+empty" for an empty one). No CN renders as
/// either marker: a '+' followed by a letter past 'f' is not an escape.
std::string render_client_cn(const ClientCn& client_cn);

/// A rendered name (components separated by '/') made safe to create whatever values went into
/// it: a component longer than kMaxNameComponentSize keeps its start and its extension (a last
/// '.' among its final 16 bytes) around "+h" and a 64-bit hash of the whole component; a file
/// name (the last component) ending in ".part" or ".incomplete" gets a '+' appended, so that a
/// finished file never reads as a partial or cut one.
std::string bounded_name(std::string name);

}  // namespace zcrecv::output
