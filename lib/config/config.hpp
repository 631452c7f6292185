#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "log/level.hpp"
#include "net/cidr.hpp"
#include "net/listen_address.hpp"
#include "sys/result.hpp"

namespace zcrecv::config {

/// Logging threshold (`log_level`) and line format (`log_format`), as the logging setup takes them.
using LogLevel = log::LogLevel;
using LogFormat = log::LogFormat;
/// Durability of published files (`output.sync`, docs/design.md §8.1).
enum class SyncMode { kNone, kPublish };
/// What happens to a file once its on_publish hook exited 0 (`output.on_publish_done`).
enum class OnPublishDone { kKeep, kRemove };

/// Which clock the times in file names follow (`output.time_zone`).
enum class TimeZone { kUtc, kLocal };

/// The configuration spelling of each enum value ("info", "json", "publish").
std::string_view to_string(LogLevel level);
std::string_view to_string(LogFormat format);
std::string_view to_string(SyncMode sync);
std::string_view to_string(OnPublishDone done);
std::string_view to_string(TimeZone zone);
/// The enum value a spelling names, or std::nullopt for an unknown one.
std::optional<LogLevel> parse_log_level(std::string_view text);
std::optional<LogFormat> parse_log_format(std::string_view text);
std::optional<SyncMode> parse_sync_mode(std::string_view text);

/// Where a value came from, for errors found later by the layer that parses it:
/// "zcrecv.toml:14:9: listen[0].address", "--listen".
struct Origin {
  std::string where;

  /// Origins say where a value came from, not what it is: configurations with the same values
  /// are equal wherever they were read (a reload keeps a listener whose line merely moved).
  friend bool operator==(const Origin& /*left*/, const Origin& /*right*/) { return true; }
};

/// A string that another layer parses (an address, a CIDR, a name template) and its origin.
struct SourcedString {
  std::string value;
  Origin origin;

  bool operator==(const SourcedString&) const = default;
};

/// A value parsed from text at load time, once: the parsed value, the text as written (for
/// messages and to_toml) and where it came from.
template <class T>
struct Sourced {
  std::string text;
  Origin origin;
  T value;

  bool operator==(const Sourced&) const = default;
};

/// A listen address (`[[listen]] address`, `metrics.listen`, `--listen`, `--metrics`).
using SourcedAddress = Sourced<net::ListenAddress>;
/// A CIDR of an allow list or of proxy_from.
using SourcedCidr = Sourced<net::Cidr>;

/// Parses `text` as a listen address or a CIDR, keeping `origin`; an error names the origin.
sys::Result<SourcedAddress> make_address(std::string_view text, Origin origin);
sys::Result<SourcedCidr> make_cidr(std::string_view text, Origin origin);

inline constexpr std::string_view kDefaultListenAddress = ":9000";
inline constexpr std::string_view kDefaultOutputDirectory = "./zcrecv-data";
inline constexpr std::string_view kDefaultNameTemplate =
    "{listener}/%Y-%m-%d/{time}-{peer}-{conn}-{seq}.bin";
inline constexpr std::uint32_t kMaxWorkers = 1024;
inline constexpr std::uint32_t kMaxSyncThreads = 256;
inline constexpr std::uint32_t kMaxHookConcurrency = 1024;
/// How long a connection on a proxy_protocol listener may take to send its PROXY header. The
/// spec asks receivers to wait at least 3 s; proxies send the header at once, so more only helps
/// a proxy on a congested path, and less would cut those.
inline constexpr std::chrono::nanoseconds kDefaultProxyTimeout = std::chrono::seconds(5);

/// The `{listener}` name of a listener whose configuration does not set one: "tcp-9000" for
/// ":9000", "tcp-127.0.0.1-9000", "unix-x.sock" for "unix:/run/x.sock", "unix-name" for the
/// abstract "unix:@name". Characters other than letters, digits, '.', '_' and '-' become '_'.
std::string default_listener_name(std::string_view address);

/// One `[[listen]]` table.
struct ListenerConfig {
  SourcedAddress address = *make_address(kDefaultListenAddress, Origin{"default listen address"});
  /// `{listener}` in file names and logs; unique among the listeners.
  std::string name = default_listener_name(kDefaultListenAddress);
  /// TCP only: CIDR allow-list; empty lets everyone in.
  std::vector<SourcedCidr> allow;
  /// Unix only: the socket file's mode; std::nullopt leaves what the umask gives.
  std::optional<mode_t> mode;
  /// Unix only: the socket file's owner and group (names are resolved at load time).
  std::optional<uid_t> owner;
  std::optional<gid_t> group;
  /// Unix only: peer uids let in (SO_PEERCRED); empty lets everyone in.
  std::vector<uid_t> allow_uids;
  /// Every connection starts with a PROXY protocol header (v1 or v2) naming the real client.
  bool proxy_protocol = false;
  /// TCP with proxy_protocol (required then): CIDRs of the proxies that may connect.
  std::vector<SourcedCidr> proxy_from;
  /// With proxy_protocol: how long a connection may take to send its whole header; above 0.
  std::chrono::nanoseconds proxy_timeout = kDefaultProxyTimeout;
  /// TCP with proxy_protocol and `allow`: let in a stream whose header names no client (v2
  /// LOCAL, v1 UNKNOWN), which `allow` cannot check; refused by default (fail closed).
  bool allow_proxy_local = false;
  /// After the sender's half-close, make the stream durable and answer one line, "OK <bytes>"
  /// or "ERR <bytes> <reason>", then close (README "Delivery receipts").
  bool receipt = false;

