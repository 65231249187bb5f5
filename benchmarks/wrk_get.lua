-- wrk script for benchmarks/bench_reads.py: GETs PREFIX .. "d" .. k for a random k < ACCOUNTS
-- (one account per request) and prints one JSON line of counts and latency percentiles.
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  token = os.getenv("BENCH_TOKEN")
  prefix = os.getenv("BENCH_PREFIX")
  accounts = tonumber(os.getenv("BENCH_ACCOUNTS"))
  math.randomseed(os.time() * 100 + tid)
end

function request()
  local path = prefix .. "d" .. math.random(0, accounts - 1)
  return wrk.format("GET", path, { ["Authorization"] = "Bearer " .. token })
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.status,
    e.connect + e.read + e.write + e.timeout))
end
