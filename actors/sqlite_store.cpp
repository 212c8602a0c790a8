#include "actors/sqlite_store.hpp"

#include <sqlite3.h>

#include <array>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <utility>

#include <caf/all.hpp>

namespace cluster_actions {

namespace {

/// A failed SQLite call, with SQLite's message.
class sql_failure : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Version 1: the runs and their parameters.
constexpr const char* schema_v1 = R"sql(
CREATE TABLE runs (
  name          TEXT PRIMARY KEY,
  action_uid    TEXT NOT NULL UNIQUE,
  state         TEXT NOT NULL,
  progress      REAL NOT NULL,
  error_code    TEXT NOT NULL,
  error_message TEXT NOT NULL,
  queue_order   INTEGER NOT NULL
);
CREATE TABLE params (
  action_uid TEXT NOT NULL,
  name       TEXT NOT NULL,
  kind       TEXT NOT NULL,
  text       TEXT NOT NULL,
  PRIMARY KEY (action_uid, name)
);
)sql";

/// Version 1 to 2: when and by whom. Runs stored before have none (0, "").
constexpr const char* migrate_v1_to_v2 = R"sql(
ALTER TABLE runs ADD COLUMN creation_time INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN start_time    INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN end_time      INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN started_by    TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN result        TEXT NOT NULL DEFAULT '';
)sql";

/// The statements that bring a store of version i + 1 to version i + 2.
constexpr std::array<const char*, sqlite_store::schema_version - 1> migrations{
  migrate_v1_to_v2,
};

constexpr std::array<const char*, 6> param_kind_names{
  "string", "integer", "number", "boolean", "null", "composite",
};

std::optional<param_kind> parse_param_kind(const std::string& name) {
  for (std::size_t i = 0; i < param_kind_names.size(); ++i)
    if (name == param_kind_names[i])
      return static_cast<param_kind>(i);
  return std::nullopt;
}

/// A prepared statement, finalized with its owner.
class statement {
public:
  statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, &stmt_,
                           nullptr)
        != SQLITE_OK)
      throw sql_failure(sqlite3_errmsg(db));
  }
  ~statement() {
    sqlite3_finalize(stmt_);
  }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  /// Makes the statement ready to run again, without arguments.
  statement& reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return *this;
  }

  /// Binds the arguments in order, from 1.
  template <class... Ts>
  statement& bind(const Ts&... xs) {
    reset();
    int index = 0;
    (bind_one(++index, xs), ...);
    return *this;
  }

  /// Steps once: true for a row, false when done.
  bool step() {
    switch (sqlite3_step(stmt_)) {
      case SQLITE_ROW:
        return true;
      case SQLITE_DONE:
        return false;
      default:
        std::string message = sqlite3_errmsg(db_);
        sqlite3_reset(stmt_); // ready to run again
        throw sql_failure(message);
    }
  }

  /// Runs a statement that returns no rows (with the arguments bound).
  void run() {
    while (step()) {
    }
    sqlite3_reset(stmt_);
  }

  std::string text(int column) const {
    auto data = sqlite3_column_text(stmt_, column);
    return data ? std::string{reinterpret_cast<const char*>(data),
                              static_cast<std::size_t>(
                                sqlite3_column_bytes(stmt_, column))}
                : std::string{};
  }
  std::int64_t integer(int column) const {
    return sqlite3_column_int64(stmt_, column);
  }
  double real(int column) const {
    return sqlite3_column_double(stmt_, column);
  }

private:
  void bind_one(int index, const std::string& value) {
    check(sqlite3_bind_text(stmt_, index, value.data(),
                            static_cast<int>(value.size()), SQLITE_TRANSIENT));
  }
  void bind_one(int index, const char* value) {
    check(sqlite3_bind_text(stmt_, index, value, -1, SQLITE_STATIC));
  }
  void bind_one(int index, std::int64_t value) {
    check(sqlite3_bind_int64(stmt_, index, value));
  }
  void bind_one(int index, std::uint64_t value) {
    check(sqlite3_bind_int64(stmt_, index, static_cast<std::int64_t>(value)));
  }
  void bind_one(int index, double value) {
    check(sqlite3_bind_double(stmt_, index, value));
  }
  void check(int rc) {
    if (rc != SQLITE_OK)
      throw sql_failure(sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

/// Runs `sql` (any number of statements without results).
void exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string text = message ? message : sqlite3_errmsg(db);
    sqlite3_free(message);
    throw sql_failure(text);
  }
}

