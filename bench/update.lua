-- wrk script: updateTask with a small partial body on random tasks of a seeded stream.
-- Reads the token, stream, account and task ids from bench/results/seed.json via env vars.
local ids = {}
local stream, account, token
init = function(args)
  stream = os.getenv("BENCH_STREAM"); account = os.getenv("BENCH_ACCOUNT"); token = os.getenv("BENCH_TOKEN")
  for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
  math.randomseed(os.time() + (tonumber(tostring({}):sub(8)) or 0))
end
local n = 0
request = function()
  n = n + 1
  local id = ids[math.random(#ids)]
  local body = '{"desc":"bench update ' .. n .. '"}'
  return wrk.format("POST", "/caseManagement/api/public/analytics/" .. stream .. "/updateTask/" .. id,
    {["auth"] = token, ["accountId"] = account, ["Content-Type"] = "application/json"}, body)
end
