-- 1000 events per request (token counts), each with its own idempotency key.
local counter = 0
local prefix = "b"
local size = tonumber(os.getenv("BENCH_BATCH") or "1000")

setup = function(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end

init = function(args)
  prefix = "b" .. tid .. "-"
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")

request = function()
  counter = counter + 1
  local parts = {}
  for i = 1, size do
    parts[i] = '{"event_type":"tokens_used","quantity":' .. (i % 997 + 1)
      .. ',"endpoint":"/v1/generate","idempotency_key":"' .. prefix .. counter .. "-" .. i .. '"}'
  end
  return wrk.format(nil, nil, nil, '{"events":[' .. table.concat(parts, ",") .. "]}")
end
