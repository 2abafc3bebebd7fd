// The stream protocol's message handling: the producer's table in the user
// plane, the consumer's inbox, and the reader actor behind read_stream.
#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/stateful_actor.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/stream_reader.hpp"
#include "calls/reply_guard.hpp"

namespace actorserve::detail {

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

// -- the consumer's inbox -----------------------------------------------------

stream_inbox::~stream_inbox() {
  cancel_all();
}

uint64_t stream_inbox::open(const stream_ref& ref, uint32_t window,
                            std::unique_ptr<inbound> entry) {
  if (!ref.anchor || !ref.anchor->claim()) {
    entry->on_end(
        make_error(errc::bad_request, ref ? "the stream was opened already"
                                          : "not a stream of this process"));
    return 0;
  }
  window = std::max<uint32_t>(1, window);
  auto key = next_key_++;
  // A producer that goes away ends the stream.
  watch_actor(ref.producer, host_,
              caf::make_message(stream_end_atom::value, key,
                                make_error(errc::unavailable,
                                           "the stream's producer stopped")),
              entry.get());
  ref.producer->enqueue(
      caf::make_mailbox_element(host_->ctrl(), caf::make_message_id(), {},
                                stream_open_atom::value, ref.id, window, key),
      nullptr);
  streams_.emplace(key, slot{std::move(entry), ref.producer, ref.id, window});
  return key;
}

bool stream_inbox::handle(caf::type_erased_tuple& msg) {
  if (msg.match_elements<stream_end_atom, uint64_t, caf::error>()) {
    end(msg.get_as<uint64_t>(1), msg.get_as<caf::error>(2));
    return true;
  }
  if (msg.size() != 3 || !msg.match_element<stream_batch_atom>(0) ||
      !msg.match_element<uint64_t>(1))
    return false;
  auto key = msg.get_as<uint64_t>(1);
  auto i = streams_.find(key);
  if (i == streams_.end())
    return true; // ended or cancelled: late chunks are dropped
  auto& entry = *i->second.entry;
  auto n = entry.on_batch(msg);
  // on_batch may have opened streams: look the slot up again.
  if (entry.stop) {
    auto err = std::move(entry.stop);
    cancel(key, std::move(err));
    return true;
  }
  ack(key, n);
  return true;
}

void stream_inbox::ack(uint64_t key, uint32_t n) {
  auto i = streams_.find(key);
  if (i == streams_.end() || n == 0)
    return;
  auto& s = i->second;
  s.done += n;
  // Credit in halves of the window: fewer messages, and the producer never
  // runs dry while the consumer keeps up.
  if (s.done < std::max<uint32_t>(1, s.window / 2))
    return;
  s.producer->enqueue(
      caf::make_mailbox_element(host_->ctrl(), caf::make_message_id(), {},
                                stream_credit_atom::value, s.id, s.done),
      nullptr);
  s.done = 0;
}

void stream_inbox::cancel(uint64_t key, caf::error err) {
  auto i = streams_.find(key);
  if (i == streams_.end())
    return;
  i->second.producer->enqueue(
      caf::make_mailbox_element(host_->ctrl(), caf::make_message_id(), {},
                                stream_cancel_atom::value, i->second.id),
      nullptr);
  end(key, err);
}

void stream_inbox::cancel_all() {
  while (!streams_.empty())
    cancel(streams_.begin()->first,
           make_error(errc::cancelled, "the consumer stopped"));
}

void stream_inbox::end(uint64_t key, const caf::error& err) {
  auto i = streams_.find(key);
  if (i == streams_.end())
    return;
  auto s = std::move(i->second);
  streams_.erase(i);
  unwatch_actor(s.producer, s.entry.get());
  s.entry->on_end(err);
}

// -- the reader actor ---------------------------------------------------------

namespace {

struct reader_actor_state {
  std::unique_ptr<stream_inbox> inbox;
  uint64_t tag = 0;
};

} // namespace

caf::actor spawn_stream_reader(const stream_ref& ref, uint32_t window,
                               std::unique_ptr<inbound> entry) {
  auto& sys = ref.producer->home_system();
  // The entry and ref go in as one spawn argument (CAF 0.17 spawns functors
  // without arguments through a null pointer).
  struct start {
    stream_ref ref;
    uint32_t window;
    std::shared_ptr<std::unique_ptr<inbound>> entry;
  };
  auto args =
      start{ref, window,
            std::make_shared<std::unique_ptr<inbound>>(std::move(entry))};
  return sys.spawn(
      [](caf::stateful_actor<reader_actor_state>* self,
         start a) -> caf::behavior {
        auto& st = self->state;
        st.inbox = std::make_unique<stream_inbox>(self);
        st.tag = st.inbox->open(a.ref, a.window, std::move(*a.entry));
        if (st.tag == 0) {
          self->quit();
          return {};
        }
        self->set_default_handler(
            [](caf::scheduled_actor* ptr,
               caf::message_view& x) -> caf::result<caf::message> {
              auto me =
                  static_cast<caf::stateful_actor<reader_actor_state>*>(ptr);
              me->state.inbox->handle(x.content());
              if (me->state.inbox->size() == 0)
                me->quit();
              return caf::none;
            });
        // Exiting (the reader cancelled) destroys the inbox, which
        // cancels the stream at its producer.
        return {
            [self](stream_credit_atom, uint32_t n) {
              self->state.inbox->ack(self->state.tag, n);
            },
        };
      },
      std::move(args));
}

} // namespace actorserve::detail
