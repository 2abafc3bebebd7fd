// The stream protocol's consumer side: the consumer's inbox, and the reader
// actor behind read_stream (the producer's table is the user plane's,
// replica/user_plane_streams.cpp).
#include <algorithm>

#include <caf/actor_cast.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/mailbox_element.hpp>
#include <caf/stateful_actor.hpp>

#include "actorserve/admission.hpp"
#include "actorserve/stream_reader.hpp"
#include "calls/reply_guard.hpp"

namespace actorserve::detail {

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
