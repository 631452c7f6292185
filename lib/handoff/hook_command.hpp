#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sys/result.hpp"

namespace zcrecv::handoff {

/// The values of one hand-off: what the placeholders of `on_publish` and the ZCRECV_* variables
/// of the hook's environment give.
struct HookFields {
  /// {path}, ZCRECV_PATH: the published file, absolute.
  std::string path;
  /// {name}, ZCRECV_NAME: the same, relative to the output directory.
  std::string name;
  /// {bytes}, ZCRECV_BYTES: the file's size when the hook starts.
  std::uint64_t bytes = 0;
  /// {listener}, {peer}, {conn}, {seq}: as the connection had them ({peer} as the log lines
  /// show it, 10.0.0.5:51234; {seq} in plain decimal).
  std::string listener;
  std::string peer;
  std::string conn;
  std::uint64_t seq = 0;
  /// {completion}, ZCRECV_COMPLETION: "complete", or "incomplete" for a cut stream's last file.
  bool complete = true;
};

/// The `on_publish` argv, its placeholders parsed once and rendered for every file.
///
/// Placeholders: {path} {name} {bytes} {listener} {peer} {conn} {seq} {completion}; {{ and }}
/// are literal braces. The values are passed as they are (argv, no shell: nothing is quoted or
/// split). The program, argv[0], is an absolute path or a bare name looked up in the daemon's
/// PATH when the hook starts; an absolute one without placeholders must exist and be executable
/// when the command is parsed.
class HookCommand {
 public:
  /// Validates every argument of `argv` (not empty); errors read
  /// `output.on_publish[N]: REASON`.
  static sys::Result<HookCommand> parse(const std::vector<std::string>& argv);
  /// What is wrong with one argument's placeholders, or std::nullopt: for the configuration's
  /// validator, which puts the key and position in front.
  static std::optional<std::string> check_argument(std::string_view text);
  /// What is wrong with `text` as the program (argv[0]), placeholders aside.
  static std::optional<std::string> check_program(std::string_view text);

  /// The argv for one file.
  [[nodiscard]] std::vector<std::string> render(const HookFields& fields) const;
  /// The environment for one file: `base` (a null-terminated array like environ; may be null)
  /// without the variables the service manager addresses to zcrecv itself (NOTIFY_SOCKET,
  /// WATCHDOG_*, LISTEN_*) and without earlier values of the variables it sets: ZCRECV_PATH,
  /// ZCRECV_NAME, ZCRECV_BYTES, ZCRECV_LISTENER, ZCRECV_PEER, ZCRECV_CONN, ZCRECV_SEQ and
  /// ZCRECV_COMPLETION.
  static std::vector<std::string> environment(const HookFields& fields, const char* const* base);

 private:
  enum class Kind { kLiteral, kPath, kName, kBytes, kListener, kPeer, kConn, kSeq, kCompletion };
  struct Token {
    Kind kind;
    std::string literal;
  };
  using Argument = std::vector<Token>;

  static sys::Result<Argument> parse_argument(std::string_view text);

  explicit HookCommand(std::vector<Argument> arguments) : arguments_(std::move(arguments)) {}

  std::vector<Argument> arguments_;
};

}  // namespace zcrecv::handoff
