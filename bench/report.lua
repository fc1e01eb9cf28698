-- One usage event per request, each with its own idempotency key.
local counter = 0
local prefix = "r"

setup = function(thread)
  thread:set("tid", tostring(math.random(1, 1000000000)))
end

init = function(args)
  prefix = "r" .. tid .. "-"
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("BENCH_KEY")

request = function()
  counter = counter + 1
  local body = '{"event_type":"api_call","quantity":1,"endpoint":"/v1/generate","idempotency_key":"'
    .. prefix .. counter .. '"}'
  return wrk.format(nil, nil, nil, body)
end