/// The first column of every row of `sql`.
std::vector<std::string> column(sqlite3* db, const char* sql) {
  statement query{db, sql};
  std::vector<std::string> result;
  while (query.step())
    result.push_back(query.text(0));
  return result;
}

std::int64_t pragma_integer(sqlite3* db, const char* sql) {
  statement query{db, sql};
  return query.step() ? query.integer(0) : 0;
}

std::string join(const std::vector<std::string>& items) {
  std::string result;
  for (const auto& item : items)
    result += (result.empty() ? "" : ", ") + item;
  return result;
}

} // namespace

class sqlite_store::impl {
public:
  explicit impl(const std::string& path) : path_(path) {
    open();
    try {
      check_and_migrate();
      prepare();
    } catch (...) {
      // No destructor runs for an object whose constructor threw.
      statements_.reset();
      sqlite3_close(db_);
      throw;
    }
  }

  ~impl() {
    if (!sqlite3_get_autocommit(db_))
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
    statements_.reset();
    sqlite3_close(db_);
  }

  const std::string& path() const noexcept {
    return path_;
  }

  statistics stats() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return statistics_;
  }

  void inject_write_failure(std::string reason) {
    std::lock_guard<std::mutex> guard{mutex_};
    injected_failure_ = std::move(reason);
  }

  std::vector<run_record> load() {
    try {
      return load_all();
    } catch (const sql_failure& e) {
      throw std::runtime_error(std::string{"cannot read the stored statuses: "}
                               + e.what());
    }
  }

  /// Applies `change` in a savepoint of its own in the open transaction.
  template <class Change>
  std::string apply(Change change, bool& lost) {
    auto& st = *statements_;
    try {
      if (sqlite3_get_autocommit(db_))
        st.begin.run();
      st.savepoint.run();
      change();
      st.release.run();
      lost = false;
      return {};
    } catch (const sql_failure& e) {
      lost = !undo_change();
      return e.what();
    }
  }

  /// Undoes the change being applied; false when the whole transaction is
  /// gone: some errors (a full disk, an I/O error) end it, and then nothing
  /// of it stands.
  bool undo_change() {
    if (sqlite3_get_autocommit(db_))
      return false;
    try {
      statements_->rollback_to.run();
      statements_->release.run();
      return true;
    } catch (const sql_failure&) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return false;
    }
  }

  std::string put(const run_record& record, bool& lost) {
    return apply([&] { put_record(record); }, lost);
  }

  std::string remove(const std::string& name, const std::string& uid,
                     bool& lost) {
    return apply([&] { remove_record(name, uid); }, lost);
  }

  std::string commit(std::uint64_t changes) {
    auto& st = *statements_;
    if (sqlite3_get_autocommit(db_))
      return {}; // no transaction: nothing to commit
    auto injected = current_injected_failure();
    try {
      if (!injected.empty()) {
        st.rollback.run();
        return injected;
      }
      st.commit.run();
    } catch (const sql_failure& e) {
      // A failed COMMIT may leave the transaction open (SQLITE_BUSY) or
      // have rolled it back already (SQLITE_FULL, SQLITE_IOERR).
      if (!sqlite3_get_autocommit(db_))
        sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      return e.what();
    }
    std::lock_guard<std::mutex> guard{mutex_};
    ++statistics_.commits;
    statistics_.changes += changes;
    return {};
  }

