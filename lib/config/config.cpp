#include "config/config.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <algorithm>
#include <array>
#include <cerrno>
#include <limits>
#include <span>
#include <sstream>
#include <utility>

#include "config/units.hpp"
#include "sys/quoted.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::config {
namespace {

constexpr std::array kLogLevels{LogLevel::kTrace, LogLevel::kDebug, LogLevel::kInfo,
                                LogLevel::kWarn, LogLevel::kError};
constexpr std::array kLogFormats{LogFormat::kText, LogFormat::kJson};
constexpr std::array kSyncModes{SyncMode::kNone, SyncMode::kPublish};
constexpr std::array kOnPublishDone{OnPublishDone::kKeep, OnPublishDone::kRemove};
constexpr std::array kTimeZones{TimeZone::kUtc, TimeZone::kLocal};

// The known keys of each table: an unknown key is an error (§9.2), and its message lists these
// so that a misspelling shows its correction.
constexpr std::array<std::string_view, 8> kTopKeys{"log_level", "log_format", "workers",
                                                   "listen",    "output",     "limits",
                                                   "metrics",   "retention"};
constexpr std::array<std::string_view, 12> kListenKeys{
    "address",    "name",    "allow",          "mode",       "owner",        "group",
    "allow_uids", "receipt", "proxy_protocol", "proxy_from", "proxy_timeout", "allow_proxy_local"};
constexpr std::array<std::string_view, 16> kOutputKeys{
    "directory",       "name",         "max_file_size",          "rotate_interval",
    "sync",            "sync_threads", "writeback_bytes",        "file_mode",
    "keep_empty",      "on_publish",   "on_publish_concurrency", "on_publish_timeout",
    "on_publish_done", "time_zone",    "record_delimiter",       "record_max"};
constexpr std::array<std::string_view, 7> kLimitsKeys{
    "max_connections",      "max_connections_per_peer", "idle_timeout",
    "max_connection_bytes", "shutdown_timeout",         "min_free_space",
    "disk_full_timeout"};
constexpr std::array<std::string_view, 1> kMetricsKeys{"listen"};
constexpr std::array<std::string_view, 4> kRetentionKeys{"max_bytes", "max_files", "max_age",
                                                         "check_interval"};
constexpr std::int64_t kMaxFiles = std::numeric_limits<std::int64_t>::max();

// (uid_t)-1 and (gid_t)-1 mean "leave unchanged" to chown(2), so they cannot name an owner.
constexpr std::int64_t kMaxId = std::numeric_limits<std::uint32_t>::max() - 1;
// Counts are kept in 32 bits by the settings that use them; the check at load says so with a
// position instead of truncating later.
constexpr std::int64_t kMaxCount = std::numeric_limits<std::uint32_t>::max();
// getpwnam_r asks for more room with ERANGE; past 1 MiB that ERANGE is reported as the error
// rather than the buffer growing without bound.
constexpr std::size_t kMaxLookupBuffer = std::size_t{1} << 20;

template <class Enum, std::size_t N>
std::optional<Enum> parse_enum(std::string_view text, const std::array<Enum, N>& values) {
  for (const Enum value : values) {
    if (to_string(value) == text) {
      return value;
    }
  }
  return std::nullopt;
}

template <class Enum, std::size_t N>
std::string one_of(const std::array<Enum, N>& values) {
  std::string text = "one of";
  for (std::size_t i = 0; i < N; ++i) {
    text += (i == 0 ? " " : ", ") + sys::quoted(to_string(values[i]));
  }
  return text;
}

template <std::size_t N>
std::string join(const std::array<std::string_view, N>& words) {
  std::string text;
  for (const std::string_view word : words) {
    text += (text.empty() ? "" : ", ") + std::string(word);
  }
  return text;
}

// docs/design.md §9.1: "unix:" or any value containing '/' is a Unix socket, everything else TCP.
bool is_unix_address(std::string_view address) {
  return address.starts_with("unix:") || address.find('/') != std::string_view::npos;
}

bool is_name_char(char c) {
  // POSIX's portable file name character set: letters, digits, '.', '_' and '-'.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '_' || c == '-';
}

// Listener names go into file names through {listener}, so they must be one path component.
bool is_valid_listener_name(std::string_view name) {
  return !name.empty() && name != "." && name != ".." && std::ranges::all_of(name, is_name_char);
}

/// What an error message shows for a value it did not expect.
std::string describe(const toml::node& node) {
  if (const auto* text = node.as_string()) {
    return sys::quoted(text->get());
  }
  if (const auto* integer = node.as_integer()) {
    return std::to_string(integer->get());
  }
  if (const auto* boolean = node.as_boolean()) {
    return boolean->get() ? "true" : "false";
  }
  if (const auto* number = node.as_floating_point()) {
    std::ostringstream text;
    text << number->get();
    return text.str();
  }
  if (const auto* array = node.as_array()) {
    return array->empty() ? "an empty array" : "an array";
  }
  if (node.is_table()) {
    return "a table";
  }
  if (node.is_date()) {
    return "a date";
  }
  if (node.is_time()) {
    return "a time";
  }
  return "a date-time";
}

/// Runs a getpwnam_r-style `lookup(buffer)` (returning its error number and the id found),
/// growing the buffer while it is too small. std::nullopt means there is no such name.
template <class Lookup>
sys::Result<std::optional<std::uint32_t>> lookup_id(int size_hint, const std::string& call,
                                                    Lookup lookup) {
  const long hint = ::sysconf(size_hint);
  // sysconf may answer -1 (no fixed limit); the buffer then starts small and grows on ERANGE.
  std::vector<char> buffer(hint > 0 ? static_cast<std::size_t>(hint) : 1024);
  while (true) {
    const auto [err, id] = lookup(std::span<char>(buffer));
    if (err == ERANGE && buffer.size() < kMaxLookupBuffer) {
      buffer.resize(buffer.size() * 2);
      continue;
    }
    // getpwnam_r(3): an unknown name may also be reported as ENOENT, ESRCH, EBADF or EPERM.
    if (err == 0 || err == ENOENT || err == ESRCH || err == EBADF || err == EPERM) {
      return id;
    }
    return sys::Error::from_errno(err, call);
  }
}

sys::Result<std::optional<std::uint32_t>> lookup_user(const std::string& name) {
  return lookup_id(
      _SC_GETPW_R_SIZE_MAX, "getpwnam_r(" + sys::quoted(name) + ")", [&name](std::span<char> buffer) {
        passwd entry{};
        passwd* found = nullptr;
        const int err = ::getpwnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
        return std::pair{err, found == nullptr ? std::nullopt : std::optional(found->pw_uid)};
      });
}

sys::Result<std::optional<std::uint32_t>> lookup_group(const std::string& name) {
  return lookup_id(
      _SC_GETGR_R_SIZE_MAX, "getgrnam_r(" + sys::quoted(name) + ")", [&name](std::span<char> buffer) {
        group entry{};
        group* found = nullptr;
        const int err = ::getgrnam_r(name.c_str(), &entry, buffer.data(), buffer.size(), &found);
        return std::pair{err, found == nullptr ? std::nullopt : std::optional(found->gr_gid)};
      });
}

sys::Result<std::string> read_file(const std::string& path) {
  const std::string object = "config file " + sys::quoted(path);
  sys::Result<sys::UniqueFd> fd = sys::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (!fd.ok()) {
    return fd.error().with_context(object);
  }
  std::string text;
  std::array<char, std::size_t{64} * 1024> buffer{};
  while (true) {
    const sys::IoResult got = sys::read(fd->get(), std::as_writable_bytes(std::span(buffer)));
    if (!got.ok()) {
      return got.error().with_context(object);
    }
    const std::size_t count = got->value_or(0);
    if (count == 0) {
      return text;
    }
    text.append(buffer.data(), count);
  }
}

/// One problem of a document, kept with its position so that all of them can be reported in
/// document order (toml++ tables iterate in key order).
struct Problem {
  toml::source_index line;
  toml::source_index column;
  std::string text;
};

/// Walks a parsed document into a Config, collecting every problem instead of stopping at the
/// first: a user fixing a file wants the whole list at once.
class Reader {
 public:
  Reader(std::string_view source_name, const Validators& validators)
      : source_name_(source_name), validators_(validators) {}

