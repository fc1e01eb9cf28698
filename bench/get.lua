-- GET with the API key (quota-check); the bare view ignores the header.
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "")
