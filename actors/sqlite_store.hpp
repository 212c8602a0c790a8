// The status store on SQLite: one file (the server's data_dir/state.db), in
// WAL mode with synchronous=FULL, served by a detached actor that commits
// every change queued meanwhile in one transaction (group commit).
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <caf/fwd.hpp>

#include "messages/interfaces.hpp"

namespace cluster_actions {

/// A store file that cannot be used: not an SQLite database, damaged (it
/// fails `PRAGMA integrity_check` or holds a row no version wrote), another
/// application's database, or of a schema newer than this build knows.
/// what() names the file, says what is wrong and what the operator can do.
/// The file is left exactly as it was.
class store_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// An open store file. Serve it to the supervisor through
/// `spawn_sqlite_store`, whose actor makes every SQLite call.
///
/// Durability: a change is acknowledged only after the transaction holding
/// it has committed with synchronous=FULL, which in WAL mode means the WAL
/// was fsynced. Changes that arrive while a commit is in progress are
/// committed together in the next transaction, so that concurrent requests
/// share an fsync; each change is applied in a savepoint of its own, so that
/// one failing change does not fail the others of its transaction.
class sqlite_store {
public:
  /// The schema this build writes, kept in `PRAGMA user_version`. Version 1
  /// stored runs without when and by whom (no creation_time, start_time,
  /// end_time, started_by or result); opening a version-1 store adds those
  /// columns (empty for the runs already stored) and makes it version 2.
  static constexpr int schema_version = 2;

  /// Stores are marked with this `PRAGMA application_id` ("CAct"), which
  /// tells them apart from other applications' SQLite files.
  static constexpr std::int32_t application_id = 0x43416374;

  /// Opens the store at `path`, creating an empty one when there is no file
  /// (the directory must exist); checks it and migrates an older schema.
  /// Throws `store_error` when the file cannot be used.
  explicit sqlite_store(const std::string& path);

  /// Rolls back a transaction still open, and closes the file.
  ~sqlite_store();

  sqlite_store(const sqlite_store&) = delete;
  sqlite_store& operator=(const sqlite_store&) = delete;

  /// The file.
  const std::string& path() const noexcept;

  /// What the store has done so far. Thread-safe.
  struct statistics {
    std::uint64_t commits = 0; ///< transactions committed (one fsync each)
    std::uint64_t changes = 0; ///< writes and removals committed
  };
  statistics stats() const;

  /// For tests: while `reason` is not empty, every transaction is rolled
  /// back instead of committed and its changes fail with `reason`, as when
  /// the disk is full; loads still work. An empty `reason` ends it.
  /// Thread-safe.
  void inject_write_failure(std::string reason);

  // What the store's actor does, on its own thread: changes go into one open
  // transaction until `commit`.

  /// Every stored record, in queue order. Throws `std::runtime_error`.
  std::vector<run_record> load();

  /// Applies a write or a removal in the open transaction (opening one if
  /// needed). Returns "" or why this change failed; `lost` is set when the
  /// failure ended the whole transaction (a full disk, an I/O error), so
  /// that every change applied since `commit` was lost too.
  std::string put(const run_record& record, bool& lost);
  std::string remove(const std::string& name, const std::string& uid,
                     bool& lost);

  /// Commits the open transaction: "" or why it failed (then nothing of it
  /// was stored). `changes` is how many changes it holds, for the counts.
  std::string commit(std::uint64_t changes);

private:
  class impl;
  std::unique_ptr<impl> impl_;
};

/// Spawns the actor that serves `store_actor` on `store`: a detached actor,
/// so that SQLite runs on a thread of its own, never on the scheduler's.
/// Writes and removals are applied as they arrive and committed by a commit
/// message the actor sends itself behind them: everything that queued up
/// meanwhile shares the commit. Send it an exit message once the supervisor
/// is gone.
store_actor spawn_sqlite_store(caf::actor_system& system,
                               std::shared_ptr<sqlite_store> store);

} // namespace cluster_actions
