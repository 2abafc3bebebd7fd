/// @file
/// One shared object per actor system (private to the library): the user
/// plane's pool, the probe threads. It lives while a reference returned
/// here lives; the next call after the last one went makes a new one.
#pragma once

#include <memory>
#include <mutex>
#include <unordered_map>

#include <caf/actor_system.hpp>

namespace actorserve::detail {

/// The `T` of `sys`, made by `make()` (a `shared_ptr<T>`) when there is
/// none. Thread-safe; `make` runs under the registry's lock.
template <class T, class Make>
std::shared_ptr<T> per_system(caf::actor_system& sys, Make make) {
  // Never destroyed: replicas may outlive static destruction at exit.
  static auto* mtx = new std::mutex;
  static auto* objects =
      new std::unordered_map<const caf::actor_system*, std::weak_ptr<T>>;
  std::lock_guard<std::mutex> guard{*mtx};
  for (auto i = objects->begin(); i != objects->end();)
    i = i->second.expired() ? objects->erase(i) : std::next(i);
  auto obj = (*objects)[&sys].lock();
  if (!obj) {
    obj = make();
    (*objects)[&sys] = obj;
  }
  return obj;
}

} // namespace actorserve::detail