  Config read(const toml::table& root) {
    Config config;
    // Unknown keys are reported rather than ignored: a misspelt limit would otherwise leave its
    // default silently in force.
    for (const auto& [key, node] : root) {
      const std::string path(key.str());
      if (path == "log_level") {
        config.log_level = read_enum(node, path, kLogLevels).value_or(config.log_level);
      } else if (path == "log_format") {
        config.log_format = read_enum(node, path, kLogFormats).value_or(config.log_format);
      } else if (path == "workers") {
        config.workers = static_cast<std::uint32_t>(
            read_integer(node, path, 0, kMaxWorkers).value_or(config.workers));
      } else if (path == "listen") {
        config.listeners = read_listeners(node);
      } else if (path == "output") {
        config.output = read_output(node);
      } else if (path == "limits") {
        config.limits = read_limits(node);
      } else if (path == "metrics") {
        config.metrics = read_metrics(node);
      } else if (path == "retention") {
        config.retention = read_retention(node);
      } else {
        unknown_key(key, path, "the top level", join(kTopKeys));
      }
    }
    return config;
  }

  /// Every problem found, one per line in document order; empty if there were none.
  [[nodiscard]] std::string problems() {
    // Stable: two problems at the same position keep the order they were found in.
    std::ranges::stable_sort(problems_, [](const Problem& left, const Problem& right) {
      return std::pair(left.line, left.column) < std::pair(right.line, right.column);
    });
    std::string text;
    for (const Problem& problem : problems_) {
      text += (text.empty() ? "" : "\n") + problem.text;
    }
    return text;
  }

 private:
  [[nodiscard]] std::string where(const toml::source_region& at, std::string_view key) const {
    return source_name_ + ":" + std::to_string(at.begin.line) + ":" +
           std::to_string(at.begin.column) + ": " + std::string(key);
  }

  /// Records `message`, which already starts with `where(at, ...)`.
  void add(const toml::source_region& at, std::string message) {
    problems_.push_back(Problem{at.begin.line, at.begin.column, std::move(message)});
  }

  void report(const toml::source_region& at, std::string_view key, std::string_view message) {
    add(at, where(at, key) + ": " + std::string(message));
  }

  void expected(const toml::node& node, std::string_view key, std::string_view expectation) {
    report(node.source(), key, "expected " + std::string(expectation) + ", got " + describe(node));
  }

  void unknown_key(const toml::key& key, std::string_view path, std::string_view section,
                   const std::string& known) {
    report(key.source(), path,
           "expected a key of " + std::string(section) + " (" + known + "), got unknown key " +
               sys::quoted(key.str()));
  }

  std::optional<std::string> read_string(const toml::node& node, std::string_view key) {
    if (const auto* text = node.as_string()) {
      return text->get();
    }
    expected(node, key, "a string");
    return std::nullopt;
  }

