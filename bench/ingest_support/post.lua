-- wrk script: POST a body read from BODY_FILE; if it contains the marker IDPREFIX, each request
-- replaces it with a unique prefix (so every event id is new). Prints one JSON summary line at the end.
local body_file = os.getenv("BODY_FILE")
local key = os.getenv("API_KEY")
local origin = os.getenv("ORIGIN")
local content_type = os.getenv("CONTENT_TYPE") or "application/json"
local template = io.open(body_file, "rb"):read("*a")
local unique = template:find("IDPREFIX", 1, true) ~= nil
local counter = 0
local made = 0

function setup(thread)
  made = made + 1
  thread:set("tag", tostring(made) .. "t" .. tostring(os.time()))
end

wrk.method = "POST"
wrk.headers["Content-Type"] = content_type
wrk.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36"
if key and key ~= "" then wrk.headers["X-Api-Key"] = key end
if origin and origin ~= "" then wrk.headers["Origin"] = origin end
wrk.body = template

request = function()
  if unique then
    counter = counter + 1
    local body = template:gsub("IDPREFIX", tag .. "x" .. counter)
    return wrk.format(nil, nil, nil, body)
  end
  return wrk.format()
end

done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "non2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), errors.status,
    errors.connect + errors.read + errors.write + errors.timeout))
end