  bool operator==(const ListenerConfig&) const = default;
};

/// The `[output]` table: where and how files are written (docs/design.md §7).
struct OutputConfig {
  std::string directory{kDefaultOutputDirectory};
  SourcedString name{std::string(kDefaultNameTemplate), Origin{"default name template"}};
  /// 0 = no size rotation.
  std::uint64_t max_file_size = std::uint64_t{1} << 30;
  /// 0 = no time rotation.
  std::chrono::nanoseconds rotate_interval{0};
  SyncMode sync = SyncMode::kPublish;
  /// sync = publish: threads that fdatasync, rename and fsync off the event loops.
  std::uint32_t sync_threads = 8;
  /// sync = publish: start writeback every this many bytes written into a file; 0 = off.
  std::uint64_t writeback_bytes = std::uint64_t{8} << 20;
  mode_t file_mode = 0640;
  /// Whether a connection that sent nothing leaves an empty file.
  bool keep_empty = false;
  /// The hook run on every published file: its argv, placeholders unexpanded; empty = none.
  std::vector<SourcedString> on_publish;
  /// Hooks running at once, 1..kMaxHookConcurrency.
  std::uint32_t on_publish_concurrency = 4;
  /// Then the hook gets SIGTERM (and SIGKILL a few seconds later); above 0.
  std::chrono::nanoseconds on_publish_timeout = std::chrono::minutes(5);
  OnPublishDone on_publish_done = OnPublishDone::kKeep;
  /// One byte that ends a record ("\n" for lines); empty (the default) = files end at exact
  /// sizes. With one, a file ends just after a delimiter found within record_max of its end.
  std::string record_delimiter;
  /// How far before a file's end a record boundary is looked for; above 0.
  std::uint64_t record_max = std::uint64_t{64} << 10;
  /// The clock of every time in file names: UTC, or the zone of the daemon's TZ / /etc/localtime.
  TimeZone time_zone = TimeZone::kUtc;

  bool operator==(const OutputConfig&) const = default;
};

/// The `[limits]` table (docs/design.md §5).
struct LimitsConfig {
  std::uint32_t max_connections = 4096;
  std::uint32_t max_connections_per_peer = 256;
  /// 0 = no idle timeout.
  std::chrono::nanoseconds idle_timeout = std::chrono::minutes(5);
  /// 0 = unlimited.
  std::uint64_t max_connection_bytes = 0;
  std::chrono::nanoseconds shutdown_timeout = std::chrono::seconds(30);
  /// A stream whose output takes no byte this long (a full disk) is cut with "ERR <n>
  /// disk_full"; 0 = it waits for space until a stop.
  std::chrono::nanoseconds disk_full_timeout = std::chrono::seconds(5);
  /// Below this much free space on the output filesystem, reading pauses and /health answers
  /// 503 disk_full; 0 = no check; std::nullopt ("auto", the default): min_free_space_for()
  /// works it out from the filesystem's size.
  std::optional<std::uint64_t> min_free_space;