  std::optional<std::int64_t> read_integer(const toml::node& node, std::string_view key,
                                           std::int64_t min, std::int64_t max) {
    const auto* integer = node.as_integer();
    if (integer == nullptr || integer->get() < min || integer->get() > max) {
      expected(node, key, "an integer " + std::to_string(min) + ".." + std::to_string(max));
      return std::nullopt;
    }
    return integer->get();
  }

  std::optional<bool> read_bool(const toml::node& node, std::string_view key) {
    if (const auto* boolean = node.as_boolean()) {
      return boolean->get();
    }
    expected(node, key, "true or false");
    return std::nullopt;
  }

  template <class Enum, std::size_t N>
  std::optional<Enum> read_enum(const toml::node& node, std::string_view key,
                                const std::array<Enum, N>& values) {
    if (const auto* text = node.as_string()) {
      if (const std::optional<Enum> value = parse_enum(text->get(), values)) {
        return value;
      }
    }
    expected(node, key, one_of(values));
    return std::nullopt;
  }

  /// A string that `parse` (parse_size, parse_duration, parse_mode) turns into a T; its
  /// messages are prefixed with the position and key.
  template <class T>
  std::optional<T> read_parsed(const toml::node& node, std::string_view key,
                               sys::Result<T> (*parse)(std::string_view, std::string_view)) {
    const std::optional<std::string> text = read_string(node, key);
    if (!text) {
      return std::nullopt;
    }
    sys::Result<T> parsed = parse(*text, where(node.source(), key));
    if (!parsed.ok()) {
      add(node.source(), parsed.error().message());
      return std::nullopt;
    }
    return std::move(parsed).value();
  }

  /// A string that `make` (make_address, make_cidr) parses, kept with its text and origin.
  template <class T>
  std::optional<Sourced<T>> read_sourced(const toml::node& node, std::string_view key,
                                         sys::Result<Sourced<T>> (*make)(std::string_view,
                                                                         Origin)) {
    const std::optional<std::string> text = read_string(node, key);
    if (!text) {
      return std::nullopt;
    }
    auto parsed = make(*text, Origin{where(node.source(), key)});
    if (!parsed) {
      report(node.source(), key, parsed.error().message());
      return std::nullopt;
    }
    return std::move(parsed).value();
  }

  /// A string another layer parses, checked by its validator and kept with its origin.
  std::optional<SourcedString> read_checked(
      const toml::node& node, std::string_view key,
      const std::function<std::optional<std::string>(std::string_view)>& validator) {
    const std::optional<std::string> text = read_string(node, key);
    if (!text) {
      return std::nullopt;
    }
    if (validator) {
      if (const std::optional<std::string> reason = validator(*text)) {
        report(node.source(), key, *reason);
        return std::nullopt;
      }
    }
    return SourcedString{*text, Origin{where(node.source(), key)}};
  }

  /// An owner or group: a numeric id (integer or string of digits) or a name, resolved now.
  // Names are resolved at load, not at bind: a reload with an unknown user then fails before
  // anything changes (§9.3), instead of failing halfway through opening the listeners.
  std::optional<std::uint32_t> read_id(const toml::node& node, std::string_view key, bool is_user) {
    const std::string expectation = std::string(is_user ? "an existing user name or a uid"
                                                        : "an existing group name or a gid") +
                                    " 0.." + std::to_string(kMaxId);
    if (const auto* integer = node.as_integer()) {
      if (integer->get() < 0 || integer->get() > kMaxId) {
        expected(node, key, expectation);
        return std::nullopt;
      }
      return static_cast<std::uint32_t>(integer->get());
    }
    const auto* text = node.as_string();
    if (text == nullptr || text->get().empty()) {
      expected(node, key, expectation);
      return std::nullopt;
    }
    const std::string& name = text->get();
    // A string of digits is an id, not a name: "1000" means uid 1000 even if a user is so named.
    if (std::ranges::all_of(name, [](char c) { return c >= '0' && c <= '9'; })) {
      const sys::Result<std::uint64_t> id = parse_count(name, key, 0, static_cast<std::uint64_t>(kMaxId));
      if (!id) {
        expected(node, key, expectation);
        return std::nullopt;
      }
      return static_cast<std::uint32_t>(*id);
    }
    const sys::Result<std::optional<std::uint32_t>> found =
        is_user ? lookup_user(name) : lookup_group(name);
    if (!found.ok()) {
      report(node.source(), key, found.error().message());
      return std::nullopt;
    }
    if (!*found) {
      expected(node, key, expectation);
    }
    return *found;
  }

