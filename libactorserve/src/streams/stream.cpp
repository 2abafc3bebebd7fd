// Streams: watches on the other side, and what a stream's producer and
// consumer run (the producer's table is the user plane's,
// replica/user_plane_streams.cpp).
#include "actorserve/stream.hpp"

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/exit_reason.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/send.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/stream_reader.hpp"
#include "calls/reply_guard.hpp"

namespace actorserve {

namespace detail {

namespace {

/// Fires `msg` at `notify` when the actor it is attached to exits.
class stream_watch final : public caf::attachable {
public:
  static constexpr size_t token_type = 0x53545257; // "STRW"

  stream_watch(caf::weak_actor_ptr notify, caf::message msg, const void* key)
      : notify_(std::move(notify)), msg_(std::move(msg)), key_(key) {}

  void actor_exited(const caf::error&, caf::execution_unit* host) override {
    if (auto ptr = notify_.lock())
      ptr->get()->enqueue(nullptr, caf::make_message_id(), std::move(msg_),
                          host);
  }

  bool matches(const token& what) override {
    return what.subtype == token_type && what.ptr == key_;
  }

private:
  caf::weak_actor_ptr notify_;
  caf::message msg_;
  const void* key_;
};

void send_from(caf::abstract_actor* from, const caf::actor& to,
               caf::message msg) {
  if (!to)
    return;
  to->enqueue(
      caf::make_mailbox_element(from != nullptr ? from->ctrl() : nullptr,
                                caf::make_message_id(), {}, std::move(msg)),
      nullptr);
}

} // namespace

stream_anchor::~stream_anchor() {
  // Never opened: nobody will consume it; the producer frees its slot.
  if (!opened.load() && producer)
    send_from(nullptr, producer,
              caf::make_message(stream_cancel_atom::value, id));
}

void watch_actor(const caf::actor& watched, caf::abstract_actor* notify,
                 caf::message msg, const void* key) {
  if (!watched || notify == nullptr)
    return;
  watched->attach(std::make_unique<stream_watch>(
      caf::actor_cast<caf::weak_actor_ptr>(notify->ctrl()), std::move(msg),
      key));
}

void unwatch_actor(const caf::actor& watched, const void* key) {
  if (watched)
    watched->detach(caf::attachable::token{stream_watch::token_type, key});
}

outbound::~outbound() = default;

inbound::~inbound() = default;

// -- the producer's side ------------------------------------------------------

void send_batch(outbound& st, caf::message chunks) {
  send_from(st.self, st.consumer, std::move(chunks));
}

void generator_failed(outbound& st, std::exception_ptr eptr) {
  st.done = true;
  st.err = error_of(eptr);
}

void stream_wake_after(outbound& st, caf::timespan d, uint64_t epoch) {
  auto msg = caf::make_message(stream_wake_atom::value, st.id, epoch);
  if (d.count() == 0)
    send_from(nullptr, caf::actor_cast<caf::actor>(st.self), std::move(msg));
  else
    st.self->home_system().clock().schedule_message(
        st.self->home_system().clock().now() + d, st.self->ctrl(),
        caf::make_mailbox_element(nullptr, caf::make_message_id(), {},
                                  std::move(msg)));
}

stream_waker stream_waker_of(outbound& st, uint64_t epoch) {
  return stream_waker{caf::actor_cast<caf::weak_actor_ptr>(st.self->ctrl()),
                      st.id, epoch};
}

bool sink_state::take_credit() {
  std::unique_lock<std::mutex> guard{mtx};
  cv.wait(guard, [this] { return credit > 0 || cancelled; });
  if (cancelled)
    return false;
  --credit;
  return true;
}

void sink_state::send(caf::message chunks) {
  caf::actor to;
  {
    std::lock_guard<std::mutex> guard{mtx};
    to = consumer;
  }
  if (to)
    to->enqueue(caf::make_mailbox_element(producer, caf::make_message_id(), {},
                                          std::move(chunks)),
                nullptr);
}

void sink_state::cancel() {
  {
    std::lock_guard<std::mutex> guard{mtx};
    cancelled = true;
  }
  cv.notify_all();
}

caf::error chunk_handler_failed(std::exception_ptr eptr) {
  return error_of(eptr);
}

} // namespace detail

void stream_waker::operator()() const {
  if (auto ptr = producer_.lock())
    ptr->get()->enqueue(
        nullptr, caf::make_message_id(),
        caf::make_message(detail::stream_wake_atom::value, id_, epoch_),
        nullptr);
}

} // namespace actorserve
