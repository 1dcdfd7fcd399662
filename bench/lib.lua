-- lib.lua — what every wrk script of `make bench` shares: the seeded stream's identity from the
-- environment (bench/run sets it), random picks per thread, the casemgr request, and a done()
-- hook that prints one machine-readable line for bench/run to put in its table.
bench = {
  stream = os.getenv("BENCH_STREAM") or "st-bench",
  account = os.getenv("BENCH_ACCOUNT") or "acc-bench",
  token = os.getenv("BENCH_TOKEN") or "",
}

local counter = 0
local threads = {}
function setup(thread)
  counter = counter + 1
  thread:set("thread_no", counter)
  threads[counter] = thread
end

-- BENCH_SAMPLE_ERRORS=1 (bench/run sets it only to re-run a scenario that had errors): count the
-- answers >= 400 by status and keep the first body of each, for done() to print. Off otherwise,
-- because a response() hook makes wrk hand every answer to Lua, which costs throughput.
if os.getenv("BENCH_SAMPLE_ERRORS") == "1" then
  err_counts, err_bodies = {}, {}
  function response(status, headers, body)
    if status >= 400 then
      err_counts[status] = (err_counts[status] or 0) + 1
      if not err_bodies[status] then err_bodies[status] = body or "" end
    end
  end
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
  if os.getenv("BENCH_SAMPLE_ERRORS") == "1" then
    local counts, bodies = {}, {}
    for _, t in ipairs(threads) do
      for status, n in pairs(t:get("err_counts") or {}) do
        counts[status] = (counts[status] or 0) + n
        bodies[status] = bodies[status] or (t:get("err_bodies") or {})[status]
      end
    end
    for status, n in pairs(counts) do
      io.write(string.format("BENCH_ERR status=%d count=%d body=%s\n", status, n,
        ((bodies[status] or ""):gsub("%s+", " ")):sub(1, 300)))
    end
  end
end
