-- json-server's PATCH /tasks/:id with the small body of update.lua (the prototype reference).
dofile((os.getenv("BENCH_DIR") or debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/lib.lua")
local ids
function init(args)
  bench.seed_random()
  ids = bench.lines("BENCH_IDS")
end
function request()
  local body = '{"desc":' .. bench.json_string("bench update " .. bench.sentence(6)) .. '}'
  return wrk.format("PATCH", "/tasks/" .. bench.pick(ids), { ["Content-Type"] = "application/json" },
    body)
end
