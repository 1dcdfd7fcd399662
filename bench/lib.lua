-- lib.lua — what every wrk script of `make bench` shares: the seeded stream's identity from the
-- environment (bench/run sets it), random picks per thread, the casemgr request, and a done()
-- hook that prints one machine-readable line for bench/run to put in its table.
bench = {
  stream = os.getenv("BENCH_STREAM") or "st-bench",
  account = os.getenv("BENCH_ACCOUNT") or "acc-bench",
  token = os.getenv("BENCH_TOKEN") or "",
}

local counter = 0
function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
end

-- Reads a file of one value per line (task ids, or "caseId refId" for cases).
function bench.lines(var)
  local out, path = {}, os.getenv(var)
  if path then
    for line in io.lines(path) do
      if line ~= "" then out[#out + 1] = line end
    end
  end
  return out
end

function bench.seed_random()
  math.randomseed(os.time() * 1000 + (thread_no or 0) * 7919 + math.floor(os.clock() * 1e6))
  for _ = 1, 10 do math.random() end
end

function bench.pick(list)
  return list[math.random(#list)]
end

local words = { "refund", "invoice", "printer", "router", "parcel", "password", "renewal",
  "outage", "warranty", "callback", "billing", "upgrade", "delivery", "contract", "statement" }

-- A short sentence that differs from call to call, so no update is a no-op.
function bench.sentence(n)
  local parts = {}
  for i = 1, n do parts[i] = bench.pick(words) end
  return table.concat(parts, " ") .. " " .. math.random(1, 1000000000)
end

function bench.post(path, body)
  return wrk.format("POST", "/caseManagement/api/public/analytics/" .. bench.stream .. "/" .. path,
    { ["auth"] = bench.token, ["accountId"] = bench.account, ["Content-Type"] = "application/json" },
    body)
end

-- A string as a JSON literal (the seeded words need no escaping beyond quotes and backslashes).
function bench.json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c) return string.format("\\u%04x", c:byte()) end) .. '"'
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH requests=%d duration_us=%d p50_us=%d p99_us=%d p999_us=%d status_errors=%d " ..
    "socket_errors=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), e.status, e.connect + e.read + e.write + e.timeout))
end