  std::vector<ListenerConfig> read_listeners(const toml::node& node) {
    const auto* array = node.as_array();
    if (array == nullptr || array->empty()) {
      expected(node, "listen", "at least one [[listen]] table");
      return {};
    }
    std::vector<ListenerConfig> listeners;
    std::vector<toml::source_region> name_positions;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const toml::node& element = *array->get(i);
      const std::string path = "listen[" + std::to_string(i) + "]";
      const auto* table = element.as_table();
      if (table == nullptr) {
        expected(element, path, "a [[listen]] table");
        continue;
      }
      listeners.push_back(read_listener(*table, path));
      const toml::node* name = table->get("name");
      name_positions.push_back(name != nullptr ? name->source() : table->source());
    }
    // Names must differ: a listener's counters are kept by its name across reloads, and {listener}
    // in file names would otherwise mix two streams.
    for (std::size_t i = 0; i < listeners.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        if (listeners[i].name == listeners[j].name) {
          report(name_positions[i], "listen[" + std::to_string(i) + "].name",
                 "expected a name no other listener has, got " + sys::quoted(listeners[i].name) +
                     ", the name of listen[" + std::to_string(j) + "] too");
          break;
        }
      }
    }
    return listeners;
  }

  ListenerConfig read_listener(const toml::table& table, const std::string& path) {
    ListenerConfig listener;
    const std::string address_key = path + ".address";
    listener.address.origin = Origin{where(table.source(), address_key)};
    // The address as written decides which keys belong here, even when it fails validation.
    std::string address = listener.address.text;
    if (const toml::node* node = table.get("address")) {
      if (const auto* text = node->as_string()) {
        address = text->get();
      }
      listener.address =
          read_sourced(*node, address_key, make_address).value_or(listener.address);
    } else {
      // A default here would put two such tables on the same port; a listener says where.
      report(table.source(), address_key,
             "expected an address like \":9000\" or \"unix:/run/x.sock\", got none (every "
             "[[listen]] table needs one)");
    }
    const bool is_unix = is_unix_address(address);
    listener.name = default_listener_name(address);
    ProxyKeys proxy_keys;
    for (const auto& [key, node] : table) {
      const std::string name(key.str());
      const std::string key_path = path + "." + name;
      // Checked against the address as written, so that a Unix-only key on a TCP listener is
      // an error with its position rather than an option silently ignored.
      const bool unix_only =
          name == "mode" || name == "owner" || name == "group" || name == "allow_uids";
      const bool tcp_only = name == "allow" || name == "proxy_from" || name == "allow_proxy_local";
      if (name == "address") {
        continue;
      }
      if (name == "name") {
        const std::optional<std::string> text = read_string(node, key_path);
        if (text && !is_valid_listener_name(*text)) {
          expected(node, key_path,
                   R"(a name of letters, digits, '.', '_' and '-' other than "." and "..")");
        } else if (text) {
          listener.name = *text;
        }
      } else if ((tcp_only && is_unix) || (unix_only && !is_unix)) {
        report(node.source(), key_path,
               std::string(is_unix ? "expected only in a TCP [[listen]], got unix address "
                                   : "expected only in a unix [[listen]], got TCP address ") +
                   sys::quoted(address));
      } else if (name == "allow") {
        listener.allow =
            read_cidrs(node, key_path, "an array of CIDRs (leave allow out to let everyone in)");
      } else if (name == "proxy_protocol") {
        listener.proxy_protocol = read_bool(node, key_path).value_or(false);
        proxy_keys.proxy_protocol = &node;
      } else if (name == "proxy_from") {
        listener.proxy_from =
            read_cidrs(node, key_path, "an array of CIDRs, the proxies that may connect");
        proxy_keys.proxy_from = &node;
      } else if (name == "allow_proxy_local") {
        listener.allow_proxy_local = read_bool(node, key_path).value_or(false);
        proxy_keys.allow_proxy_local = &node;
      } else if (name == "proxy_timeout") {
        const auto timeout = read_parsed<std::chrono::nanoseconds>(node, key_path, parse_duration);
        if (timeout && timeout->count() == 0) {
          // A header that never comes must be cut: a connection could otherwise hold its slot
          // for ever without sending a byte.
          expected(node, key_path, "a duration above 0, like \"5s\"");
        } else {
          listener.proxy_timeout = timeout.value_or(listener.proxy_timeout);
        }
        proxy_keys.proxy_timeout = &node;
      } else if (name == "mode") {
        listener.mode = read_parsed<mode_t>(node, key_path, parse_mode);
      } else if (name == "owner") {
        listener.owner = read_id(node, key_path, true);
      } else if (name == "group") {
        listener.group = read_id(node, key_path, false);
      } else if (name == "allow_uids") {
        listener.allow_uids = read_uids(node, key_path);
      } else if (name == "receipt") {
        listener.receipt = read_bool(node, key_path).value_or(listener.receipt);
      } else {
        unknown_key(key, key_path, "[[listen]]", join(kListenKeys));
      }
    }
    // After the loop: the keys can come in any order, so whether they go together is known only
    // once all of them are read.
    check_proxy_keys(listener.proxy_protocol, is_unix, path, proxy_keys);
    return listener;
  }

  // The PROXY protocol keys of one [[listen]] table, where they were found.
  struct ProxyKeys {
    const toml::node* proxy_protocol = nullptr;
    const toml::node* proxy_from = nullptr;
    const toml::node* proxy_timeout = nullptr;
    const toml::node* allow_proxy_local = nullptr;
  };

  // proxy_from and proxy_timeout go with proxy_protocol = true, which needs proxy_from on TCP.
  void check_proxy_keys(bool proxy_protocol, bool is_unix, const std::string& path,
                        const ProxyKeys& keys) {
    if (keys.proxy_protocol != nullptr && !keys.proxy_protocol->is_boolean()) {
      return;  // reported already; what it was meant to be is unknown
    }
    if (!proxy_protocol) {
      // A misspelt or forgotten proxy_protocol must not leave these silently unused.
      for (const auto& [node, key] : {std::pair{keys.proxy_from, ".proxy_from"},
                                      std::pair{keys.proxy_timeout, ".proxy_timeout"},
                                      std::pair{keys.allow_proxy_local, ".allow_proxy_local"}}) {
        if (node != nullptr) {
          report(node->source(), path + key,
                 "expected only with proxy_protocol = true, got proxy_protocol = false");
        }
      }
      return;
    }
    if (!is_unix && keys.proxy_from == nullptr) {
      // Without it, any host that can reach the port could claim to be any client.
      report(keys.proxy_protocol->source(), path + ".proxy_from",
             "expected the CIDRs of the proxies that may send a PROXY header, required with "
             "proxy_protocol = true on a TCP listener, got none");
    }
  }

  std::vector<SourcedCidr> read_cidrs(const toml::node& node, const std::string& key,
                                      std::string_view expectation) {
    const auto* array = node.as_array();
    if (array == nullptr || array->empty()) {
      expected(node, key, expectation);
      return {};
    }
    std::vector<SourcedCidr> cidrs;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const std::string element_key = key + "[" + std::to_string(i) + "]";
      // Each CIDR is parsed once, here; nothing parses it again (§9.2).
      if (std::optional<SourcedCidr> cidr = read_sourced(*array->get(i), element_key, make_cidr)) {
        cidrs.push_back(std::move(*cidr));
      }
    }
    return cidrs;
  }

  std::vector<uid_t> read_uids(const toml::node& node, const std::string& key) {
    const auto* array = node.as_array();
    if (array == nullptr || array->empty()) {
      expected(node, key, "an array of uids (leave allow_uids out to let every uid in)");
      return {};
    }
    std::vector<uid_t> uids;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const std::string element_key = key + "[" + std::to_string(i) + "]";
      if (const std::optional<std::int64_t> uid =
              read_integer(*array->get(i), element_key, 0, kMaxId)) {
        uids.push_back(static_cast<uid_t>(*uid));
      }
    }
    return uids;
  }

  OutputConfig read_output(const toml::node& node) {
    OutputConfig output;
    const auto* table = node.as_table();
    if (table == nullptr) {
      expected(node, "output", "an [output] table");
      return output;
    }
    const toml::node* file_mode = nullptr;
    for (const auto& [key, value] : *table) {
      const std::string name(key.str());
      const std::string path = "output." + name;
      if (name == "directory") {
        const std::optional<std::string> directory = read_string(value, path);
        if (directory && directory->empty()) {
          expected(value, path, "a directory path");
        } else {
          output.directory = directory.value_or(output.directory);
        }
      } else if (name == "name") {
        const auto* text = value.as_string();
        if (text != nullptr && text->get().empty()) {
          expected(value, path, "a name template");
        } else {
          // The template belongs to `output`; its validator is injected so that its errors keep the
          // position in the file (§9.2).
          output.name = read_checked(value, path, validators_.name_template).value_or(output.name);
        }
      } else if (name == "max_file_size") {
        output.max_file_size =
            read_parsed<std::uint64_t>(value, path, parse_size).value_or(output.max_file_size);
      } else if (name == "rotate_interval") {
        output.rotate_interval = read_parsed<std::chrono::nanoseconds>(value, path, parse_duration)
                                     .value_or(output.rotate_interval);
      } else if (name == "sync") {
        output.sync = read_enum(value, path, kSyncModes).value_or(output.sync);
      } else if (name == "sync_threads") {
        output.sync_threads = static_cast<std::uint32_t>(
            read_integer(value, path, 1, kMaxSyncThreads).value_or(output.sync_threads));
      } else if (name == "writeback_bytes") {
        output.writeback_bytes =
            read_parsed<std::uint64_t>(value, path, parse_size).value_or(output.writeback_bytes);
      } else if (name == "file_mode") {
        output.file_mode = read_parsed<mode_t>(value, path, parse_mode).value_or(output.file_mode);
        file_mode = &value;
      } else if (name == "keep_empty") {
        output.keep_empty = read_bool(value, path).value_or(output.keep_empty);
      } else if (name == "on_publish") {
        output.on_publish = read_hook(value, path);
      } else if (name == "on_publish_concurrency") {
        output.on_publish_concurrency =
            static_cast<std::uint32_t>(read_integer(value, path, 1, kMaxHookConcurrency)
                                           .value_or(output.on_publish_concurrency));
      } else if (name == "on_publish_timeout") {
        const auto timeout = read_parsed<std::chrono::nanoseconds>(value, path, parse_duration);
        if (timeout && timeout->count() == 0) {
          // A hook without a time limit could hold its slot for ever.
          expected(value, path, "a duration above 0, like \"5m\"");
        } else {
          output.on_publish_timeout = timeout.value_or(output.on_publish_timeout);
        }
      } else if (name == "on_publish_done") {
        output.on_publish_done =
            read_enum(value, path, kOnPublishDone).value_or(output.on_publish_done);
      } else if (name == "time_zone") {
        output.time_zone = read_enum(value, path, kTimeZones).value_or(output.time_zone);
      } else if (name == "record_delimiter") {
        const std::optional<std::string> delimiter = read_string(value, path);
        // One byte: the boundary search (§4.6) looks for a single byte in the peeked window.
        if (delimiter && delimiter->size() > 1) {
          expected(value, path, R"(one byte, like "\n", or "" for none)");
        } else {
          output.record_delimiter = delimiter.value_or(output.record_delimiter);
        }
      } else if (name == "record_max") {
        const auto record_max = read_parsed<std::uint64_t>(value, path, parse_size);
        // Zero would leave no window in which to look for a delimiter before max_file_size.
        if (record_max && *record_max == 0) {
          expected(value, path, "a size above 0, like \"64KiB\"");
        } else {
          output.record_max = record_max.value_or(output.record_max);
        }
      } else {
        unknown_key(key, path, "[output]", join(kOutputKeys));
      }
    }
    // The hand-off record is an extended attribute of each file, which only a writer of the
    // file may set.
    if (file_mode != nullptr && !output.on_publish.empty() && (output.file_mode & S_IWUSR) == 0) {
      expected(*file_mode, "output.file_mode",
               "a mode with the owner's write bit (0200) when on_publish records hand-offs in "
               "each file's extended attributes");
    }
    return output;
  }

  /// `on_publish`: an argv; empty turns hand-off off.
  std::vector<SourcedString> read_hook(const toml::node& node, const std::string& key) {
    const auto* array = node.as_array();
    if (array == nullptr) {
      expected(
          node, key,
          R"(an array of strings, a program and its arguments, like ["/usr/local/bin/ship", "{path}"])");
      return {};
    }
    std::vector<SourcedString> argv;
    for (std::size_t i = 0; i < array->size(); ++i) {
      const std::string element_key = key + "[" + std::to_string(i) + "]";
      // The program has a check of its own: it must not be empty, and a literal one is
      // checked now rather than when the first file is published.
      if (std::optional<SourcedString> argument =
              read_checked(*array->get(i), element_key,
                           i == 0 ? validators_.hook_program : validators_.hook_argument)) {
        argv.push_back(std::move(*argument));
      }
    }
    return argv;
  }

  LimitsConfig read_limits(const toml::node& node) {
    LimitsConfig limits;
    const auto* table = node.as_table();
    if (table == nullptr) {
      expected(node, "limits", "a [limits] table");
      return limits;
    }
    for (const auto& [key, value] : *table) {
      const std::string name(key.str());
      const std::string path = "limits." + name;
      if (name == "max_connections") {
        limits.max_connections = static_cast<std::uint32_t>(
            read_integer(value, path, 1, kMaxCount).value_or(limits.max_connections));
      } else if (name == "max_connections_per_peer") {
        limits.max_connections_per_peer = static_cast<std::uint32_t>(
            read_integer(value, path, 1, kMaxCount).value_or(limits.max_connections_per_peer));
      } else if (name == "idle_timeout") {
        limits.idle_timeout = read_parsed<std::chrono::nanoseconds>(value, path, parse_duration)
                                  .value_or(limits.idle_timeout);
      } else if (name == "max_connection_bytes") {
        limits.max_connection_bytes = read_parsed<std::uint64_t>(value, path, parse_size)
                                          .value_or(limits.max_connection_bytes);
      } else if (name == "shutdown_timeout") {
        limits.shutdown_timeout = read_parsed<std::chrono::nanoseconds>(value, path, parse_duration)
                                      .value_or(limits.shutdown_timeout);
      } else if (name == "min_free_space") {
        limits.min_free_space = read_min_free_space(value, path).value_or(limits.min_free_space);
      } else if (name == "disk_full_timeout") {
        limits.disk_full_timeout =
            read_parsed<std::chrono::nanoseconds>(value, path, parse_duration)
                .value_or(limits.disk_full_timeout);
      } else {
        unknown_key(key, path, "[limits]", join(kLimitsKeys));
      }
    }
    return limits;
  }

  // "auto" (std::nullopt inside the optional) or a size; std::nullopt when it is neither.
  std::optional<std::optional<std::uint64_t>> read_min_free_space(const toml::node& node,
                                                                  std::string_view key) {
    const std::optional<std::string> text = read_string(node, key);
    if (!text) {
      return std::nullopt;
    }
    // "auto" is kept as such, not resolved: its floor depends on the size of the filesystem, which
    // is known only once the output directory is open.
    if (*text == "auto") {
      return std::optional<std::uint64_t>();
    }
    sys::Result<std::uint64_t> size = parse_size(*text, key);
    if (!size.ok()) {
      report(node.source(), key,
             R"(expected a size like "256MiB", "0" (no check) or "auto", got )" + sys::quoted(*text));
      return std::nullopt;
    }
    return std::optional<std::uint64_t>(*size);
  }

  MetricsConfig read_metrics(const toml::node& node) {
    MetricsConfig metrics;
    const auto* table = node.as_table();
    if (table == nullptr) {
      expected(node, "metrics", "a [metrics] table");
      return metrics;
    }
    for (const auto& [key, value] : *table) {
      const std::string name(key.str());
      const std::string path = "metrics." + name;
      if (name == "listen") {
        metrics.listen = read_sourced(value, path, make_address);
      } else {
        unknown_key(key, path, "[metrics]", join(kMetricsKeys));
      }
    }
    return metrics;
  }

  RetentionConfig read_retention(const toml::node& node) {
    RetentionConfig retention;
    const auto* table = node.as_table();
    if (table == nullptr) {
      expected(node, "retention", "a [retention] table");
      return retention;
    }
    for (const auto& [key, value] : *table) {
      const std::string name(key.str());
      const std::string path = "retention." + name;
      if (name == "max_bytes") {
        retention.max_bytes =
            read_parsed<std::uint64_t>(value, path, parse_size).value_or(retention.max_bytes);
      } else if (name == "max_files") {
        retention.max_files = static_cast<std::uint64_t>(
            read_integer(value, path, 0, kMaxFiles)
                .value_or(static_cast<std::int64_t>(retention.max_files)));
      } else if (name == "max_age") {
        retention.max_age = read_parsed<std::chrono::nanoseconds>(value, path, parse_duration)
                                .value_or(retention.max_age);
      } else if (name == "check_interval") {
        const auto interval = read_parsed<std::chrono::nanoseconds>(value, path, parse_duration);
        if (interval && interval->count() == 0) {
          // The timer check is what applies max_age to files nobody publishes next to.
          expected(value, path, "a duration above 0, like \"1m\"");
        } else {
          retention.check_interval = interval.value_or(retention.check_interval);
        }
      } else {
        unknown_key(key, path, "[retention]", join(kRetentionKeys));
      }
    }
    return retention;
  }

  std::string source_name_;
  const Validators& validators_;
  std::vector<Problem> problems_;
};

