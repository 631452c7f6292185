#include "handoff/hook_command.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <utility>

#include "output/braces.hpp"
#include "sys/syscalls.hpp"

namespace zcrecv::handoff {
namespace {

constexpr char kKnownPlaceholders[] =
    "{path} {name} {bytes} {listener} {peer} {conn} {seq} {completion}";

// Variables the service manager addresses to zcrecv itself: a hook that saw them could answer
// for the daemon (sd_notify) or take its sockets for its own.
// The hook's own variables are dropped too, and set afresh.
constexpr std::array<std::string_view, 14> kReplaced{
    "NOTIFY_SOCKET=",  "WATCHDOG_USEC=", "WATCHDOG_PID=", "LISTEN_PID=",       "LISTEN_FDS=",
    "LISTEN_FDNAMES=", "ZCRECV_PATH=",   "ZCRECV_NAME=",  "ZCRECV_BYTES=",     "ZCRECV_LISTENER=",
    "ZCRECV_PEER=",    "ZCRECV_CONN=",   "ZCRECV_SEQ=",   "ZCRECV_COMPLETION="};

std::string in_quotes(std::string_view text) { return "\"" + std::string(text) + "\""; }

}  // namespace

sys::Result<HookCommand::Argument> HookCommand::parse_argument(std::string_view text) {
  auto fail = [&](const std::string& reason) {
    return sys::Error::invalid(in_quotes(text) + ": " + reason);
  };
  Argument argument;
  auto add_literal = [&](char c) {
    if (argument.empty() || argument.back().kind != Kind::kLiteral) {
      argument.push_back(Token{Kind::kLiteral, {}});
    }
    argument.back().literal += c;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c != '{' && c != '}') {
      add_literal(c);
      continue;
    }
    // Placeholders are parsed once, here, into tokens: rendering never reads user text again, so a
    // value that contains braces (a peer name, a file name) is never taken for a placeholder.
    auto brace = output::read_brace(text, i);
    if (!brace) {
      return fail(brace.error().message());
    }
    i = brace->end - 1;
    if (!brace->placeholder) {
      add_literal(c);
      continue;
    }
    const std::string_view name = *brace->placeholder;
    Kind kind = Kind::kLiteral;
    if (name == "path") {
      kind = Kind::kPath;
    } else if (name == "name") {
      kind = Kind::kName;
    } else if (name == "bytes") {
      kind = Kind::kBytes;
    } else if (name == "listener") {
      kind = Kind::kListener;
    } else if (name == "peer") {
      kind = Kind::kPeer;
    } else if (name == "conn") {
      kind = Kind::kConn;
    } else if (name == "seq") {
      kind = Kind::kSeq;
    } else if (name == "completion") {
      kind = Kind::kCompletion;
    } else {
      return fail("unknown placeholder {" + std::string(name) + "} (known: " + kKnownPlaceholders +
                  ")");
    }
    argument.push_back(Token{kind, {}});
  }
  return argument;
}

std::optional<std::string> HookCommand::check_argument(std::string_view text) {
  auto parsed = parse_argument(text);
  return parsed ? std::nullopt : std::optional(parsed.error().message());
}

std::optional<std::string> HookCommand::check_program(std::string_view text) {
  if (text.empty()) {
    return "the program must not be empty";
  }
  auto parsed = parse_argument(text);
  if (!parsed) {
    return parsed.error().message();
  }
  // A program made of placeholders is only known per file, when the hook starts.
  if (parsed->size() != 1 || parsed->front().kind != Kind::kLiteral) {
    return std::nullopt;
  }
  const std::string& program = parsed->front().literal;
  if (program.front() != '/') {
    if (program.find('/') != std::string::npos) {
      // Relative to what? The daemon's working directory is nothing an operator chooses.
      return in_quotes(program) +
             ": expected an absolute path or a bare name looked up in PATH, got a relative path";
    }
    return std::nullopt;
  }
  // Checked at start and at reload so that a typo fails the configuration, not every file's hook
  // later. The check follows symlinks (flag 0), as execve will.
  auto info = sys::fstatat(AT_FDCWD, program.c_str(), 0);
  if (!info) {
    return in_quotes(program) + ": " + info.error().message();
  }
  if (!S_ISREG(info->st_mode)) {
    return in_quotes(program) + ": expected an executable file, got something else";
  }
  // AT_EACCESS: checked with the effective ids, those execve uses, not the real ones access(2) uses
  // by default.
  if (auto executable = sys::faccessat(AT_FDCWD, program.c_str(), X_OK, AT_EACCESS); !executable) {
    return in_quotes(program) + ": not executable (" + executable.error().message() + ")";
  }
  return std::nullopt;
}

