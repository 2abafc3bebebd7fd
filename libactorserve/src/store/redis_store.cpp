/// @file
/// The shared store: Redis, through hiredis. The keys live in one hash,
/// `PREFIX:state`; a batch is one MULTI/EXEC. The leader's lease is
/// `PREFIX:leader` (its owner, with a TTL), taken, renewed and released by
/// small Lua scripts that check the owner; the leader's address is
/// `PREFIX:leader-address`.
///
/// A failed connection is dropped and made again on the next call; each
/// connect, send and receive is bounded by the store's timeout.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <sys/time.h>

#include <hiredis/hiredis.h>

#include "actorserve/error.hpp"
#include "store/state_store.hpp"

namespace actorserve::detail {

namespace {

/// Takes the lease if free, renews it if `owner` holds it: 1, else 0.
constexpr const char* hold_script =
    "local v = redis.call('GET', KEYS[1]) "
    "if v == false then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end "
    "if v == ARGV[1] then redis.call('PEXPIRE', KEYS[1], ARGV[2]) return 1 end "
    "return 0";

/// Deletes the lease if `owner` holds it.
constexpr const char* release_script =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then "
    "return redis.call('DEL', KEYS[1]) end return 0";

struct reply_deleter {
  void operator()(redisReply* r) const noexcept { freeReplyObject(r); }
};
using reply_ptr = std::unique_ptr<redisReply, reply_deleter>;

struct context_deleter {
  void operator()(redisContext* c) const noexcept { redisFree(c); }
};
using context_ptr = std::unique_ptr<redisContext, context_deleter>;

timeval to_timeval(std::chrono::milliseconds ms) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
  return tv;
}

/// A command's arguments, binary-safe.
struct command {
  std::vector<const char*> argv;
  std::vector<size_t> lens;
  void add(const std::string& s) {
    argv.push_back(s.data());
    lens.push_back(s.size());
  }
  void add(const char* s) {
    argv.push_back(s);
    lens.push_back(std::strlen(s));
  }
};

std::string reply_text(const redisReply* r) {
  return r->str != nullptr ? std::string(r->str, r->len) : std::string{};
}

class redis_store final : public state_store {
public:
  redis_store(redis_url url, std::string password,
              std::chrono::milliseconds timeout)
      : url_(std::move(url)),
        password_(std::move(password)),
        timeout_(timeout),
        hash_(url_.prefix + ":state"),
        lease_(url_.prefix + ":leader"),
        address_(url_.prefix + ":leader-address") {}

  /// Connects (and authenticates) unless connected.
  caf::error connect() {
    if (ctx_)
      return {};
    auto tv = to_timeval(timeout_);
    context_ptr ctx{redisConnectWithTimeout(url_.host.c_str(), url_.port, tv)};
    if (!ctx)
      return failure("connect: out of memory");
    if (ctx->err != 0)
      return failure("connect: " + std::string{ctx->errstr});
    if (redisSetTimeout(ctx.get(), tv) != REDIS_OK)
      return failure("set timeout: " + std::string{ctx->errstr});
    ctx_ = std::move(ctx);
    if (password_.empty())
      return {};
    command auth;
    auth.add("AUTH");
    auth.add(password_);
    auto r = call(auth);
    if (!r) {
      ctx_.reset(); // not authenticated: the next call starts again
      return r.error();
    }
    return {};
  }

  caf::error commit(const store_batch& batch) override {
    if (batch.empty())
      return {};
    if (auto err = connect())
      return err;
    std::vector<command> cmds;
    cmds.emplace_back().add("MULTI");
    if (!batch.puts.empty()) {
      auto& hset = cmds.emplace_back();
      hset.add("HSET");
      hset.add(hash_);
      for (auto& [key, value] : batch.puts) {
        hset.add(key);
        hset.add(value);
      }
    }
    if (!batch.erases.empty()) {
      auto& hdel = cmds.emplace_back();
      hdel.add("HDEL");
      hdel.add(hash_);
      for (auto& key : batch.erases)
        hdel.add(key);
    }
    cmds.emplace_back().add("EXEC");
    for (auto& c : cmds)
      redisAppendCommandArgv(ctx_.get(), static_cast<int>(c.argv.size()),
                             c.argv.data(), c.lens.data());
    caf::error first;
    for (size_t i = 0; i < cmds.size(); ++i) {
      auto r = receive();
      if (!r)
        return r.error(); // the connection is gone: EXEC may not have run
      if (!first && (*r)->type == REDIS_REPLY_ERROR)
        first = failure("commit: " + reply_text(r->get()));
      if (i + 1 == cmds.size() && !first)
        first = check_exec(r->get());
    }
    return first;
  }