void append_line(std::string& toml, std::string_view key, std::string_view value) {
  toml += std::string(key) + " = " + std::string(value) + "\n";
}

template <class List, class Format>
std::string toml_array(const List& items, Format format) {
  std::string text = "[";
  for (const auto& item : items) {
    text += (text.size() == 1 ? "" : ", ") + format(item);
  }
  return text + "]";
}

}  // namespace

std::string_view to_string(LogLevel level) {
  switch (level) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "info";
}

std::string_view to_string(LogFormat format) {
  switch (format) {
    case LogFormat::kText:
      return "text";
    case LogFormat::kJson:
      return "json";
  }
  return "text";
}

std::string_view to_string(SyncMode sync) {
  switch (sync) {
    case SyncMode::kNone:
      return "none";
    case SyncMode::kPublish:
      return "publish";
  }
  return "publish";
}

std::string_view to_string(OnPublishDone done) {
  switch (done) {
    case OnPublishDone::kKeep:
      return "keep";
    case OnPublishDone::kRemove:
      return "remove";
  }
  return "keep";
}

std::string_view to_string(TimeZone zone) {
  switch (zone) {
    case TimeZone::kUtc:
      return "UTC";
    case TimeZone::kLocal:
      return "local";
  }
  return "UTC";
}

std::optional<LogLevel> parse_log_level(std::string_view text) {
  return parse_enum(text, kLogLevels);
}

