// zcrecv's command line: CLI11 → Config → run → exit status. Everything else is in lib/.

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <csignal>
#include <cstdio>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/units.hpp"
#include "daemon/connection_settings.hpp"
#include "daemon/daemon.hpp"
#include "oneshot/one_shot.hpp"
#include "event/signal_fd.hpp"
#include "handoff/hook_command.hpp"
#include "io/copy_mode.hpp"
#include "log/logging.hpp"
#include "net/listen_address.hpp"
#include "systemd/socket_activation.hpp"
#include "output/name_template.hpp"
#include "sys/quoted.hpp"

namespace {

using namespace zcrecv;

// Distinct statuses, as the footer lists them, so that a script or a service manager can tell
// a configuration to fix from a failure at run time.
constexpr int kExitRuntime = 1;
constexpr int kExitUsage = 2;

constexpr const char* kFooter = R"(Exit status:
  0  success
  1  runtime failure (I/O error, disk full that did not clear, bind failed; --once: the stream
     was reset, cut at --max-bytes or interrupted — the bytes received are kept)
  2  usage or configuration error
  3  --once/--stdin timed out

Sizes: 500k, 64MiB, 1G (K M G T and KiB MiB GiB TiB = 1024^n; kB MB GB TB = 1000^n).
Durations: 250ms, 30s, 5m, 1h30m. Signals: TERM/INT stop gracefully, HUP reloads the config
file, USR1 rotates every open file, USR2 logs statistics.
Configuration file only: [retention] max_bytes, max_files, max_age (delete the oldest published
files past a limit) and [output] time_zone = "UTC" | "local" (the clock of times in names).)";

// Every option as typed; std::nullopt when absent, so that only given options override the file.
struct CommandLine {
  std::optional<std::string> config_file;
  std::vector<std::string> listen;
  std::optional<std::string> out;
  bool once = false;
  bool from_stdin = false;
  std::optional<std::string> max_file_size;
  std::optional<std::string> record_delimiter;
  std::optional<std::string> rotate_interval;
  std::optional<std::string> name;
  std::optional<std::string> max_connections;
  std::optional<std::string> idle_timeout;
  std::optional<std::string> max_bytes;
  std::vector<std::string> allow;
  std::optional<std::string> sync;
  std::optional<std::string> copy_mode;
  std::optional<std::string> workers;
  std::optional<std::string> timeout;
  std::optional<bool> progress;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
  bool receipt = false;
  std::optional<std::string> metrics;
  bool check_config = false;
};

// The settings only the command line has (not in the TOML file).
struct RunSettings {
  io::CopyMode copy_mode = io::CopyMode::kAuto;
  std::chrono::nanoseconds timeout{0};
};

std::optional<std::string> reason_of(const sys::Error& error) { return error.message(); }

config::Validators make_validators() {
  config::Validators validators;
  // Checked at load with the template's own parser, so that an error keeps its position in the
  // file (§9.2); the time zone only changes how names render, not whether the template is valid.
  validators.name_template = [](std::string_view text) -> std::optional<std::string> {
    auto parsed = output::NameTemplate::parse(text);
    return parsed ? std::nullopt : reason_of(parsed.error());
  };
  validators.hook_program = handoff::HookCommand::check_program;
  validators.hook_argument = handoff::HookCommand::check_argument;
  return validators;
}

// Collects every error of the command line, each naming its option, instead of stopping at the
// first: the operator fixes them all in one go.
class Errors {
 public:
  /// The value, or nullopt with the error recorded; `option`, when given, leads the message
  /// (parsers whose messages do not name the option themselves).
  template <class T>
  std::optional<T> take(sys::Result<T> result, std::string_view option = {}) {
    if (!result) {
      lines_.push_back(option.empty() ? result.error().message()
                                      : std::string(option) + ": " + result.error().message());
      return std::nullopt;
    }
    return std::move(result).value();
  }
  void add(std::string line) { lines_.push_back(std::move(line)); }
  [[nodiscard]] bool empty() const { return lines_.empty(); }
  [[nodiscard]] sys::Error to_error() const {
    std::string joined;
    for (const auto& line : lines_) {
      joined += (joined.empty() ? "" : "\n") + line;
    }
    return sys::Error::invalid(joined);
  }

