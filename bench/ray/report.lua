-- wrk script: GET by default; with POST_BYTES=N in the environment, POST an
-- N-byte body; with POST_BODY=text, POST that JSON text. Prints one
-- machine-readable RESULT line at the end.
local post_bytes = tonumber(os.getenv("POST_BYTES") or "")
local post_body = os.getenv("POST_BODY")
if post_body and post_body ~= "" then
  wrk.method = "POST"
  wrk.body = post_body
  wrk.headers["Content-Type"] = "application/json"
elseif post_bytes then
  wrk.method = "POST"
  wrk.body = string.rep("x", post_bytes)
  wrk.headers["Content-Type"] = "application/octet-stream"
end

function done(s, lat, _)
  local e = s.errors
  io.write(string.format(
    "RESULT rps=%.1f avg_us=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d requests=%d sock_errors=%d non2xx=%d\n",
    s.requests / (s.duration / 1e6), lat.mean, lat:percentile(50), lat:percentile(90),
    lat:percentile(99), lat.max, s.requests,
    e.connect + e.read + e.write + e.timeout, e.status))
end
