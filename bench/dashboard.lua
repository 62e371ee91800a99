-- wrk script for bench/dashboard.py: sends the session cookie (WRK_COOKIE) with every request and
-- prints the figures the script reads as one JSON line (wrk itself prints p50/p75/p90/p99 only).
local cookie = os.getenv("WRK_COOKIE") or ""
if cookie ~= "" then
  wrk.headers["Cookie"] = cookie
end

done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"n": %d, "p50": %.3f, "p95": %.3f, "p99": %.3f, "max": %.3f, "duration_s": %.3f, ' ..
    '"socket_errors": %d, "non2xx": %d}\n',
    summary.requests, latency:percentile(50) / 1000, latency:percentile(95) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, summary.duration / 1e6,
    e.connect + e.read + e.write + e.timeout, e.status))
end
