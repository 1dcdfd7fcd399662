-- updateTask with a small partial body ({"desc": ...}) on random seeded tasks (issue 6, rows 1-2).
-- Also the nginx reference's request: the same bytes on the wire.
dofile((os.getenv("BENCH_DIR") or debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/lib.lua")
local ids
function init(args)
  bench.seed_random()
  ids = bench.lines("BENCH_IDS")
end
function request()
  local body = '{"desc":' .. bench.json_string("bench update " .. bench.sentence(6)) .. '}'
  return bench.post("updateTask/" .. bench.pick(ids), body)
end