sys::Result<HookCommand> HookCommand::parse(const std::vector<std::string>& argv) {
  if (argv.empty()) {
    return sys::Error::invalid("output.on_publish: expected a program and its arguments");
  }
  std::vector<Argument> arguments;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string key = "output.on_publish[" + std::to_string(i) + "]: ";
    if (i == 0) {
      if (auto problem = check_program(argv[i])) {
        return sys::Error::invalid(key + *problem);
      }
    }
    auto argument = parse_argument(argv[i]);
    if (!argument) {
      return sys::Error::invalid(key + argument.error().message());
    }
    arguments.push_back(std::move(*argument));
  }
  return HookCommand(std::move(arguments));
}

std::vector<std::string> HookCommand::render(const HookFields& fields) const {
  std::vector<std::string> argv;
  argv.reserve(arguments_.size());
  for (const Argument& argument : arguments_) {
    std::string text;
    for (const Token& token : argument) {
      switch (token.kind) {
        case Kind::kLiteral:
          text += token.literal;
          break;
        case Kind::kPath:
          // Each placeholder is substituted inside its own argv element: no shell ever sees the
          // values, so a file name with spaces or quotes needs no escaping and cannot inject a
          // command.
          text += fields.path;
          break;
        case Kind::kName:
          text += fields.name;
          break;
        case Kind::kBytes:
          text += std::to_string(fields.bytes);
          break;
        case Kind::kListener:
          text += fields.listener;
          break;
        case Kind::kPeer:
          text += fields.peer;
          break;
        case Kind::kConn:
          text += fields.conn;
          break;
        case Kind::kSeq:
          text += std::to_string(fields.seq);
          break;
        case Kind::kCompletion:
          text += fields.complete ? "complete" : "incomplete";
          break;
      }
    }
    argv.push_back(std::move(text));
  }
  return argv;
}

std::vector<std::string> HookCommand::environment(const HookFields& fields,
                                                  const char* const* base) {
  std::vector<std::string> environment;
  // The daemon's environment is passed on (PATH, HOME, locale and what the unit sets) minus the
  // variables above: a hook runs in the setting the operator gave the service.
  for (const char* const* entry = base; entry != nullptr && *entry != nullptr; ++entry) {
    const std::string_view variable(*entry);
    const bool replaced =
        std::any_of(kReplaced.begin(), kReplaced.end(),
                    [&](std::string_view prefix) { return variable.starts_with(prefix); });
    if (!replaced) {
      environment.emplace_back(variable);
    }
  }
  // The same fields as the placeholders, for hooks that are scripts and prefer variables; set after
  // the filter above, so that the daemon's environment cannot supply stale ones.
  environment.push_back("ZCRECV_PATH=" + fields.path);
  environment.push_back("ZCRECV_NAME=" + fields.name);
  environment.push_back("ZCRECV_BYTES=" + std::to_string(fields.bytes));
  environment.push_back("ZCRECV_LISTENER=" + fields.listener);
  environment.push_back("ZCRECV_PEER=" + fields.peer);
  environment.push_back("ZCRECV_CONN=" + fields.conn);
  environment.push_back("ZCRECV_SEQ=" + std::to_string(fields.seq));
  environment.push_back(std::string("ZCRECV_COMPLETION=") +
                        (fields.complete ? "complete" : "incomplete"));
  return environment;
}

}  // namespace zcrecv::handoff