 private:
  std::vector<std::string> lines_;
};

template <class Enum>
std::optional<Enum> parse_enum(const std::optional<std::string>& text, std::string_view option,
                               std::optional<Enum> (*parse)(std::string_view),
                               std::string_view expected, Errors& errors) {
  if (!text) {
    return std::nullopt;
  }
  auto value = parse(*text);
  if (!value) {
    errors.add(std::string(option) + ": expected " + std::string(expected) + ", got " +
               sys::quoted(*text));
  }
  return value;
}

// Whether a socket bound to `left` would take the port of one bound to `right`: the same address,
// or one TCP port where either side is every interface. Port 0 is a new ephemeral port each time.
bool same_socket_address(const net::ListenAddress& left, const net::ListenAddress& right) {
  if (left.kind != net::ListenAddress::Kind::kTcp || right.kind != left.kind) {
    return left == right;
  }
  // Port 0 never clashes: each bind of it gets a port of its own.
  return left.port != 0 && left.port == right.port &&
         (left.host == right.host || left.host.empty() || right.host.empty());
}

// The metrics endpoint may not take a data listener's address: one of the two could not bind,
// and which one would be a matter of order.
std::optional<std::string> metrics_address_taken(const config::Config& config) {
  if (!config.metrics.listen) {
    return std::nullopt;
  }
  for (const config::ListenerConfig& listener : config.listeners) {
    if (same_socket_address(config.metrics.listen->value, listener.address.value)) {
      return config.metrics.listen->origin.where +
             ": expected an address no [[listen]] entry takes, got " +
             sys::quoted(config.metrics.listen->text) + ": listener " + listener.name +
             " listens on " + sys::quoted(listener.address.text);
    }
  }
  return std::nullopt;
}

