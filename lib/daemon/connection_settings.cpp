#include "daemon/connection_settings.hpp"

#include <utility>

namespace zcrecv::daemon {

output::TimeZone output_time_zone(config::TimeZone zone) {
  return zone == config::TimeZone::kLocal ? output::TimeZone::kLocal : output::TimeZone::kUtc;
}

sys::Result<std::shared_ptr<const ConnectionSettings>> make_connection_settings(
    const config::Config& config, std::shared_ptr<output::OutputDirectory> directory,
    std::string host, io::CopyMode copy_mode, handoff::HookRunner* hand_off,
    std::shared_ptr<output::PublishObserver> publishes) {
  // Compiled once per configuration, not per connection; it was already checked at load (§9.2),
  // so an error here carries the position in the file all the same.
  auto name_template = output::NameTemplate::parse(config.output.name.value,
                                                   output_time_zone(config.output.time_zone));
  if (!name_template) {
    return std::move(name_template).error().with_context(config.output.name.origin.where);
  }
  output::RotationSettings rotation;
  rotation.max_file_size = config.output.max_file_size;
  rotation.rotate_interval = config.output.rotate_interval;
  rotation.file_mode = config.output.file_mode;
  rotation.sync = config.output.sync == config::SyncMode::kPublish ? output::SyncMode::kPublish
                                                                   : output::SyncMode::kNone;
  rotation.writeback_bytes = config.output.writeback_bytes;
  rotation.keep_empty = config.output.keep_empty;
  rotation.observer = std::move(publishes);
  stream::SessionSettings session;
  session.idle_timeout = config.limits.idle_timeout;
  session.max_bytes = config.limits.max_connection_bytes;
  session.disk_full_timeout = config.limits.disk_full_timeout;
  if (!config.output.record_delimiter.empty()) {
    session.record_delimiter = static_cast<std::byte>(config.output.record_delimiter.front());
  }
  session.record_max = config.output.record_max;
  // Immutable and shared: every connection admitted under this configuration holds the same
  // snapshot, and a reload makes a new one rather than changing this (§4.2).
  return std::make_shared<const ConnectionSettings>(
      ConnectionSettings{std::move(directory), std::move(*name_template), rotation, config.limits,
                         session, copy_mode, std::move(host), hand_off});
}

}  // namespace zcrecv::daemon
