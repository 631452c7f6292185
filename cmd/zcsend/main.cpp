// zcsend's command line: CLI11 → SendSettings → Sender → exit status. Everything else is in
// lib/send/.

#include <spdlog/spdlog.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <optional>
#include <string>

#include "config/config.hpp"
#include "log/logging.hpp"
#include "send/send_options.hpp"
#include "send/sender.hpp"

namespace {

using namespace zcrecv;

constexpr int kExitNotAcknowledged = 1;
constexpr int kExitUsage = 2;
constexpr int kExitUnreadable = 3;

constexpr const char* kFooter = R"(Each input is sent whole on one connection, half-closed, and counts as stored only when
the receiver answers "OK <n>" with n = the bytes sent (zcrecv with receipt = true or --receipt).
Anything else (ERR, a wrong count, a reset, a close without a receipt, --timeout) is retried on
the next --to address after a jittered, doubling wait, up to --attempts times.

Exit status:
  0  every input was acknowledged (and, with --remove, deleted)
  1  at least one input was not acknowledged after --attempts, or could not be removed
  2  usage error (every error is printed, each naming its option)
  3  an input could not be read (every other input was acknowledged)

Durations: 250ms, 30s, 5m, 1h30m.)";

int exit_status(const std::vector<send::InputReport>& reports) {
  using Result = send::InputReport::Result;
  const auto any = [&reports](Result result) {
    return std::any_of(reports.begin(), reports.end(),
                       [result](const auto& report) { return report.result == result; });
  };
  // The worst outcome decides: an input not stored (or not removed after it was) matters more
  // than one that could not be read at all.
  if (any(Result::kNotAcknowledged) || any(Result::kNotRemoved)) {
    return kExitNotAcknowledged;
  }
  return any(Result::kUnreadable) ? kExitUnreadable : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"zcsend — send files to zcrecv with sendfile(2) and wait for the delivery receipt",
               "zcsend"};
  app.footer(kFooter);
  app.set_version_flag("--version", "zcsend " ZCRECV_VERSION);
  send::SendOptions options;
  std::optional<std::string> log_level;
  std::optional<std::string> log_format;
  app.add_option("-t,--to", options.to,
                 "address to send to (repeatable, tried in turn): host:9000, 10.0.0.5:9000, "
                 "[::1]:9000, :9000 (this host), unix:/path.sock, unix:@abstract")
      ->option_text("ADDR")
      // Without this, CLI11 would let "-t a b" take b as a second address rather than as a file.
      ->allow_extra_args(false);
  app.add_option("--attempts", options.attempts,
                 "attempts per input, the first included (default 10, at most 1000)")
      ->option_text("N");
  app.add_option("--timeout", options.timeout,
                 "give up an attempt when connecting, a stall while sending, or the receipt "
                 "after the half-close takes this long (default 30s)")
      ->option_text("DURATION");
  app.add_option("--backoff", options.backoff,
                 "wait before the second attempt, doubled per attempt after it, jittered "
                 "(default 200ms)")
      ->option_text("DURATION");
  app.add_option("--backoff-max", options.backoff_max,
                 "the longest wait between two attempts (default 5s)")
      ->option_text("DURATION");
  app.add_flag("--remove", options.remove,
               "delete each file once acknowledged (never standard input)");
  auto* progress = app.add_flag_callback(
      "--progress", [&options] { options.progress = true; },
      "live bytes, rate and elapsed time on stderr (default: on when stderr is a terminal)");
  app.add_flag_callback(
         "--no-progress", [&options] { options.progress = false; }, "no live progress line")
      ->excludes(progress);
  app.add_option("--log-level", log_level, "trace | debug | info | warn | error (default info)")
      ->option_text("LEVEL");
  app.add_option("--log-format", log_format, "text | json")->option_text("FORMAT");
  app.add_option("FILE", options.inputs,
                 "files to send, in order; - (or none) is standard input, kept in memory so that "
                 "it can be sent again")
      ->option_text(" ");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    // --help and --version are "errors" with exit code 0 to CLI11.
    if (error.get_exit_code() == 0) {
      return app.exit(error);
    }
    std::fprintf(stderr, "zcsend: %s\nRun 'zcsend --help' for the options.\n", error.what());
    return kExitUsage;
  }

  // Every option is checked before any is reported, so that every usage error is printed at once.
  auto settings = send::build_send_settings(options, ::isatty(STDERR_FILENO) == 1);
  const auto level = config::parse_log_level(log_level.value_or("info"));
  const auto format = config::parse_log_format(log_format.value_or("text"));
  if (!settings || !level || !format) {
    if (!settings) {
      std::fprintf(stderr, "%s\n", settings.error().message().c_str());
    }
    if (!level) {
      std::fprintf(stderr, "--log-level: expected trace, debug, info, warn or error, got \"%s\"\n",
                   log_level->c_str());
    }
    if (!format) {
      std::fprintf(stderr, "--log-format: expected text or json, got \"%s\"\n",
                   log_format->c_str());
    }
    return kExitUsage;
  }
  // sendfile(2) to a socket the receiver reset must fail with EPIPE, not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
  // Logging is set up only once the options are known good: a usage error goes to stderr as
  // plain text whatever --log-format says.
  log::setup_logging(*level, *format);
  send::Sender sender(std::move(*settings));
  return exit_status(sender.run(send::inputs_of(options)));
}