// The file (or the embedded defaults), with the command line on top, every value checked.
sys::Result<config::Config> build_config(const CommandLine& cli) {
  auto validators = make_validators();
  config::Config config;
  if (cli.config_file) {
    // The file first, then the command line over it, in one function: a reload (SIGHUP) calls it
    // again and so gets the same overrides (§9.3).
    auto loaded = config::load_config_file(*cli.config_file, validators);
    if (!loaded) {
      return std::move(loaded).error();
    }
    config = std::move(loaded).value();
  }
  Errors errors;
  if (!cli.listen.empty()) {
    // --listen replaces the file's listeners rather than adding to them, so that the command
    // line alone says where zcrecv listens.
    config.listeners.clear();
    for (const auto& address : cli.listen) {
      if (auto parsed =
              errors.take(config::make_address(address, config::Origin{"--listen"}), "--listen")) {
        config::ListenerConfig listener;
        listener.address = std::move(*parsed);
        listener.name = config::default_listener_name(address);
        listener.receipt = cli.receipt;
        config.listeners.push_back(std::move(listener));
      }
    }
  }
  // In one-shot modes -o names the output of the one stream (a file, a directory or -), not the
  // daemon's output directory.
  if (cli.out && !cli.once && !cli.from_stdin) {
    config.output.directory = *cli.out;
  }
  if (cli.max_file_size) {
    if (auto size = errors.take(config::parse_size(*cli.max_file_size, "--max-file-size"))) {
      config.output.max_file_size = *size;
    }
  }
  if (cli.record_delimiter) {
    if (auto delimiter =
            errors.take(config::parse_delimiter(*cli.record_delimiter, "--record-delimiter"))) {
      config.output.record_delimiter = *delimiter;
    }
  }
  // Checked once both the file and the command line had their say: a boundary looked for across
  // the whole file would end every file at its first record.
  if (!config.output.record_delimiter.empty() && config.output.max_file_size != 0 &&
      config.output.record_max >= config.output.max_file_size) {
    errors.add("output.record_max (" + config::format_size(config.output.record_max) +
               ") must be below output.max_file_size (" +
               config::format_size(config.output.max_file_size) +
               ") when a record delimiter is set: a boundary is looked for near a file's end");
  }
  if (cli.rotate_interval) {
    if (auto interval =
            errors.take(config::parse_duration(*cli.rotate_interval, "--rotate-interval"))) {
      config.output.rotate_interval = *interval;
    }
  }
  if (cli.name) {
    // Parsed here only to check it; the template is compiled where it is used (§9.2).
    if (errors.take(output::NameTemplate::parse(*cli.name), "--name")) {
      config.output.name = {*cli.name, config::Origin{"--name"}};
    }
  }
  if (cli.max_connections) {
    if (auto count = errors.take(config::parse_count(*cli.max_connections, "--max-connections", 1,
                                             std::numeric_limits<std::uint32_t>::max()))) {
      config.limits.max_connections = static_cast<std::uint32_t>(*count);
    }
  }
  if (cli.idle_timeout) {
    if (auto idle = errors.take(config::parse_duration(*cli.idle_timeout, "--idle-timeout"))) {
      config.limits.idle_timeout = *idle;
    }
  }
  if (cli.max_bytes) {
    if (auto bytes = errors.take(config::parse_size(*cli.max_bytes, "--max-bytes"))) {
      config.limits.max_connection_bytes = *bytes;
    }
  }
  for (const auto& cidr : cli.allow) {
    if (auto parsed = errors.take(config::make_cidr(cidr, config::Origin{"--allow"}), "--allow")) {
      // --allow applies to every listener, the file's included: a command-line allow list
      // should not leave any listener open to all.
      for (auto& listener : config.listeners) {
        listener.allow.push_back(*parsed);
      }
    }
  }
  if (cli.workers) {
    if (auto workers =
            errors.take(config::parse_count(*cli.workers, "--workers", 0, config::kMaxWorkers))) {
      config.workers = static_cast<std::uint32_t>(*workers);
    }
  }
  if (auto sync =
          parse_enum(cli.sync, "--sync", config::parse_sync_mode, "none or publish", errors)) {
    config.output.sync = *sync;
  }
  if (auto level = parse_enum(cli.log_level, "--log-level", config::parse_log_level,
                              "trace, debug, info, warn or error", errors)) {
    config.log_level = *level;
  }
  if (auto format = parse_enum(cli.log_format, "--log-format", config::parse_log_format,
                               "text or json", errors)) {
    config.log_format = *format;
  }
  if (cli.metrics) {
    if (auto parsed = errors.take(config::make_address(*cli.metrics, config::Origin{"--metrics"}),
                                  "--metrics")) {
      config.metrics.listen = std::move(*parsed);
    }
  }
  // After --metrics and --listen both had their say: either may be what makes the clash.
  if (auto taken = metrics_address_taken(config)) {
    errors.add(std::move(*taken));
  }
  if (!errors.empty()) {
    return errors.to_error();
  }
  return config;
}

sys::Result<RunSettings> build_run_settings(const CommandLine& cli) {
  Errors errors;
  RunSettings run;
  // Options of one mode are refused in the other rather than ignored: an option that silently
  // did nothing would look applied.
  bool one_shot = cli.once || cli.from_stdin;
  if (cli.copy_mode) {
    if (auto mode = errors.take(io::parse_copy_mode(*cli.copy_mode))) {
      run.copy_mode = *mode;
    }
  }
  if (cli.timeout) {
    if (!one_shot) {
      errors.add("--timeout: applies to --once and --stdin only");
    } else if (auto timeout = errors.take(config::parse_duration(*cli.timeout, "--timeout"))) {
      run.timeout = *timeout;
    }
  }
  if (cli.metrics && one_shot) {
    errors.add("--metrics: applies to the daemon only, not to --once and --stdin");
  }
  if (cli.progress && !one_shot) {
    errors.add("--progress/--no-progress: apply to --once and --stdin only");
  }
  if (cli.once && cli.from_stdin) {
    errors.add("--once and --stdin: choose one");
  }
  if (cli.from_stdin && !cli.listen.empty()) {
    errors.add("--stdin: the connection is standard input, so --listen does not apply");
  }
  if (cli.receipt && !one_shot && cli.listen.empty()) {
    errors.add(
        "--receipt: applies to the listeners given with --listen; in the configuration file, set "
        "receipt = true in their [[listen]] tables");
  }
  if (cli.receipt && one_shot && cli.out.value_or("-") == "-") {
    errors.add("--receipt: a receipt says the bytes are on disk, and -o - sends them to standard "
               "output");
  }
  if (cli.once && cli.listen.size() > 1) {
    errors.add("--once: receives on exactly one --listen address, got " +
               std::to_string(cli.listen.size()));
  }
  if (!errors.empty()) {
    return errors.to_error();
  }
  return run;
}