std::optional<LogFormat> parse_log_format(std::string_view text) {
  return parse_enum(text, kLogFormats);
}

std::optional<SyncMode> parse_sync_mode(std::string_view text) {
  return parse_enum(text, kSyncModes);
}

std::uint64_t min_free_space_for(std::optional<std::uint64_t> configured,
                                 std::uint64_t filesystem_bytes) {
  // A configured floor is used as given, "0" included (no check).
  if (configured) {
    return *configured;
  }
  // Whole KiB, so that the log and --check-config show "2457KiB" rather than "2516582".
  const std::uint64_t share = filesystem_bytes / 100 * kAutoMinFreeSpacePercent / 1024 * 1024;
  return std::min(kAutoMinFreeSpaceCap, share);
}

std::string describe_min_free_space(std::optional<std::uint64_t> configured,
                                    std::uint64_t filesystem_bytes) {
  const std::string floor = format_size(min_free_space_for(configured, filesystem_bytes));
  if (configured) {
    return floor;
  }
  return floor + " (auto: the smaller of " + format_size(kAutoMinFreeSpaceCap) + " and " +
         std::to_string(kAutoMinFreeSpacePercent) + " % of " + format_size(filesystem_bytes) + ")";
}

namespace {

// `parsed`, the value `text` parses to, kept with the text and its origin.
template <class T>
sys::Result<Sourced<T>> keep_source(sys::Result<T> parsed, std::string_view text, Origin origin) {
  if (!parsed) {
    return std::move(parsed).error();
  }
  return Sourced<T>{std::string(text), std::move(origin), std::move(parsed).value()};
}

}  // namespace

