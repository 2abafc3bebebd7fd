/// @file
/// How answers reach an I/O thread of the HTTP ingress: a lock-free inbox of
/// mailbox elements.
///
/// Answers come from other threads (replica threads, system workers), one
/// at a time. Posting each one to the shard's `asio::io_context` would take
/// the io_context's mutex twice per answer, once on each side, and when the
/// two sides meet there, the loser sleeps on the lock and pays a context
/// switch. Here a producer pushes with one compare-and-swap. The I/O thread
/// drains the inbox between batches of handlers, taking every answer that
/// arrived meanwhile in one exchange, oldest first; before it waits for
/// events it marks the inbox as blocked (`try_block`), and only the push
/// that finds that mark posts a wake-up onto the io_context.
///
/// The head is a stack (newest first) or the blocked mark; `drain` reverses
/// what it takes.
#pragma once

#include <atomic>

#include <caf/mailbox_element.hpp>

namespace actorserve::detail {

class reply_inbox {
public:
  reply_inbox() = default;
  reply_inbox(const reply_inbox&) = delete;
  reply_inbox& operator=(const reply_inbox&) = delete;

  /// Frees what was never drained (the I/O thread stopped first).
  ~reply_inbox() {
    drain([](caf::mailbox_element&) {});
  }

  /// Adds `x` (any thread). Returns true when the I/O thread sleeps
  /// (`try_block`): the caller must then wake it with a `drain` posted to
  /// its loop. Otherwise the I/O thread is awake and drains the inbox before
  /// it sleeps again.
  bool push(caf::mailbox_element_ptr x) noexcept {
    auto* node = x.release();
    auto* head = head_.load(std::memory_order_relaxed);
    do {
      node->next = head == blocked() ? nullptr : head;
    } while (!head_.compare_exchange_weak(head, node, std::memory_order_release,
                                          std::memory_order_relaxed));
    return head == blocked();
  }

  /// Whether something waits in the inbox (any thread; a hint).
  bool has_mail() const noexcept {
    auto head = head_.load(std::memory_order_relaxed);
    return head != nullptr && head != blocked();
  }

  /// Marks the I/O thread as about to sleep, if the inbox is empty (the I/O
  /// thread). Returns false when something waits in it: drain first.
  bool try_block() noexcept {
    node_ptr empty = nullptr;
    return head_.compare_exchange_strong(empty, blocked(),
                                         std::memory_order_acq_rel);
  }

  /// Marks the I/O thread awake again (the I/O thread, after it slept).
  /// Returns false when a push took the mark meanwhile (and woke it).
  bool unblock() noexcept {
    auto expected = blocked();
    return head_.compare_exchange_strong(expected, nullptr,
                                         std::memory_order_acq_rel);
  }

  /// Takes every element pushed so far and hands each to `f`, in the order
  /// they were pushed (the I/O thread). Returns how many.
  template <class F>
  size_t drain(F f) {
    auto* lifo = head_.exchange(nullptr, std::memory_order_acquire);
    if (lifo == blocked())
      lifo = nullptr;
    node_ptr fifo = nullptr;
    while (lifo != nullptr) {
      auto* next = lifo->next;
      lifo->next = fifo;
      fifo = lifo;
      lifo = next;
    }
    size_t n = 0;
    while (fifo != nullptr) {
      caf::mailbox_element_ptr x{static_cast<caf::mailbox_element*>(fifo)};
      fifo = x->next;
      x->next = nullptr;
      f(*x);
      ++n;
    }
    return n;
  }

private:
  using node_ptr = caf::intrusive::singly_linked<caf::mailbox_element>*;

  /// The head's value while the I/O thread sleeps and the inbox is empty:
  /// the inbox's own address, which no element has.
  node_ptr blocked() const noexcept {
    return reinterpret_cast<node_ptr>(const_cast<reply_inbox*>(this));
  }

  std::atomic<node_ptr> head_{nullptr};
};

} // namespace actorserve::detail
