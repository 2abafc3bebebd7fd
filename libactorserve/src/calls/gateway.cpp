#include "calls/gateway.hpp"

#include <algorithm>
#include <memory>

#include <caf/actor_system.hpp>
#include <caf/behavior.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/response_promise.hpp>

#include "actorserve/error.hpp"
#include "calls/call_host.hpp"

namespace actorserve {

namespace {

class gateway_actor : public caf::event_based_actor {
public:
  gateway_actor(caf::actor_config& cfg, endpoint_ptr ep, uint64_t seed)
      : caf::event_based_actor(cfg), ep_(std::move(ep)),
        host_(std::make_unique<detail::call_host>(this, seed)) {}

  const char* name() const override { return "actorserve.gateway"; }

  caf::invoke_message_result consume(caf::mailbox_element& x) override {
    if (x.mid.is_response() && host_->on_response(x))
      return caf::invoke_message_result::consumed;
    return caf::event_based_actor::consume(x);
  }

  caf::behavior make_behavior() override {
    return {
        [this](call_atom, request_meta& meta, caf::message& args) {
          auto rp = make_response_promise();
          auto mid = new_request_id(caf::message_priority::normal);
          // A caller's timeout is its deadline: past it, nobody waits for
          // the call, so it does not run on (`cancel` is a no-op once it
          // was answered).
          if (auto d = meta.deadline; d.time_since_epoch().count() != 0)
            delayed_send(this,
                         std::max(d - caf::make_timestamp(),
                                  caf::timestamp::duration{0}),
                         detail::call_cancel_atom::value,
                         mid.integer_value());
          host_->route(ep_, mid, std::move(meta), std::move(args), rp);
          return rp;
        },
        [this](detail::call_cancel_atom, uint64_t mid) {
          host_->cancel(caf::message_id{mid});
        },
        [this](replicas_atom) { host_->update(); },
        [this](detail::route_retry_atom) { host_->on_retry(); },
        [this](detail::replica_gone_atom, uint64_t id) {
          host_->on_replica_gone(id);
        },
    };
  }

  /// Every call still held, waiting or in flight, gets an answer; the
  /// endpoint is released.
  void on_exit() override {
    host_->fail_all(
        make_error(errc::unavailable,
                   "the gateway of '" + ep_->deployment() + "' stopped"));
    // The endpoint holds this actor: drop our side of the cycle.
    host_.reset();
    ep_.reset();
    caf::event_based_actor::on_exit();
  }

private:
  endpoint_ptr ep_;
  std::unique_ptr<detail::call_host> host_;
};

} // namespace

caf::actor spawn_gateway(caf::actor_system& sys, endpoint_ptr ep,
                         uint64_t seed) {
  auto ptr = ep.get();
  auto gw = sys.spawn<gateway_actor>(std::move(ep), seed);
  ptr->set_gateway(gw);
  return gw;
}

} // namespace actorserve
