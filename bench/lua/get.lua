-- GET with an optional bearer token (BENCH_TOKEN) and the Atlas versioned Accept header.
wrk.method = "GET"
wrk.headers["Accept"] = "application/vnd.atlas.2025-03-12+json"
local token = os.getenv("BENCH_TOKEN")
if token and #token > 0 then
  wrk.headers["Authorization"] = "Bearer " .. token
end