private:
  /// The error for a file that cannot be used: what is wrong, that it was
  /// left alone, and what to do.
  [[noreturn]] void unusable(const std::string& what,
                             const std::string& advice) const {
    throw store_error(path_ + ": " + what
                      + ". The server has left the file as it is and does not "
                        "start. "
                      + advice);
  }

  std::string move_aside() const {
    return "Move it aside (mv " + path_ + " " + path_
           + ".bad) to start with no stored statuses, or put back a good copy.";
  }

  void open() {
    auto rc = sqlite3_open_v2(path_.c_str(), &db_,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                | SQLITE_OPEN_FULLMUTEX,
                              nullptr);
    if (rc != SQLITE_OK) {
      std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
      sqlite3_close(db_);
      db_ = nullptr;
      throw store_error(path_ + ": cannot open the status store: " + message
                        + ". Check that data_dir is a writable directory.");
    }
    // A change waits this long for a reader holding a lock (an operator's
    // sqlite3 shell) before it fails.
    sqlite3_busy_timeout(db_, 5000);
  }

  /// Reads what the file is, without writing to it until it is known to be
  /// a store of this or an older schema (or empty).
  void check_and_migrate() {
    std::int64_t app_id = 0;
    std::int64_t version = 0;
    try {
      app_id = pragma_integer(db_, "PRAGMA application_id");
      version = pragma_integer(db_, "PRAGMA user_version");
    } catch (const sql_failure& e) {
      fail_unreadable(e);
    }
    std::vector<std::string> problems;
    try {
      problems = column(db_, "PRAGMA integrity_check(20)");
    } catch (const sql_failure& e) {
      fail_unreadable(e);
    }
    if (problems != std::vector<std::string>{"ok"})
      unusable("is damaged: PRAGMA integrity_check reports: "
                 + join(problems),
               move_aside() + " (sqlite3 " + path_
                 + " .recover may save what is left.)");
    auto tables = column(
      db_, "SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name");
    if (app_id == 0 && version == 0 && tables.empty()) {
      create_schema();
    } else if (app_id != application_id) {
      std::ostringstream id;
      id << std::hex << app_id;
      unusable("is an SQLite database of another application (application_id "
                 "0x" + id.str() + ", tables: "
                 + (tables.empty() ? "none" : join(tables)) + ")",
               "Give the server a data_dir of its own, or move the file "
               "aside (mv " + path_ + " " + path_ + ".other).");
    } else if (version > schema_version || version < 1) {
      unusable("has schema version " + std::to_string(version)
                 + ", which this server does not know (it reads versions 1 to "
                 + std::to_string(schema_version)
                 + "): a newer cluster-actions-server wrote it",
               "Run that newer version on this data_dir, or " + move_aside());
    } else if (version < schema_version) {
      migrate(version);
    }
    check_rows();
    // WAL: readers do not block the writer; synchronous=FULL: a commit
    // returns only after the WAL is fsynced, so an acknowledged change
    // survives a crash of the machine, not only of the server.
    auto mode = column(db_, "PRAGMA journal_mode = WAL");
    if (mode != std::vector<std::string>{"wal"})
      throw store_error(path_ + ": cannot switch the status store to WAL mode "
                        "(the file system may not support it); use a "
                        "data_dir on a local file system.");
    exec(db_, "PRAGMA synchronous = FULL");
  }

  [[noreturn]] void fail_unreadable(const sql_failure& e) const {
    if (sqlite3_errcode(db_) == SQLITE_NOTADB)
      unusable("is not an SQLite database (" + std::string{e.what()} + ")",
               move_aside());
    unusable("is damaged: it cannot be read (" + std::string{e.what()} + ")",
             move_aside());
  }

  void create_schema() {
    exec(db_, "BEGIN IMMEDIATE");
    exec(db_, schema_v1);
    for (auto step : migrations)
      exec(db_, step);
    set_version_and_commit();
  }

  void migrate(std::int64_t from) {
    exec(db_, "BEGIN IMMEDIATE");
    try {
      for (auto v = from; v < schema_version; ++v)
        exec(db_, migrations[static_cast<std::size_t>(v - 1)]);
      set_version_and_commit();
    } catch (const sql_failure& e) {
      exec(db_, "ROLLBACK");
      unusable("could not be migrated from schema version "
                 + std::to_string(from) + " to "
                 + std::to_string(schema_version) + " (" + e.what() + ")",
               move_aside());
    }
  }

  void set_version_and_commit() {
    exec(db_, ("PRAGMA application_id = " + std::to_string(application_id)
               + "; PRAGMA user_version = " + std::to_string(schema_version)
               + "; COMMIT")
                .c_str());
  }

  /// Every stored state and parameter kind must be one this build knows:
  /// anything else was not written by a server.
  void check_rows() {
    // `query` yields (what, value) rows; `known` checks a value.
    auto require_known = [this](const char* query, auto known,
                                const std::string& kind) {
      statement rows{db_, query};
      while (rows.step())
        if (!known(rows.text(1)))
          unusable("is damaged: " + rows.text(0) + " has the unknown " + kind
                     + " '" + rows.text(1) + "'",
                   move_aside());
    };
    try {
      require_known("SELECT 'the run of ' || name, state FROM runs",
                    parse_action_state, "state");
      require_known("SELECT 'a parameter of run ' || action_uid, kind "
                    "FROM params",
                    parse_param_kind, "kind");
    } catch (const sql_failure& e) {
      unusable("does not have the tables of its schema version ("
                 + std::string{e.what()} + ")",
               move_aside());
    }
  }

  struct statements {
    explicit statements(sqlite3* db)
      : uid_of(db, "SELECT action_uid FROM runs WHERE name = ?"),
        put_run(db, "INSERT OR REPLACE INTO runs (name, action_uid, state, "
                    "progress, error_code, error_message, queue_order, "
                    "creation_time, start_time, end_time, started_by, result) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"),
        put_param(db, "INSERT OR REPLACE INTO params (action_uid, name, kind, "
                      "text) VALUES (?, ?, ?, ?)"),
        drop_params(db, "DELETE FROM params WHERE action_uid = ?"),
        drop_run(db, "DELETE FROM runs WHERE name = ? AND action_uid = ?"),
        all_runs(db, "SELECT name, action_uid, state, progress, error_code, "
                     "error_message, queue_order, creation_time, start_time, "
                     "end_time, started_by, result FROM runs "
                     "ORDER BY queue_order"),
        all_params(db, "SELECT action_uid, name, kind, text FROM params"),
        begin(db, "BEGIN IMMEDIATE"),
        commit(db, "COMMIT"),
        rollback(db, "ROLLBACK"),
        savepoint(db, "SAVEPOINT change"),
        release(db, "RELEASE change"),
        rollback_to(db, "ROLLBACK TO change") {}
    statement uid_of;
    statement put_run;
    statement put_param;
    statement drop_params;
    statement drop_run;
    statement all_runs;
    statement all_params;
    statement begin;
    statement commit;
    statement rollback;
    statement savepoint;
    statement release;
    statement rollback_to;
  };

  void prepare() {
    try {
      statements_ = std::make_unique<statements>(db_);
    } catch (const sql_failure& e) {
      unusable("does not have the tables of its schema version ("
                 + std::string{e.what()} + ")",
               move_aside());
    }
  }

  std::vector<run_record> load_all() {
    std::map<std::string, action_params> params;
    auto& p = statements_->all_params.reset();
    while (p.step())
      params[p.text(0)][p.text(1)]
        = param_value{*parse_param_kind(p.text(2)), p.text(3)};
    std::vector<run_record> records;
    auto& r = statements_->all_runs.reset();
    while (r.step()) {
      run_record record;
      auto& s = record.status;
      s.name = r.text(0);
      s.action_uid = r.text(1);
      s.state = *parse_action_state(r.text(2));
      s.progress = r.real(3);
      s.error_code = r.text(4);
      s.error_message = r.text(5);
      record.queue_order = static_cast<std::uint64_t>(r.integer(6));
      s.creation_time = r.integer(7);
      s.start_time = r.integer(8);
      s.end_time = r.integer(9);
      s.started_by = r.text(10);
      s.result = r.text(11);
      record.params = std::move(params[s.action_uid]);
      records.push_back(std::move(record));
    }
    return records;
  }

  void put_record(const run_record& record) {
    const auto& s = record.status;
    auto& st = *statements_;
    std::optional<std::string> stored_uid;
    if (st.uid_of.bind(s.name).step())
      stored_uid = st.uid_of.text(0);
    st.uid_of.reset();
    // Parameters do not change during a run: written with its first record.
    if (stored_uid != s.action_uid) {
      if (stored_uid)
        st.drop_params.bind(*stored_uid).run();
      for (const auto& [name, value] : record.params)
        st.put_param
          .bind(s.action_uid, name,
                param_kind_names[static_cast<std::size_t>(value.kind)],
                value.text)
          .run();
    }
    st.put_run
      .bind(s.name, s.action_uid, std::string{to_string(s.state)}, s.progress,
            s.error_code, s.error_message, record.queue_order, s.creation_time,
            s.start_time, s.end_time, s.started_by, s.result)
      .run();
  }

  void remove_record(const std::string& name, const std::string& uid) {
    auto& st = *statements_;
    st.drop_run.bind(name, uid).run();
    st.drop_params.bind(uid).run();
  }

  std::string current_injected_failure() const {
    std::lock_guard<std::mutex> guard{mutex_};
    return injected_failure_;
  }

  std::string path_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<statements> statements_;
  /// Guards what other threads read or set.
  mutable std::mutex mutex_;
  std::string injected_failure_;
  statistics statistics_;
};