output::SyncMode to_output_sync(config::SyncMode sync) {
  return sync == config::SyncMode::kNone ? output::SyncMode::kNone : output::SyncMode::kPublish;
}

int run_one_shot(const CommandLine& cli, const config::Config& config, const RunSettings& run,
                 event::SignalFd& signals) {
  oneshot::OneShotSettings settings;
  if (cli.once) {
    // A configuration file may list several listeners; --once must be told which one by --listen.
    if (config.listeners.size() != 1) {
      spdlog::error("--once: receives on exactly one listen address; the configuration has {}",
                    config.listeners.size());
      return kExitUsage;
    }
    if (config.listeners.front().proxy_protocol) {
      // The header would otherwise be received as the first bytes of the stream.
      spdlog::error(
          "--once: proxy_protocol is a daemon feature; one-shot mode reads no PROXY "
          "header");
      return kExitUsage;
    }
    settings.listen = config.listeners.front().address.value;
    settings.listener_name = config.listeners.front().name;
    for (const config::SourcedCidr& cidr : config.listeners.front().allow) {
      settings.allow.push_back(cidr.value);
    }
    settings.allow_uids = config.listeners.front().allow_uids;
  }
  settings.out = cli.out.value_or("-");
  settings.max_bytes = config.limits.max_connection_bytes;
  settings.timeout = run.timeout;
  // The progress line redraws itself with CR and an escape sequence, which only a terminal
  // shows as intended.
  settings.progress = cli.progress.value_or(::isatty(STDERR_FILENO) == 1);
  settings.copy_mode = run.copy_mode;
  settings.receipt = cli.receipt || (cli.once && config.listeners.front().receipt);
  // A receipt promises durable bytes (§4.8), whatever --sync says.
  settings.sync = settings.receipt ? output::SyncMode::kPublish : to_output_sync(config.output.sync);
  settings.file_mode = config.output.file_mode;
  settings.name_template = config.output.name.value;
  settings.time_zone = daemon::output_time_zone(config.output.time_zone);
  settings.max_file_size = config.output.max_file_size;
  settings.rotate_interval = config.output.rotate_interval;
  settings.keep_empty = config.output.keep_empty;
  settings.record_delimiter = config.output.record_delimiter;
  settings.record_max = config.output.record_max;
  auto report = oneshot::receive_once(settings, signals);
  if (!report) {
    spdlog::error("{}", report.error().message());
    return kExitRuntime;
  }
  return oneshot::exit_status(report->end);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zcrecv — receive TCP and Unix streams straight into files with splice(2)",
               "zcrecv"};
  app.footer(kFooter);
  app.set_version_flag("--version", "zcrecv " ZCRECV_VERSION);
  CommandLine cli;
  app.add_option("-c,--config", cli.config_file, "TOML configuration file")->option_text("FILE");
  app.add_option("-l,--listen", cli.listen,
                 "listen address (repeatable): :9000, 127.0.0.1:9000, [::1]:9000, "
                 "localhost:9000, unix:/path.sock, unix:@abstract")
      ->option_text("ADDR");
  app.add_option("-o,--out", cli.out,
                 "daemon: output directory; --once/--stdin: a file, a directory or - (stdout)")
      ->option_text("PATH");
  app.add_flag("--once", cli.once, "accept one connection, receive it to its end, exit");
  app.add_flag("--stdin", cli.from_stdin, "the connection is standard input (inetd, Accept=yes)");
  app.add_option("--max-file-size", cli.max_file_size, "rotate when a file reaches SIZE")
      ->option_text("SIZE");
  app.add_option("--record-delimiter", cli.record_delimiter,
                 "end files rotated for size or time just after this byte (\\n: lines)")
      ->option_text("BYTE");
  app.add_option("--rotate-interval", cli.rotate_interval, "rotate a file this long after opening")
      ->option_text("DURATION");
  app.add_option("--name", cli.name, "output file name template")->option_text("TEMPLATE");
  app.add_option("--max-connections", cli.max_connections, "connections open at once")
      ->option_text("N");
  app.add_option("--idle-timeout", cli.idle_timeout, "cut a connection silent this long")
      ->option_text("DURATION");
  app.add_option("--max-bytes", cli.max_bytes, "cut a connection after SIZE bytes")
      ->option_text("SIZE");
  app.add_option("--allow", cli.allow, "TCP allow-list entry (repeatable)")->option_text("CIDR");
  app.add_option("--sync", cli.sync, "durability: none | publish")->option_text("MODE");
  app.add_option("--copy-mode", cli.copy_mode, "data path: auto | splice | readwrite")
      ->option_text("MODE");
  app.add_option("--workers", cli.workers, "event-loop threads; 0 = one per CPU")->option_text("N");
  app.add_option("--timeout", cli.timeout,
                 "--once/--stdin: give up when no connection arrives or the stream stalls this "
                 "long")
      ->option_text("DURATION");
  auto* progress = app.add_flag_callback(
      "--progress", [&cli] { cli.progress = true; },
      "--once/--stdin: live bytes, rate and elapsed time on stderr (default: on when stderr is a "
      "terminal)");
  app.add_flag_callback(
         "--no-progress", [&cli] { cli.progress = false; }, "--once/--stdin: no live progress line")
      ->excludes(progress);
  app.add_option("--log-level", cli.log_level, "trace | debug | info | warn | error")
      ->option_text("LEVEL");
  app.add_option("--log-format", cli.log_format, "text | json")->option_text("FORMAT");
  app.add_flag("--receipt", cli.receipt,
               "after the sender's half-close, answer OK <bytes> once the stream is durable (or "
               "ERR <bytes> <reason>), then close; applies to --listen and --once/--stdin");
  app.add_option("--metrics", cli.metrics,
                 "daemon: serve GET /metrics (Prometheus) and /health on this listen address")
      ->option_text("ADDR");
  app.add_flag("--check-config", cli.check_config,
               "validate, print the effective configuration as TOML, exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" with exit code 0 to CLI11.
    if (error.get_exit_code() == 0) {
      return app.exit(error);
    }
    std::fprintf(stderr, "zcrecv: %s\nRun 'zcrecv --help' for the options.\n", error.what());
    return kExitUsage;
  }

  auto config = build_config(cli);
  // Both are built before either is reported, so that every error of the command line is listed
  // at once.
  auto run = build_run_settings(cli);
  if (!config || !run) {
    for (const auto* error : {config ? nullptr : &config.error(), run ? nullptr : &run.error()}) {
      if (error != nullptr) {
        std::fprintf(stderr, "%s\n", error->message().c_str());
      }
    }
    return kExitUsage;
  }
  // Before logging and signals are set up: --check-config only reads and prints.
  if (cli.check_config) {
    std::fputs(config::to_toml(*config).c_str(), stdout);
    return 0;
  }

  // Writes to a closed pipe or socket must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  log::setup_logging(config->log_level, config->log_format);
  // Blocked here, before any thread exists, so that every thread inherits the mask and the
  // signals are only ever read from the signalfd.
  auto signals = event::SignalFd::create({SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2});
  if (!signals) {
    spdlog::error("{}", signals.error().message());
    return kExitRuntime;
  }
  if (cli.once || cli.from_stdin) {
    return run_one_shot(cli, *config, *run, *signals);
  }
  daemon::DaemonOptions options;
  options.copy_mode = run->copy_mode;
  // Sockets passed by systemd (LISTEN_FDS) are taken before any listener is opened, so that a
  // configured address that systemd already holds reuses its socket (§9.3).
  auto inherited = systemd::SocketActivation::from_environment();
  if (!inherited) {
    spdlog::error("{}", inherited.error().message());
    return kExitRuntime;
  }
  options.inherited = std::move(*inherited);
  daemon::ReloadFunction reload;
  // Without a file there is nothing to read again: the command line alone cannot change.
  if (cli.config_file) {
    reload = [&cli] { return build_config(cli); };
  }
  return daemon::run_daemon(*config, *signals, reload, std::move(options));
}
