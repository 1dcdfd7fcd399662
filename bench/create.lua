-- createTask under random seeded cases (issue 6).
dofile((os.getenv("BENCH_DIR") or debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/lib.lua")
local cases
local tmpl = os.getenv("BENCH_TASK_TMP") or ""
local sources = { "rtm", "email", "voice", "chat" }
function init(args)
  bench.seed_random()
  cases = bench.lines("BENCH_CASES")
end
function request()
  local id, ref = bench.pick(cases):match("^(%S+) (%S+)$")
  local n = math.random(1, 50000)
  local body = '{"caseId":"' .. id .. '","caseRefId":"' .. ref .. '","taskTmp":"' .. tmpl .. '",' ..
    '"name":' .. bench.json_string("Bench " .. bench.sentence(3)) .. ',' ..
    '"desc":' .. bench.json_string(bench.sentence(10)) .. ',' ..
    '"userInfo":{"name":"Customer ' .. n .. '","_id":"cu-' .. n .. '"},' ..
    '"source":"' .. bench.pick(sources) .. '","priority":{"name":"High"},"tags":["bench"]}'
  return bench.post("createTask", body)
end
