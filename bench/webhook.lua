-- wrk script for bench/webhook.py: wrk -s bench/webhook.lua URL -- MODE PREFIX
--
-- MODE is what each request is:
--   fixed  POST /voice with a fixed form (the ceiling and the floor apps answer it);
--   first  POST /voice with a new CallSid each time: the first request of a call;
--   step   POST /voice/step?s=1 for the next call of a pool bench/webhook.py stored at step 1
--          (PREFIX<thread>x<n>), pressing *: a mid-call step, counted only when the answer
--          names step 2, so it was persisted.
-- done() prints one JSON line: requests, seconds, latency percentiles (microseconds), errors
-- (socket errors and non-2xx) and bad (answers that did not show the expected work).

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "fixed"
  prefix = args[2] or "CAbench"
  count = 0
  bad = 0
  headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
  if mode == "first" then
    expect = "?s=1"
  elseif mode == "step" then
    expect = "?s=2"
  else
    expect = "<Response>"
  end
end

function request()
  count = count + 1
  local sid = prefix .. tid .. "x" .. count
  if mode == "first" then
    return wrk.format("POST", "/voice", headers, "CallSid=" .. sid .. "&From=%2B8613800000000")
  elseif mode == "step" then
    return wrk.format("POST", "/voice/step?s=1", headers, "CallSid=" .. sid .. "&Digits=%2A")
  end
  return wrk.format("POST", "/voice", headers, "CallSid=CAfixed&Digits=%2A")
end

function response(status, headers, body)
  if status ~= 200 or not string.find(body, expect, 1, true) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local bad_total = 0
  for _, thread in ipairs(threads) do
    bad_total = bad_total + (thread:get("bad") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    '{"requests": %d, "seconds": %.3f, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d, "errors": %d, "bad": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.status + e.timeout, bad_total))
end