  caf::expected<std::map<std::string, std::string>> load() override {
    command hgetall;
    hgetall.add("HGETALL");
    hgetall.add(hash_);
    auto r = call(hgetall);
    if (!r)
      return r.error();
    auto* reply = r->get();
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2 != 0)
      return failure("load: not a hash");
    std::map<std::string, std::string> result;
    for (size_t i = 0; i + 1 < reply->elements; i += 2)
      result.emplace(reply_text(reply->element[i]),
                     reply_text(reply->element[i + 1]));
    return result;
  }

  caf::expected<bool> hold_lease(const std::string& owner,
                                 std::chrono::milliseconds ttl) override {
    auto ms = std::to_string(ttl.count());
    auto r = eval(hold_script, lease_, owner, &ms);
    if (!r)
      return r.error();
    return (*r)->type == REDIS_REPLY_INTEGER && (*r)->integer == 1;
  }

  void release_lease(const std::string& owner) override {
    // Best effort: a lease not given up lapses after its TTL.
    static_cast<void>(eval(release_script, lease_, owner, nullptr));
  }

  caf::error publish_leader(const std::string& address) override {
    command set;
    set.add("SET");
    set.add(address_);
    set.add(address);
    auto r = call(set);
    return r ? caf::error{} : r.error();
  }

  caf::expected<std::string> leader_address() override {
    command get;
    get.add("GET");
    get.add(address_);
    auto r = call(get);
    if (!r)
      return r.error();
    return reply_text(r->get());
  }

  std::string where() const override {
    return "redis://" + url_.host + ":" + std::to_string(url_.port) + "/"
           + url_.prefix;
  }

private:
  caf::expected<reply_ptr> eval(const char* script, const std::string& key,
                                const std::string& owner,
                                const std::string* ttl) {
    command c;
    c.add("EVAL");
    c.add(script);
    c.add("1");
    c.add(key);
    c.add(owner);
    if (ttl != nullptr)
      c.add(*ttl);
    return call(c);
  }

  /// Sends `c` and reads its reply; a Redis error reply is an error too.
  caf::expected<reply_ptr> call(command& c) {
    if (auto err = connect())
      return err;
    redisAppendCommandArgv(ctx_.get(), static_cast<int>(c.argv.size()),
                           c.argv.data(), c.lens.data());
    auto r = receive();
    if (r && (*r)->type == REDIS_REPLY_ERROR)
      return failure(std::string{c.argv[0]} + ": " + reply_text(r->get()));
    return r;
  }

  /// Reads one reply; drops the connection on an I/O error or timeout.
  caf::expected<reply_ptr> receive() {
    void* raw = nullptr;
    if (redisGetReply(ctx_.get(), &raw) != REDIS_OK || raw == nullptr) {
      std::string why = ctx_->err != 0 ? ctx_->errstr : "no reply";
      ctx_.reset();
      return failure(why);
    }
    return reply_ptr{static_cast<redisReply*>(raw)};
  }

  /// EXEC answers an array of the queued commands' replies, or nil when
  /// the transaction was aborted.
  caf::error check_exec(const redisReply* r) {
    if (r->type != REDIS_REPLY_ARRAY)
      return failure("commit: transaction aborted");
    for (size_t i = 0; i < r->elements; ++i)
      if (r->element[i]->type == REDIS_REPLY_ERROR)
        return failure("commit: " + reply_text(r->element[i]));
    return {};
  }

  caf::error failure(const std::string& why) const {
    auto code = why.find("NOAUTH") != std::string::npos
                        || why.find("WRONGPASS") != std::string::npos
                    ? errc::unauthenticated
                    : errc::unavailable;
    return make_error(code, "state store " + where() + ": " + why);
  }

  redis_url url_;
  std::string password_;
  std::chrono::milliseconds timeout_;
  std::string hash_;
  std::string lease_;
  std::string address_;
  context_ptr ctx_;
};

} // namespace

caf::expected<store_ptr> open_redis_store(const redis_url& url,
                                          const std::string& password,
                                          std::chrono::milliseconds timeout) {
  auto store = std::make_shared<redis_store>(url, password, timeout);
  if (auto err = store->connect())
    return err;
  return store_ptr{std::move(store)};
}

} // namespace actorserve::detail
