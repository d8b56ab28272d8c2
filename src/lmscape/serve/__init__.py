"""The gateway: one OpenAI-compatible endpoint for closed, open-weight and small models,
with keys, budgets and usage accounting (``lmscape serve``).

    app.py            FastAPI factory (one per worker process)
    guard.py          the key, then the body size, checked from the headers first
    invalid.py        invalid requests as one 400 naming the field and what is wrong
    access_log.py     credentials redacted from every log line
    routes_*.py       /v1/models, /v1/chat/completions, /v1/completions, /v1/embeddings, /health,
                      and vLLM's /tokenizer_info, /tokenize, /detokenize (routes_tokenizer)
    schemas.py        requests and responses in OpenAI's shapes
    errors.py         OpenAI-style error JSON; lmscape errors -> HTTP status
    gateway.py        the pipeline: admit (auth, allow-list, rpm, budget) -> run -> account
    generation.py     chat / text completions with fallbacks, streaming or not
    logprobs.py       OpenAI's logprobs objects (legacy completions, chat) from scored tokens
    pool.py           in-process models: lazy load, queue + concurrency limit, continuous
                      batching of generations, LRU unload
    proxy.py          OpenAI-compatible upstreams through the official SDK (the fast path)
    config.py         gateway YAML: models, fallbacks, limits; default routes
    keys.py auth.py revocation.py ratelimit.py accounting.py usage.py tables.py
                      access and money

Importing this package imports nothing; FastAPI and the SDKs load with ``app``.
"""