sys::Result<SourcedAddress> make_address(std::string_view text, Origin origin) {
  return keep_source(net::parse_listen_address(text), text, std::move(origin));
}

sys::Result<SourcedCidr> make_cidr(std::string_view text, Origin origin) {
  return keep_source(net::Cidr::parse(text), text, std::move(origin));
}

std::string default_listener_name(std::string_view address) {
  std::string name;
  if (is_unix_address(address)) {
    std::string_view path = address.starts_with("unix:") ? address.substr(5) : address;
    // "unix:@name" is an abstract socket; otherwise the file name says enough.
    // After the last '/', or the whole path when there is none: rfind gives npos, and
    // npos + 1 is 0.
    path = path.starts_with('@') ? path.substr(1) : path.substr(path.rfind('/') + 1);
    name = "unix-" + std::string(path);
  } else {
    // rfind: an IPv6 address in brackets has colons of its own; the port follows the last one.
    const std::size_t colon = address.rfind(':');
    std::string_view host = colon == std::string_view::npos ? "" : address.substr(0, colon);
    const std::string_view port =
        colon == std::string_view::npos ? address : address.substr(colon + 1);
    if (host.starts_with('[') && host.ends_with(']')) {
      host = host.substr(1, host.size() - 2);
    }
    name = "tcp-" + (host.empty() ? "" : std::string(host) + "-") + std::string(port);
  }
  // The address may hold characters a listener name must not (':' of IPv6, '/' of a path).
  std::ranges::replace_if(
      name, [](char c) { return !is_name_char(c); }, '_');
  return name;
}

sys::Result<Config> load_config_file(const std::string& path, const Validators& validators) {
  sys::Result<std::string> text = read_file(path);
  if (!text.ok()) {
    return std::move(text).error();
  }
  return load_config_string(*text, path, validators);
}

