#include "actorserve/admission.hpp"

#include <caf/actor_cast.hpp>
#include <caf/make_message.hpp>
#include <caf/mailbox_element.hpp>

namespace actorserve::detail {

void admission_gate::bind(caf::actor user, const caf::actor& replica) {
  user_ = std::move(user);
  replica_ = caf::actor_cast<caf::weak_actor_ptr>(replica);
}

void admission_gate::leave() noexcept {
  auto prev = word_.fetch_sub(1, std::memory_order_acq_rel);
  if (prev != (closed_bit | 1u))
    return;
  // The last call of a draining replica ended.
  if (auto ptr = replica_.lock())
    ptr->enqueue(nullptr, caf::make_message_id(),
                 caf::make_message(gate_empty_atom::value), nullptr);
}

} // namespace actorserve::detail
