-- wrk script: POST GraphQL bodies to /graphql, one picked at random per request.
--
-- BENCH_BODIES  file with one complete JSON request body per line (bench/run.py writes it:
--               for Q1 one line per tax code of the key list, for Q2 one per district ...)
-- BENCH_HEADERS optional request headers, one "Name: value" a line (bench/run.py sets the
--               hub's "Authorization: Bearer …", PostGraphile's "X-Bench-Role: …" for Q4)
-- BENCH_AUTH    optional Authorization header value ("Bearer …"), for running it by hand
--
-- Counts, besides wrk's own figures, responses that are not 200 and 200s whose body carries
-- a GraphQL "errors" member, and prints them as "bench: …" lines for bench/run.py to parse.

local threads = {}
local counter = 0

function setup(thread)
  counter = counter + 1
  thread:set("id", counter)
  table.insert(threads, thread)
end

local bodies = {}
local n = 0
local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
responses, non200, gql_errors = 0, 0, 0
first_error = ""

function init(args)
  local path = os.getenv("BENCH_BODIES")
  local file = assert(io.open(path, "r"), "cannot open BENCH_BODIES " .. tostring(path))
  for line in file:lines() do
    if #line > 0 then
      n = n + 1
      bodies[n] = line
    end
  end
  file:close()
  assert(n > 0, "no bodies in " .. path)
  local auth = os.getenv("BENCH_AUTH")
  if auth and #auth > 0 then headers["Authorization"] = auth end
  local extra = os.getenv("BENCH_HEADERS") or ""
  for line in string.gmatch(extra, "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    if name then headers[name] = value end
  end
  math.randomseed(os.time() * 1000 + id)
end

function request()
  return wrk.format("POST", "/graphql", headers, bodies[math.random(n)])
end

function response(status, hdrs, body)
  responses = responses + 1
  if status ~= 200 then
    non200 = non200 + 1
    if first_error == "" then first_error = status .. " " .. string.sub(body, 1, 300) end
  elseif string.find(body, '"errors"', 1, true) then
    gql_errors = gql_errors + 1
    if first_error == "" then first_error = string.sub(body, 1, 300) end
  end
end

function done(summary, latency, requests)
  local total, bad, errs, first = 0, 0, 0, ""
  for _, thread in ipairs(threads) do
    total = total + thread:get("responses")
    bad = bad + thread:get("non200")
    errs = errs + thread:get("gql_errors")
    local e = thread:get("first_error")
    if first == "" and e ~= nil then first = e end
  end
  io.write(string.format("bench: responses %d non200 %d graphql_errors %d\n", total, bad, errs))
  if first ~= "" then io.write("bench: first_error " .. string.gsub(first, "\n", " ") .. "\n") end
end