sys::Result<Config> load_config_string(std::string_view toml, std::string_view source_name,
                                       const Validators& validators) {
  toml::table root;
  // toml++ reports a syntax error by exception; it becomes one positioned error, since the rest of
  // the document cannot be read.
  try {
    root = toml::parse(toml, source_name);
  } catch (const toml::parse_error& error) {
    const toml::source_position& at = error.source().begin;
    return sys::Error::invalid(std::string(source_name) + ":" + std::to_string(at.line) + ":" +
                               std::to_string(at.column) + ": " + std::string(error.description()));
  }
  Reader reader(source_name, validators);
  Config config = reader.read(root);
  std::string problems = reader.problems();
  // Every problem of the document at once, in document order (§9.2).
  if (!problems.empty()) {
    return sys::Error::invalid(std::move(problems));
  }
  return config;
}

std::string to_toml(const Config& config) {
  std::string toml;
  // Every value is written, defaults included, so that --check-config shows the effective
  // configuration and its output loads back to an equal Config (§9.2).
  append_line(toml, "log_level", toml_string(to_string(config.log_level)));
  append_line(toml, "log_format", toml_string(to_string(config.log_format)));
  append_line(toml, "workers", std::to_string(config.workers));
  for (const ListenerConfig& listener : config.listeners) {
    toml += "\n[[listen]]\n";
    append_line(toml, "address", toml_string(listener.address.text));
    append_line(toml, "name", toml_string(listener.name));
    if (!listener.allow.empty()) {
      append_line(toml, "allow", toml_array(listener.allow, [](const SourcedCidr& cidr) {
                    return toml_string(cidr.text);
                  }));
    }
    if (listener.mode) {
      append_line(toml, "mode", toml_string(format_mode(*listener.mode)));
    }
    if (listener.owner) {
      // Resolved ids rather than names: what was checked at load is what is shown.
      append_line(toml, "owner", std::to_string(*listener.owner));
    }
    if (listener.group) {
      append_line(toml, "group", std::to_string(*listener.group));
    }
    if (!listener.allow_uids.empty()) {
      append_line(toml, "allow_uids",
                  toml_array(listener.allow_uids, [](uid_t uid) { return std::to_string(uid); }));
    }
    append_line(toml, "receipt", listener.receipt ? "true" : "false");
    append_line(toml, "proxy_protocol", listener.proxy_protocol ? "true" : "false");
    if (!listener.proxy_from.empty()) {
      append_line(toml, "proxy_from",
                  toml_array(listener.proxy_from,
                             [](const SourcedCidr& cidr) { return toml_string(cidr.text); }));
    }
    // proxy_timeout is written only with proxy_protocol: it is an error without it.
    if (listener.proxy_protocol) {
      append_line(toml, "proxy_timeout", toml_string(format_duration(listener.proxy_timeout)));
    }
    if (listener.allow_proxy_local) {
      append_line(toml, "allow_proxy_local", "true");
    }
  }
  const OutputConfig& output = config.output;
  toml += "\n[output]\n";
  append_line(toml, "directory", toml_string(output.directory));
  append_line(toml, "name", toml_string(output.name.value));
  append_line(toml, "max_file_size", toml_string(format_size(output.max_file_size)));
  append_line(toml, "rotate_interval", toml_string(format_duration(output.rotate_interval)));
  append_line(toml, "sync", toml_string(to_string(output.sync)));
  append_line(toml, "sync_threads", std::to_string(output.sync_threads));
  append_line(toml, "writeback_bytes", toml_string(format_size(output.writeback_bytes)));
  append_line(toml, "file_mode", toml_string(format_mode(output.file_mode)));
  append_line(toml, "keep_empty", output.keep_empty ? "true" : "false");
  if (!output.on_publish.empty()) {
    append_line(toml, "on_publish",
                toml_array(output.on_publish,
                           [](const SourcedString& argument) { return toml_string(argument.value); }));
  }
  append_line(toml, "on_publish_concurrency", std::to_string(output.on_publish_concurrency));
  append_line(toml, "on_publish_timeout", toml_string(format_duration(output.on_publish_timeout)));
  append_line(toml, "on_publish_done", toml_string(to_string(output.on_publish_done)));
  append_line(toml, "time_zone", toml_string(to_string(output.time_zone)));
  append_line(toml, "record_delimiter", toml_string(output.record_delimiter));
  append_line(toml, "record_max", toml_string(format_size(output.record_max)));
  const LimitsConfig& limits = config.limits;
  toml += "\n[limits]\n";
  append_line(toml, "max_connections", std::to_string(limits.max_connections));
  append_line(toml, "max_connections_per_peer", std::to_string(limits.max_connections_per_peer));
  append_line(toml, "idle_timeout", toml_string(format_duration(limits.idle_timeout)));
  append_line(toml, "max_connection_bytes", toml_string(format_size(limits.max_connection_bytes)));
  append_line(toml, "shutdown_timeout", toml_string(format_duration(limits.shutdown_timeout)));
  // "auto" is written as such: its floor is resolved against the filesystem only at run time.
  append_line(toml, "min_free_space",
              toml_string(limits.min_free_space ? format_size(*limits.min_free_space) : "auto"));
  append_line(toml, "disk_full_timeout", toml_string(format_duration(limits.disk_full_timeout)));
  const RetentionConfig& retention = config.retention;
  toml += "\n[retention]\n";
  append_line(toml, "max_bytes", toml_string(format_size(retention.max_bytes)));
  append_line(toml, "max_files", std::to_string(retention.max_files));
  append_line(toml, "max_age", toml_string(format_duration(retention.max_age)));
  append_line(toml, "check_interval", toml_string(format_duration(retention.check_interval)));
  // [metrics] only when an endpoint is configured: there is none by default.
  if (config.metrics.listen) {
    toml += "\n[metrics]\n";
    append_line(toml, "listen", toml_string(config.metrics.listen->text));
  }
  return toml;
}

}  // namespace zcrecv::config
