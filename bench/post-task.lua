-- wrk script of the REST benchmarks: POST /tasks with a task that touches no
-- device, and the figures rest-bench.sh reads at the end. Only 2xx answers
-- count towards rps: a refused request (429 once the pending queue is full)
-- costs the server far less than a created task
wrk.method = "POST"
wrk.body = '{"name": "bench", "action": "wait", "parameters": {"duration": 0}}'
wrk.headers["Content-Type"] = "application/json"
done = function (summary, latency, requests)
  local created = summary.requests - summary.errors.status
  io.write(string.format("rps %.1f\n", created / (summary.duration / 1e6)))
  io.write(string.format("p99_ms %.3f\n", latency:percentile(99) / 1000))
  io.write(string.format("non2xx %d\n", summary.errors.status))
end