sqlite_store::sqlite_store(const std::string& path)
  : impl_(std::make_unique<impl>(path)) {
  // nop
}

sqlite_store::~sqlite_store() = default;

const std::string& sqlite_store::path() const noexcept {
  return impl_->path();
}

sqlite_store::statistics sqlite_store::stats() const {
  return impl_->stats();
}

void sqlite_store::inject_write_failure(std::string reason) {
  impl_->inject_write_failure(std::move(reason));
}

std::vector<run_record> sqlite_store::load() {
  return impl_->load();
}

std::string sqlite_store::put(const run_record& record, bool& lost) {
  return impl_->put(record, lost);
}

std::string sqlite_store::remove(const std::string& name,
                                 const std::string& uid, bool& lost) {
  return impl_->remove(name, uid, lost);
}

std::string sqlite_store::commit(std::uint64_t changes) {
  return impl_->commit(changes);
}

namespace {

/// The actor's order to itself: commit what was applied before it.
using commit_atom = caf::atom_constant<caf::atom("ca_commit")>;

using sqlite_store_actor
  = store_actor::extend<caf::reacts_to<commit_atom>>;

struct sqlite_store_state {
  std::shared_ptr<sqlite_store> store;
  /// The changes of the open transaction, waiting for its commit.
  std::vector<caf::typed_response_promise<durable_atom>> uncommitted;
  /// A commit_atom is on its way.
  bool commit_requested = false;
  static inline const char* name = "cluster_actions.sqlite_store";
};

using store_self = sqlite_store_actor::stateful_pointer<sqlite_store_state>;

caf::error storage_failure(store_self self, const std::string& reason) {
  return caf::make_error(action_error::storage_unavailable,
                         "the status store " + self->state.store->path()
                           + " failed: " + reason);
}

/// Answers every change of the open transaction with `err`, or as durable.
void answer_uncommitted(store_self self, const caf::error& err) {
  auto promises = std::move(self->state.uncommitted);
  self->state.uncommitted.clear();
  for (auto& promise : promises)
    if (err)
      promise.deliver(err);
    else
      promise.deliver(durable_atom::value);
}

void commit(store_self self) {
  auto& st = self->state;
  auto failure = st.store->commit(st.uncommitted.size());
  answer_uncommitted(self, failure.empty() ? caf::error{}
                                           : storage_failure(self, failure));
}

/// The answer to one change applied in the open transaction: kept for the
/// commit, which the first change of a transaction asks for, behind every
/// change that is already waiting.
caf::result<durable_atom> applied(store_self self, const std::string& failure,
                                  bool lost) {
  auto& st = self->state;
  if (lost) {
    // The transaction is gone, with the changes before this one.
    answer_uncommitted(self, storage_failure(self, failure));
    return storage_failure(self, failure);
  }
  if (!st.commit_requested) {
    st.commit_requested = true;
    self->send(self, commit_atom::value);
  }
  if (!failure.empty())
    return storage_failure(self, failure);
  st.uncommitted.push_back(self->make_response_promise<durable_atom>());
  return st.uncommitted.back();
}

sqlite_store_actor::behavior_type
sqlite_store_behavior(store_self self, std::shared_ptr<sqlite_store> store) {
  self->state.store = std::move(store);
  return {
    [=](load_atom) -> caf::result<std::vector<run_record>> {
      commit(self); // a load sees every change before it
      try {
        return self->state.store->load();
      } catch (const std::runtime_error& e) {
        return storage_failure(self, e.what());
      }
    },
    [=](write_atom, const run_record& record) {
      bool lost = false;
      auto failure = self->state.store->put(record, lost);
      return applied(self, failure, lost);
    },
    [=](remove_atom, const std::string& name, const std::string& uid) {
      bool lost = false;
      auto failure = self->state.store->remove(name, uid, lost);
      return applied(self, failure, lost);
    },
    [=](commit_atom) {
      self->state.commit_requested = false;
      commit(self);
    },
  };
}

} // namespace

store_actor spawn_sqlite_store(caf::actor_system& system,
                               std::shared_ptr<sqlite_store> store) {
  return system.spawn<caf::detached>(sqlite_store_behavior, std::move(store));
}

} // namespace cluster_actions
