#include "output/rotating_file.hpp"

#include <fcntl.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <limits>
#include <string>
#include <utility>

#include "output/client_value.hpp"
#include "sys/quoted.hpp"

namespace zcrecv::output {
namespace {

constexpr std::uint64_t kUnlimited = std::numeric_limits<std::uint64_t>::max();

// Whether creating a file failed because of its name, which a client value may have shaped:
// too long (ENAMETOOLONG), a file or a symlink where the name needs a directory (ENOTDIR,
// ELOOP, or Error::invalid, errno 0, from OutputDirectory::create), a directory where it needs
// a file (EISDIR), every numbered name taken (EEXIST), or a name the filesystem refuses
// (EINVAL, EILSEQ). A full disk or a read-only filesystem would fail the fallback name too.
bool is_name_fault(const sys::Error& error) {
  switch (error.errno_value()) {
    case 0:
    case ENAMETOOLONG:
    case ENOTDIR:
    case ELOOP:
    case EISDIR:
    case EEXIST:
    case EINVAL:
    case EILSEQ:
      return true;
    default:
      return false;
  }
}

// {client_cn} for the log: the CN exactly as the client sent it, quoted.
std::string describe(const ClientCn& client_cn) {
  switch (client_cn.kind) {
    case ClientCn::Kind::kNoCertificate:
      return "none";
    case ClientCn::Kind::kUnverified:
      return "unverified";
    case ClientCn::Kind::kVerified:
      break;
  }
  return sys::quoted(client_cn.name);
}

}  // namespace

RotatingFile::RotatingFile(OutputDirectory& directory, const NameTemplate& name_template,
                           ConnectionNames names, RotationSettings settings, Clock clock)
    : directory_(&directory),
      name_template_(name_template),
      names_(std::move(names)),
      settings_(settings),
      clock_(std::move(clock)) {
  shared_->observer = settings_.observer;
}

RotatingFile::~RotatingFile() {
  if (shared_) {
    shared_->detached = true;
  }
}

void RotatingFile::use_sync_stage(SyncStage& stage, Post post) {
  stage_ = &stage;
  post_ = std::move(post);
  publishes_ = stage.make_strand();
  writebacks_ = stage.make_strand();
}

sys::Result<int> RotatingFile::sink() {
  if (current_) {
    return current_->fd();
  }
  auto created = create(clock_());
  if (!created) {
    return std::move(created).error();
  }
  if (on_created_) {
    // The hand-off record goes on before the first byte: a crash after any byte leaves a file that
    // recovery publishes, and it must already carry its pending record (docs/design.md §8.4).
    if (auto marked = on_created_(created->fd(), next_seq_); !marked) {
      // Unmarked, the file would miss what the mark is for: no file rather than such a file.
      const std::string name = created->name();
      (void)directory_->discard(std::move(*created));
      return std::move(marked).error().with_context("output file \"" + name + "\"");
    }
    created->mark_attributes();
  }
  shared_->current_seq = next_seq_;
  shared_->written_back = 0;
  writeback_started_ = 0;
  ++next_seq_;
  current_.emplace(std::move(*created));
  return current_->fd();
}

sys::Result<PartialFile> RotatingFile::create(std::chrono::system_clock::time_point opened) {
  const NameFields fields{names_.listener, names_.peer, names_.conn, names_.host,
                          next_seq_,       opened,      names_.client_cn};
  // A constant that parses, so the dereference is safe; parsed once, on first use.
  static const NameTemplate fallback = *NameTemplate::parse(kFallbackNameTemplate);
  // Once a name failed, the connection's later files use the fallback too: the client values that
  // shaped it stay the same for the connection, so the template would most likely fail again, and
  // one warning per connection is enough.
  if (fallen_back_) {
    return directory_->create(fallback.render(fields), settings_.file_mode, opened);
  }
  const std::string name = name_template_.render(fields);
  auto created = directory_->create(name, settings_.file_mode, opened);
  if (created || !is_name_fault(created.error())) {
    return created;
  }
  fallen_back_ = true;
  const std::string fallback_name = fallback.render(fields);
  spdlog::warn(
      "listener {}: connection {}: {}; the stream goes to \"{}\" instead (peer {}, client_cn {})",
      names_.listener, names_.conn, created.error().message(), fallback_name,
      sys::quoted(names_.peer), describe(names_.client_cn));
  auto fell_back = directory_->create(fallback_name, settings_.file_mode, opened);
  if (!fell_back) {
    return std::move(fell_back).error().with_context(created.error().message() +
                                                     "; and the fallback name");
  }
  return fell_back;
}

std::uint64_t RotatingFile::room() const {
  if (settings_.max_file_size == 0) {
    return kUnlimited;
  }
  std::uint64_t written = current_ ? current_->bytes_written() : 0;
  return written >= settings_.max_file_size ? 0 : settings_.max_file_size - written;
}

void RotatingFile::add_written(std::uint64_t bytes) {
  bytes_ += bytes;
  if (!current_) {
    return;
  }
  current_->add_written(bytes);
  const std::uint64_t step = settings_.writeback_bytes;
  if (!syncs_on_stage() || step == 0) {
    return;
  }
  // A loop, not an if: one large pump may cross several steps, and each range gets its own job so
  // that the waits stay one range behind.
  while (current_->bytes_written() - writeback_started_ >= step) {
    const std::uint64_t start = writeback_started_;
    writeback_started_ += step;
    // Start writing this range and wait for the one before, which the previous job started:
    // two ranges stay in flight, so the disk always has the next one queued (RocksDB's
    // bytes_per_sync, with the wait that bounds the dirty pages).
    const std::uint64_t seq = shared_->current_seq;
    stage_->submit(writebacks_, [fd = current_->shared_fd(), start, step, seq,
                                 calls = &stage_->calls(), shared = shared_, post = post_] {
      // SYNC_FILE_RANGE_WRITE alone starts writeback of the range's dirty pages without waiting for
      // it; its failure is ignored because it only spreads the writing, and the wait below would
      // report it.
      (void)calls->sync_file_range(fd->get(), start, step, SYNC_FILE_RANGE_WRITE);
      // The first range has no range before it to wait for.
      if (start == 0) {
        return;
      }
      // A failure here is found again by the fdatasync at publish, which decides.
      if (!calls->sync_file_range(fd->get(), start - step, step,
                                  SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                                      SYNC_FILE_RANGE_WAIT_AFTER)) {
        return;
      }
      post([shared, seq, start] {
        // Progress of an earlier file says nothing about the current one, whose written-back offset
        // starts again at 0.
        if (shared->detached || shared->current_seq != seq) {
          return;
        }
        shared->written_back = std::max(shared->written_back, start);
        if (shared->on_progress) {
          shared->on_progress();
        }
      });
    });
  }
}

std::uint64_t RotatingFile::unsynced_room() const {
  const std::uint64_t step = settings_.writeback_bytes;
  if (!syncs_on_stage() || step == 0) {
    return kUnlimited;
  }
  if (!current_) {
    return 2 * step;
  }
  const std::uint64_t unsynced = current_->bytes_written() - shared_->written_back;
  // Two steps: the range being written back and the one being filled. Beyond that the session
  // pauses, which bounds what one connection has dirty in the page cache (docs/design.md §4.7).
  return unsynced >= 2 * step ? 0 : 2 * step - unsynced;
}

bool RotatingFile::rotation_due(std::chrono::system_clock::time_point now) const {
  if (!current_) {
    return false;
  }
  if (settings_.max_file_size != 0 && current_->bytes_written() >= settings_.max_file_size) {
    return true;
  }
  return settings_.rotate_interval.count() != 0 &&
         now - current_->opened() >= settings_.rotate_interval;
}

std::optional<std::chrono::system_clock::time_point> RotatingFile::rotation_deadline() const {
  if (!current_ || settings_.rotate_interval.count() == 0) {
    return std::nullopt;
  }
  return current_->opened() +
         std::chrono::duration_cast<std::chrono::system_clock::duration>(settings_.rotate_interval);
}

sys::Result<void> RotatingFile::rotate() {
  if (!current_) {
    return {};
  }
  return close_current(Completion::kComplete);
}

sys::Result<void> RotatingFile::finish(Completion completion) {
  // A stream cut right after a file filled up has no file open: its next file, empty, is
  // published as NAME.incomplete, whatever keep_empty says, so that the cut shows on disk and
  // the file before it is not taken for the stream's complete end.
  const bool cut_marker = !current_ && next_seq_ > 0 && completion == Completion::kIncomplete;
  if (!current_ && (cut_marker || (next_seq_ == 0 && settings_.keep_empty))) {
    if (auto opened = sink(); !opened) {
      return std::move(opened).error();
    }
  }
  if (!current_) {
    return {};
  }
  return close_current(completion, cut_marker);
}

sys::Result<std::uint64_t> RotatingFile::reserve(std::uint64_t wanted) {
  if (!current_) {
    return sys::Error::invalid("no open file to reserve space in");
  }
  auto covered = reservation_.cover(current_->fd(), current_->bytes_written(), wanted);
  if (!covered) {
    return std::move(covered).error().with_context(current_->partial_path());
  }
  return covered;
}

sys::Result<void> RotatingFile::close_current(Completion completion, bool keep_empty) {
  // The reservation is given back first, so that its ftruncate comes before the fdatasync on the
  // stage: the file that is synced and published has no blocks reserved past its end.
  reservation_.release(current_->fd(), current_->bytes_written());
  if (current_->bytes_written() == 0 && !settings_.keep_empty && !keep_empty) {
    auto discarded = directory_->discard(std::move(*current_));
    if (!discarded) {
      return discarded;
    }
    current_.reset();
    // The next file takes the discarded one's number, so the published {seq} have no gaps.
    --next_seq_;
    return {};
  }
  if (syncs_on_stage()) {
    hand_to_stage(std::move(*current_), completion);
    current_.reset();
    return {};
  }
  // Without a sync stage the file publishes here, on the owner's thread, syncing as settings_.sync
  // says: with sync = "none" a rename only, which survives a process crash, not a power cut; the
  // one-shot modes sync here, on their one thread (docs/design.md §12).
  const std::uint64_t seq = next_seq_ - 1;
  const std::uint64_t bytes = current_->bytes_written();
  auto published = directory_->publish(std::move(*current_), completion, settings_.sync);
  if (!published) {
    // Still open: the rename failed and the partial file is intact for another try. Closed:
    // the file was published but its directory fsync failed.
    if (!current_->is_open()) {
      current_.reset();
    }
    return std::move(published).error();
  }
  current_.reset();
  ++shared_->published;
  const PublishedFile file{std::move(*published), seq, bytes, completion, {}};
  if (shared_->observer) {
    shared_->observer->published(file);
  }
  if (shared_->on_published) {
    shared_->on_published(file);
  }
  return {};
}

void RotatingFile::hand_to_stage(PartialFile&& file, Completion completion) {
  // Counted on the owner's thread before the job is submitted: the receipt and the sync
  // backpressure both go by the files not yet durable.
  ++shared_->pending;
  const auto handed = std::chrono::steady_clock::now();
  PublishedFile published{{}, next_seq_ - 1, file.bytes_written(), completion, {}};
  // Shared: the job and the rename step both hold the file; whichever finishes last closes its
  // descriptor, on a stage thread.
  auto owned = std::make_shared<PartialFile>(std::move(file));
  SyncStage& stage = *stage_;
  stage.submit(publishes_, [&stage, strand = publishes_, owned, published, handed,
                            shared = shared_, post = post_]() mutable {
    // Reported on the owner's thread: the file published durably, or the error that stopped it.
    auto done = [shared, post](sys::Result<PublishedFile> outcome) {
      post([shared, outcome = std::move(outcome)] {
        // The file is there whether or not its owner still is.
        if (outcome && shared->observer) {
          shared->observer->published(*outcome);
        }
        if (shared->detached) {
          return;
        }
        --shared->pending;
        if (outcome) {
          ++shared->published;
          if (shared->on_published) {
            shared->on_published(*outcome);
          }
        } else if (shared->on_failed) {
          shared->on_failed(outcome.error());
        }
        if (shared->on_progress) {
          shared->on_progress();
        }
      });
    };
    if (auto synced = OutputDirectory::sync_before_rename(*owned, stage.calls().fdatasync,
                                                          stage.calls().fsync);
        !synced) {
      // The page cache may have dropped bytes the disk refused (and a second fdatasync would
      // not say so): never publish this file as complete. As recovery would, publish what is
      // there as NAME.incomplete, and report the failure.
      // The error names the file (sync_before_rename).
      std::string message = synced.error().message();
      auto renamed = OutputDirectory::rename_into_place(*owned, Completion::kIncomplete);
      message += renamed ? "; published as \"" + renamed->name +
                               "\", whose bytes may not all be on disk"
                         : "; not published: " + renamed.error().message();
      done(sys::Error::invalid(message));
      return;
    }
    // The rename runs in its directory's batch, with the others due there; this connection's
    // next publish waits for it, so the names appear in {seq} order.
    auto renamed = std::make_shared<std::optional<OutputDirectory::Renamed>>();
    stage.commit_in_directory(
        strand, owned->directory_fd(),
        [owned, renamed, done, completion = published.completion] {
          auto moved = OutputDirectory::rename_into_place(*owned, completion);
          if (!moved) {
            done(std::move(moved).error());
            return false;
          }
          renamed->emplace(std::move(*moved));
          return true;
        },
        [done, published, handed, renamed](const sys::Result<void>& committed) mutable {
          if (!committed) {
            done(OutputDirectory::directory_sync_failed(**renamed, committed.error()));
            return;
          }
          published.name = (*renamed)->name;
          published.latency = std::chrono::steady_clock::now() - handed;
          done(std::move(published));
        });
  });
}

}  // namespace zcrecv::output
