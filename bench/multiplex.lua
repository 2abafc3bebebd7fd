-- wrk script for the multiplexing scenario: every request asks for one of
-- MODELS models (default 20), drawn with Zipf weights 1/k^ZIPF_S (0 draws
-- them uniformly), in the header named by MODEL_HEADER (default
-- serve_multiplexed_model_id). Counts the answers whose body says
-- "hit":true (the replica held the model when the request arrived). Prints
-- one RESULT line at the end, like report.lua, with answers= and hits=
-- added.
local models = tonumber(os.getenv("MODELS") or "") or 20
local s = tonumber(os.getenv("ZIPF_S") or "") or 0
local header = os.getenv("MODEL_HEADER") or "serve_multiplexed_model_id"

local cdf, total = {}, 0
for k = 1, models do
  total = total + 1 / (k ^ s)
  cdf[k] = total
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(_)
  hits = 0
  answers = 0
  math.randomseed(12345)
  wrk.method = "POST"
  wrk.body = '{"x": 1}'
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local u = math.random() * total
  local k = 1
  while cdf[k] < u do
    k = k + 1
  end
  wrk.headers[header] = "model-" .. k
  return wrk.format()
end

function response(_, _, body)
  answers = answers + 1
  if body:find('"hit":true', 1, true) then
    hits = hits + 1
  end
end

function done(summary, lat, _)
  local n, hits_all = 0, 0
  for _, t in ipairs(threads) do
    n = n + t:get("answers")
    hits_all = hits_all + t:get("hits")
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT rps=%.1f avg_us=%.1f p50_us=%d p90_us=%d p99_us=%d max_us=%d requests=%d sock_errors=%d non2xx=%d answers=%d hits=%d\n",
    summary.requests / (summary.duration / 1e6), lat.mean, lat:percentile(50),
    lat:percentile(90), lat:percentile(99), lat.max, summary.requests,
    e.connect + e.read + e.write + e.timeout, e.status, n, hits_all))
end
