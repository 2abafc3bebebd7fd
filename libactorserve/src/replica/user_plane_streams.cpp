// The producer's side of streams in the user plane: its table of the
// streams its actor produces (each holds a replica slot), and the stream
// protocol's messages to a user actor. The protocol's other parts are in
// streams/.
#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/mailbox_element.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/stream.hpp"
#include "calls/reply_guard.hpp"
#include "replica/user_plane.hpp"

namespace actorserve::detail {

stream_ref add_stream(caf::local_actor* self, std::unique_ptr<outbound> st) {
  auto& up = user_plane_of(self);
  st->self = self;
  st->plane = &up;
  st->context = context_token(self);
  auto id = up.add_stream(std::move(st));
  auto producer = caf::actor_cast<caf::actor>(self);
  return stream_ref{producer, id,
                    std::make_shared<stream_anchor>(producer, id)};
}

void end_stream(outbound& st, caf::error err) {
  st.plane->end_stream(st.id, std::move(err));
}

namespace {

/// The promise slot of a stream job: there is no promise; the completion
/// ends the stream.
struct no_promise final : promise_slot_base {
  void drop() override {}
};

} // namespace

void run_stream_job(outbound& st, std::function<void()> job) {
  auto id = st.id;
  auto up = st.plane;
  auto self = st.self;
  up->offload(self, std::make_shared<no_promise>(),
              [id, up, job = std::move(job)]() -> std::function<void()> {
                caf::error err;
                try {
                  job();
                } catch (...) {
                  err = error_of(std::current_exception());
                }
                // On the actor: the chunks this thread sent are all ahead
                // of the end in the consumer's mailbox.
                return [id, up, err]() mutable {
                  up->end_stream(id, std::move(err));
                };
              });
}

// -- the producer's table -----------------------------------------------------

uint64_t user_plane::add_stream(std::unique_ptr<outbound> st) {
  auto id = next_stream_++;
  st->id = id;
  st->gate = ctx_->gate.lock();
  if (st->gate)
    st->gate->enter();
  streams_.emplace(id, std::move(st));
  activity_->streams.store(static_cast<uint32_t>(streams_.size()),
                           std::memory_order_relaxed);
  return id;
}

void user_plane::end_stream(uint64_t id, caf::error err) {
  auto i = streams_.find(id);
  if (i == streams_.end())
    return;
  auto st = std::move(i->second);
  streams_.erase(i);
  activity_->streams.store(static_cast<uint32_t>(streams_.size()),
                           std::memory_order_relaxed);
  if (st->consumer) {
    unwatch_actor(st->consumer, st.get());
    st->consumer->enqueue(caf::make_mailbox_element(
                              self_->ctrl(), caf::make_message_id(), {},
                              stream_end_atom::value, st->tag, std::move(err)),
                          self_->context());
  }
  if (st->gate)
    st->gate->leave();
}

stream_inbox& user_plane::inbox() {
  if (!inbox_)
    inbox_ = std::make_unique<stream_inbox>(self_);
  return *inbox_;
}

stream_inbox& inbox_of(caf::local_actor* self) {
  return user_plane_of(self).inbox();
}

bool user_plane::handle_stream_message(caf::mailbox_element& x) {
  auto& msg = x.content();
  if (msg.size() < 2 || !msg.match_element<caf::atom_value>(0))
    return false;
  if (inbox_ && inbox_->handle(msg))
    return true;
  auto find = [&]() -> outbound* {
    if (!msg.match_element<uint64_t>(1))
      return nullptr;
    auto i = streams_.find(msg.get_as<uint64_t>(1));
    return i != streams_.end() ? i->second.get() : nullptr;
  };
  if (msg.match_elements<stream_open_atom, uint64_t, uint32_t, uint64_t>()) {
    auto consumer = caf::actor_cast<caf::actor>(x.sender);
    auto tag = msg.get_as<uint64_t>(3);
    auto st = find();
    if (st == nullptr || st->opened || !consumer) {
      if (consumer)
        consumer->enqueue(
            caf::make_mailbox_element(
                self_->ctrl(), caf::make_message_id(), {},
                stream_end_atom::value, tag,
                make_error(errc::unavailable, "no such stream to open")),
            self_->context());
      return true;
    }
    st->opened = true;
    st->consumer = consumer;
    st->tag = tag;
    st->credit = std::max<uint32_t>(1, msg.get_as<uint32_t>(2));
    // A consumer that goes away cancels the stream.
    watch_actor(consumer, self_,
                caf::make_message(stream_cancel_atom::value, st->id), st);
    st->on_open();
    return true;
  }
  if (msg.match_elements<stream_credit_atom, uint64_t, uint32_t>()) {
    if (auto st = find(); st != nullptr && st->opened) {
      st->credit += msg.get_as<uint32_t>(2);
      st->on_credit();
    }
    return true;
  }
  if (msg.match_elements<stream_cancel_atom, uint64_t>()) {
    if (auto st = find(); st != nullptr) {
      // The stream's request is cancelled with it: its hooks run and the
      // calls made for it stop.
      if (st->context) {
        auto guard = static_cast<reply_guard*>(st->context->get());
        guard->cancel();
        cancel_request(guard);
      }
      // The hooks may have ended the stream already.
      if (auto again = find(); again != nullptr)
        again->on_cancel();
    }
    return true;
  }
  if (msg.match_elements<stream_wake_atom, uint64_t, uint64_t>()) {
    if (auto st = find(); st != nullptr && st->epoch == msg.get_as<uint64_t>(2))
      st->on_wake();
    return true;
  }
  return false;
}

void user_plane::close_streams() {
  auto streams = std::move(streams_);
  streams_.clear();
  activity_->streams.store(0, std::memory_order_relaxed);
  for (auto& [id, st] : streams) {
    st->on_exit();
    if (st->consumer)
      unwatch_actor(st->consumer, st.get());
    if (st->gate)
      st->gate->leave();
  }
  // Consumers hear through their watch on this actor.
  if (inbox_) {
    inbox_->cancel_all();
    inbox_.reset();
  }
}

} // namespace actorserve::detail
