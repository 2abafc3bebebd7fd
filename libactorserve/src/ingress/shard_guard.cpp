// What an ingress shard checks before it routes a request, and before a
// response goes out: every string from outside is either valid where it
// enters or refused with 400, and nothing a request or a reply carries can
// end the I/O thread.
#include <algorithm>
#include <charconv>

#include "ops/logging.hpp"
#include "base/text.hpp"
#include "actorserve/http.hpp"
#include "ingress/body_limit.hpp"
#include "ingress/http_server.hpp"
#include "ingress/shard.hpp"

namespace actorserve::detail {

namespace {

/// Longest multiplexed model id accepted (Ray Serve's ids are short names).
constexpr size_t max_model_id_bytes = 256;

bool has_control(std::string_view x) {
  return std::any_of(x.begin(), x.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
}

} // namespace

std::string
ingress_shard::request_id_of(const restinio::http_request_header_t& hdr) {
  auto rid = hdr.get_field_or("X-Request-ID", "");
  if (valid_request_id(rid))
    return rid;
  if (rid_prefix.empty())
    rid_prefix = owner.id_prefix + std::to_string(index) + "-";
  char digits[20];
  auto end = std::to_chars(digits, digits + sizeof digits, next_rid++).ptr;
  std::string out;
  out.reserve(rid_prefix.size() + static_cast<size_t>(end - digits));
  out.append(rid_prefix).append(digits, end);
  return out;
}

bool ingress_shard::reject_front(const restinio::request_handle_t& req,
                                 const std::string& rid,
                                 clock_type::time_point start) {
  auto limit = owner.opts.max_body_bytes;
  if (declared_body_over(*req, limit)) {
    // The body was never read (body_limit.hpp): the connection cannot be
    // used for another request.
    count_unrouted(req, rid, start, http_status_of(errc::payload_too_large));
    respond_error(req, rid, errc::payload_too_large,
                  "the body is declared with more bytes than the limit of " +
                      std::to_string(limit),
                  {}, true);
    return true;
  }
  if (req->body().size() > limit) {
    count_unrouted(req, rid, start, http_status_of(errc::payload_too_large));
    respond_error(req, rid, errc::payload_too_large,
                  "the body has " + std::to_string(req->body().size()) +
                      " bytes; the limit is " + std::to_string(limit));
    return true;
  }
  if (owner.draining.load(std::memory_order_relaxed)) {
    count_unrouted(req, rid, start, http_status_of(errc::unavailable));
    respond_error(req, rid, errc::unavailable, "the server is shutting down");
    return true;
  }
  return false;
}

std::string ingress_shard::read_request(const restinio::request_handle_t& req,
                                        http_request& msg, request_meta& meta) {
  auto& hdr = req->header();
  try {
    auto qp = restinio::parse_query(hdr.query());
    for (auto& kvp : qp) {
      if (!valid_utf8(kvp.first) || !valid_utf8(kvp.second))
        return "the query string is not valid UTF-8 once decoded";
      msg.query.emplace_back(std::string{kvp.first}, std::string{kvp.second});
    }
  } catch (const std::exception&) {
    return "the query string is not valid";
  }
  hdr.for_each_field([&](const restinio::http_header_field_t& f) {
    msg.headers.emplace_back(f.name(), f.value());
  });
  msg.body = req->body();
  // Ray Serve's header for model multiplexing. The id goes into status and
  // metrics and names what a replica loads: a short, valid UTF-8 name.
  auto model = hdr.get_field_or("serve_multiplexed_model_id", "");
  if (model.size() > max_model_id_bytes)
    return "the multiplexed model id has more than " +
           std::to_string(max_model_id_bytes) + " bytes";
  if (!valid_utf8(model) || has_control(model))
    return "the multiplexed model id is not valid UTF-8 text";
  meta.multiplexed_model_id = std::string{model};
  return {};
}

std::string ingress_shard::bad_response_header(const http_response& r) {
  if (!valid_header_text(r.content_type))
    return "the ingress deployment answered with a content type that holds "
           "CR, LF or NUL";
  for (auto& [name, value] : r.headers) {
    if (!valid_header_name(name))
      return "the ingress deployment set a header whose name is not an "
             "HTTP token: " +
             clip_text(name, 64);
    if (!valid_header_text(value))
      return "the ingress deployment set header " + name +
             " to a value with CR, LF or NUL";
  }
  return {};
}

void ingress_shard::on_message_guarded(caf::mailbox_element& x) {
  try {
    on_message(x);
    return;
  } catch (const std::exception& e) {
    log_caught(loop_errors, "http I/O thread, an answer", e.what());
  } catch (...) {
    log_caught(loop_errors, "http I/O thread, an answer",
               "a non-standard exception");
  }
  // The request it answered (if still waiting) is told, once.
  if (!x.mid.is_response())
    return;
  pending_request p;
  if (!take_pending(key_of(x.mid), p))
    return;
  try {
    count(p, http_status_of(errc::internal));
    respond_error(p.req, p.request_id, errc::internal,
                  "the server could not write this response");
  } catch (...) {
    // The connection closes with the request; the loop goes on.
  }
}

restinio::request_handling_status_t
ingress_shard::handle_guarded(const restinio::request_handle_t& req) {
  try {
    return handle(req);
  } catch (const std::exception& e) {
    log_caught(loop_errors, "http I/O thread, a request", e.what());
  } catch (...) {
    log_caught(loop_errors, "http I/O thread, a request",
               "a non-standard exception");
  }
  // Answered at most once: a request that became pending is answered by
  // its reply or its deadline instead.
  for (auto& [key, p] : pending)
    if (p.req == req)
      return restinio::request_accepted();
  try {
    respond_error(req, request_id_of(req->header()), errc::internal,
                  "the server could not take this request");
    return restinio::request_accepted();
  } catch (...) {
    return restinio::request_rejected();
  }
}

size_t ingress_shard::connection_share() const {
  auto shards = std::max<size_t>(1, owner.opts.threads);
  auto total = std::min(owner.opts.max_connections, owner.connection_cap);
  return std::max<size_t>(1, (total + shards - 1) / shards);
}

} // namespace actorserve::detail
