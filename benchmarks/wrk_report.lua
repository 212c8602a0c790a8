-- Prints one machine-readable line after wrk's own report:
-- RESULT requests duration_us requests_per_s p50_us p99_us socket_errors non_2xx_3xx
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %.1f %d %d %d %d\n",
    summary.requests, summary.duration,
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
