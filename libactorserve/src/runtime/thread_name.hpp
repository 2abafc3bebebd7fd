/// @file
/// Names the process's threads for `top -H`, `ps -L`, perf and gdb: I/O
/// shards `as-http-N`, the admin API `as-admin`, system workers
/// `as-worker`, the user plane's pool `as-user-N` (and its monitor
/// `as-user-mon`), and a replica's blocking threads `<deployment>~b`.
#pragma once

#include <algorithm>
#include <cstring>
#include <string_view>

#include <pthread.h>

namespace actorserve::detail {

/// Linux keeps 15 characters of a thread's name; longer names are cut.
inline void name_this_thread(std::string_view name) noexcept {
  char buf[16] = {};
  std::memcpy(buf, name.data(), std::min<size_t>(name.size(), 15));
  pthread_setname_np(pthread_self(), buf);
}

} // namespace actorserve::detail
