/// @file
/// The embedded store: SQLite in WAL mode with `synchronous=FULL` at
/// DIR/state.db, one table of keys and binary values; a batch is one
/// IMMEDIATE transaction. The leader's address lives in a table of its own,
/// so that `load` returns the controller's keys only.
#include <filesystem>
#include <system_error>

#include <sqlite3.h>

#include "actorserve/error.hpp"
#include "store/state_store.hpp"

namespace actorserve::detail {

namespace {

constexpr const char* schema =
    "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value BLOB NOT NULL);"
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);";

/// A prepared statement, finalized when it goes.
class statement {
public:
  statement(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~statement() { sqlite3_finalize(stmt_); }
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;

  bool ok() const noexcept { return rc_ == SQLITE_OK; }
  sqlite3_stmt* get() const noexcept { return stmt_; }

  void bind_text(int i, const std::string& s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()),
                      SQLITE_TRANSIENT);
  }
  void bind_blob(int i, const std::string& s) {
    // A zero-length blob still binds as a blob, not NULL.
    sqlite3_bind_blob(stmt_, i, s.empty() ? "" : s.data(),
                      static_cast<int>(s.size()), SQLITE_TRANSIENT);
  }
  /// Runs a statement that returns no rows, ready to run again.
  bool run() {
    auto rc = sqlite3_step(stmt_);
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
    return rc == SQLITE_DONE;
  }

private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_ = SQLITE_ERROR;
};

std::string column_bytes(sqlite3_stmt* stmt, int i) {
  auto data = static_cast<const char*>(sqlite3_column_blob(stmt, i));
  auto size = sqlite3_column_bytes(stmt, i);
  return data == nullptr ? std::string{}
                         : std::string(data, static_cast<size_t>(size));
}

class sqlite_store final : public state_store {
public:
  sqlite_store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~sqlite_store() override { sqlite3_close_v2(db_); }

  caf::error commit(const store_batch& batch) override {
    if (!exec("BEGIN IMMEDIATE"))
      return failure("begin");
    if (!apply(batch)) {
      auto err = failure("write");
      exec("ROLLBACK");
      return err;
    }
    if (!exec("COMMIT")) {
      auto err = failure("commit");
      exec("ROLLBACK");
      return err;
    }
    return {};
  }

  caf::expected<std::map<std::string, std::string>> load() override {
    statement select(db_, "SELECT key, value FROM state");
    if (!select.ok())
      return failure("load");
    std::map<std::string, std::string> result;
    int rc;
    while ((rc = sqlite3_step(select.get())) == SQLITE_ROW)
      result.emplace(column_bytes(select.get(), 0),
                     column_bytes(select.get(), 1));
    if (rc != SQLITE_DONE)
      return failure("load");
    return result;
  }

  caf::expected<bool> hold_lease(const std::string&,
                                 std::chrono::milliseconds) override {
    return true;
  }

  void release_lease(const std::string&) override {
    // A single head: nothing to give up.
  }

  caf::error publish_leader(const std::string& address) override {
    statement put(db_, "INSERT OR REPLACE INTO meta (key, value) VALUES ('leader', ?)");
    if (!put.ok())
      return failure("publish leader");
    put.bind_blob(1, address);
    if (!put.run())
      return failure("publish leader");
    return {};
  }

  caf::expected<std::string> leader_address() override {
    statement get(db_, "SELECT value FROM meta WHERE key = 'leader'");
    if (!get.ok())
      return failure("leader address");
    auto rc = sqlite3_step(get.get());
    if (rc == SQLITE_ROW)
      return column_bytes(get.get(), 0);
    if (rc == SQLITE_DONE)
      return std::string{};
    return failure("leader address");
  }

  std::string where() const override { return "sqlite:" + path_; }

private:
  bool exec(const char* sql) {
    return sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) == SQLITE_OK;
  }

  bool apply(const store_batch& batch) {
    if (!batch.puts.empty()) {
      statement put(db_, "INSERT OR REPLACE INTO state (key, value) VALUES (?, ?)");
      if (!put.ok())
        return false;
      for (auto& [key, value] : batch.puts) {
        put.bind_text(1, key);
        put.bind_blob(2, value);
        if (!put.run())
          return false;
      }
    }
    if (!batch.erases.empty()) {
      statement erase(db_, "DELETE FROM state WHERE key = ?");
      if (!erase.ok())
        return false;
      for (auto& key : batch.erases) {
        erase.bind_text(1, key);
        if (!erase.run())
          return false;
      }
    }
    return true;
  }

  caf::error failure(const char* what) const {
    return make_error(errc::unavailable, "state store " + where() + ": " + what
                                             + ": " + sqlite3_errmsg(db_));
  }

  sqlite3* db_;
  std::string path_;
};

caf::error bad_dir(const std::string& dir, const std::string& why) {
  return make_error(errc::invalid_config,
                    "--state-dir '" + dir + "': " + why);
}

/// Creates `dir` (and its parents) if it is not there; the directory
/// itself is the owner's only.
caf::error make_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(dir, ec))
    return {};
  if (!fs::create_directories(dir, ec) && ec)
    return bad_dir(dir, ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  if (ec)
    return bad_dir(dir, ec.message());
  return {};
}

} // namespace

caf::expected<store_ptr> open_sqlite_store(const std::string& dir,
                                           std::chrono::milliseconds timeout) {
  if (auto err = make_dir(dir))
    return err;
  auto path = (std::filesystem::path{dir} / "state.db").string();
  sqlite3* db = nullptr;
  auto rc = sqlite3_open_v2(path.c_str(), &db,
                            SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                                | SQLITE_OPEN_NOMUTEX,
                            nullptr);
  if (rc != SQLITE_OK) {
    std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return bad_dir(dir, path + ": " + why);
  }
  auto store = std::make_shared<sqlite_store>(db, path);
  sqlite3_busy_timeout(db, static_cast<int>(timeout.count()));
  // WAL's answer is the mode now in force: anything else means the
  // directory's file system cannot hold it.
  statement wal(db, "PRAGMA journal_mode=WAL");
  if (!wal.ok() || sqlite3_step(wal.get()) != SQLITE_ROW
      || column_bytes(wal.get(), 0) != "wal")
    return bad_dir(dir, path + ": cannot use WAL: " + sqlite3_errmsg(db));
  if (sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr)
          != SQLITE_OK
      || sqlite3_exec(db, schema, nullptr, nullptr, nullptr) != SQLITE_OK)
    return bad_dir(dir, path + ": " + sqlite3_errmsg(db));
  return store_ptr{std::move(store)};
}

} // namespace actorserve::detail
