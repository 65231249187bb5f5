-- wrk script for benchmarks/bench_service.py: POSTs BODY to TARGET with a fresh Idempotency-Key
-- per request (thread id + counter), and prints one JSON line of counts and latency percentiles.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counter = 0
  token = os.getenv("BENCH_TOKEN")
  target = os.getenv("BENCH_TARGET")
  body = os.getenv("BENCH_BODY")
  run = os.getenv("BENCH_RUN")
end

function request()
  counter = counter + 1
  local headers = {
    ["Content-Type"] = "application/json",
    ["Authorization"] = "Bearer " .. token,
    ["Idempotency-Key"] = run .. "-" .. tid .. "-" .. counter,
  }
  return wrk.format("POST", target, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
