-- updateTask with a large body: status + priority + 20 tags + currAssignee + fields (issue 6).
dofile((os.getenv("BENCH_DIR") or debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "bench") .. "/lib.lua")
local ids
local statuses = { "Open", "In-Progress", "On-Hold", "Resolved" }
local priorities = { "Low", "Medium", "High", "Critical" }
local tags = { "vip", "billing", "tech", "retention", "churn-risk", "escalated", "callback",
  "social", "repeat-caller", "outage", "fraud", "priority-customer", "new-customer", "b2b", "b2c",
  "warranty", "sla-gold", "sla-silver", "follow-up", "survey-sent", "legal", "mobile" }
function init(args)
  bench.seed_random()
  ids = bench.lines("BENCH_IDS")
end
function request()
  local t = {}
  for i = 1, 20 do t[i] = '"' .. bench.pick(tags) .. '-' .. math.random(1, 99) .. '"' end
  local agent = math.random(1, 200)
  local body = '{"status":{"name":"' .. bench.pick(statuses) .. '"},' ..
    '"priority":{"name":"' .. bench.pick(priorities) .. '"},' ..
    '"tags":[' .. table.concat(t, ",") .. '],' ..
    '"currAssignee":{"_id":"u-agent-' .. agent .. '","name":"Agent ' .. agent .. '"},' ..
    '"fields":[{"name":"description","selectedValue":' ..
    bench.json_string("large update " .. bench.sentence(12)) .. '}]}'
  return bench.post("updateTask/" .. bench.pick(ids), body)
end
