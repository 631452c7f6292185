#pragma once

#include <memory>
#include <string>

#include "config/config.hpp"
#include "handoff/hook_runner.hpp"
#include "io/copy_mode.hpp"
#include "output/name_template.hpp"
#include "output/output_directory.hpp"
#include "output/rotating_file.hpp"
#include "stream/session.hpp"
#include "sys/result.hpp"

namespace zcrecv::daemon {

/// Everything of the configuration that shapes a connection, taken together when it is
/// accepted and kept for its life: a reload gives new connections new settings and leaves
/// the open ones as they were. Immutable, shared between workers.
struct ConnectionSettings {
  /// Shared so that an output directory replaced by a reload stays open for the connections
  /// still writing into it.
  std::shared_ptr<output::OutputDirectory> directory;
  output::NameTemplate name_template;
  output::RotationSettings rotation;
  config::LimitsConfig limits;
  /// The per-stream policy: limits and record boundaries (`receipt` is the listener's).
  stream::SessionSettings session;
  io::CopyMode copy_mode = io::CopyMode::kAuto;
  /// {host} in file names.
  std::string host;
  /// Set while [output] on_publish is on: each file gets a pending hand-off record when it is
  /// created, and is announced here once published. Owned by the daemon, which outlives every
  /// connection.
  handoff::HookRunner* hand_off = nullptr;
};

/// `output.time_zone` as the name template takes it.
output::TimeZone output_time_zone(config::TimeZone zone);

/// The settings `config` describes, writing into `directory` through `copy_mode` (a
/// command-line choice, not in the file) and handing files off to `hand_off` (null: none);
/// `publishes` (null: nobody) is told of every file published (retention).
/// Fails only on a name template that does not parse (the configuration loader validates it
/// first).
sys::Result<std::shared_ptr<const ConnectionSettings>> make_connection_settings(
    const config::Config& config, std::shared_ptr<output::OutputDirectory> directory,
    std::string host, io::CopyMode copy_mode, handoff::HookRunner* hand_off,
    std::shared_ptr<output::PublishObserver> publishes = nullptr);

}  // namespace zcrecv::daemon