  bool operator==(const LimitsConfig&) const = default;
};

/// The automatic `min_free_space`: the smaller of this and kAutoMinFreeSpacePercent of the
/// output filesystem, so that a small filesystem can take data too.
inline constexpr std::uint64_t kAutoMinFreeSpaceCap = std::uint64_t{256} << 20;
inline constexpr std::uint64_t kAutoMinFreeSpacePercent = 5;

/// The free space below which a filesystem of `filesystem_bytes` takes no more data: `configured`
/// when set (0: no floor), else the smaller of kAutoMinFreeSpaceCap and kAutoMinFreeSpacePercent
/// of the filesystem, in whole KiB.
std::uint64_t min_free_space_for(std::optional<std::uint64_t> configured,
                                 std::uint64_t filesystem_bytes);

/// The value of min_free_space_for() and how it was got, for the log: "1GiB" when configured,
/// "2457KiB (auto: the smaller of 256MiB and 5 % of 48MiB)" otherwise.
std::string describe_min_free_space(std::optional<std::uint64_t> configured,
                                    std::uint64_t filesystem_bytes);

/// The `[retention]` table: limits on the published files under the output directory (README
/// "Retention"); every limit 0 = none, and with none set nothing is ever deleted.
struct RetentionConfig {
  /// Bytes of published files kept at most.
  std::uint64_t max_bytes = 0;
  /// Published files kept at most.
  std::uint64_t max_files = 0;
  /// A published file whose modification time is older than this goes.
  std::chrono::nanoseconds max_age{0};
  /// How often the limits are checked besides at each publish; above 0.
  std::chrono::nanoseconds check_interval = std::chrono::minutes(1);

  /// Whether any limit is set.
  [[nodiscard]] bool enabled() const {
    return max_bytes != 0 || max_files != 0 || max_age.count() != 0;
  }
  bool operator==(const RetentionConfig&) const = default;
};

/// The `[metrics]` table: the Prometheus endpoint (README "Metrics").
struct MetricsConfig {
  /// Where GET /metrics and /health are served, in any listen address form; std::nullopt (the
  /// default): no endpoint.
  std::optional<SourcedAddress> listen;

  bool operator==(const MetricsConfig&) const = default;
};

/// Everything docs/design.md §9 configures; a default-constructed Config is the embedded defaults.
struct Config {
  LogLevel log_level = LogLevel::kInfo;
  LogFormat log_format = LogFormat::kText;
  /// Event-loop threads; 0 = one per CPU.
  std::uint32_t workers = 0;
  std::vector<ListenerConfig> listeners{ListenerConfig{}};
  OutputConfig output;
  LimitsConfig limits;
  MetricsConfig metrics;
  RetentionConfig retention;

  bool operator==(const Config&) const = default;
};

/// Checks of values that layers above this one parse where they use them (a name template is
/// compiled with the time zone it will follow; the hook's argv by the hand-off). Each returns
/// the reason a value is wrong, or std::nullopt if it is fine; an empty std::function accepts
/// everything.
struct Validators {
  std::function<std::optional<std::string>(std::string_view)> name_template;
  /// `output.on_publish[0]`, the program, and each later argument.
  std::function<std::optional<std::string>(std::string_view)> hook_program;
  std::function<std::optional<std::string>(std::string_view)> hook_argument;
};

/// Reads and validates a TOML configuration file; see load_config_string.
sys::Result<Config> load_config_file(const std::string& path, const Validators& validators);

/// Validates `toml` and returns the Config it describes, every absent key at its default.
///
/// On failure the Error holds every problem of the document, one per line, in the order they
/// appear, each as `SOURCE:LINE:COLUMN: KEY: expected WHAT, got FOUND`; a syntax error is the
/// parser's one line `SOURCE:LINE:COLUMN: DESCRIPTION`. `source_name` stands for the file.
sys::Result<Config> load_config_string(std::string_view toml, std::string_view source_name,
                                       const Validators& validators);

/// `config` as a TOML document that loads back to an equal Config (`--check-config`). Owners and
/// groups are written as numeric ids. `config.listeners` must not be empty.
std::string to_toml(const Config& config);

}  // namespace zcrecv::config
