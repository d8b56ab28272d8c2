"""Chat logprobs recorded while sampling against the same tokens re-scored afterwards.

    python benchmarks/chat_logprobs.py [--model smollm2|gemma] [--tokens 16] [--threads 1]

Generates a greedy answer to each of a fixed set of chat prompts with
``Request(logprobs=1)`` (each token's logprob read from the logits row its sampler drew
from) and scores the same prompt and tokens again in one evaluation with
``Backend.token_logprobs`` (how the gateway reported chat logprobs before). Prints, over
all generated tokens: the largest |recorded - re-scored| difference, and at how many
tokens the re-scored distribution's best token is not the one greedy decoding chose
(each such token would have been reported with a logprob below its own top_logprobs[0]).
Recorded logprobs never disagree with greedy; how often re-scoring does depends on the
CPU's kernels.
"""

from __future__ import annotations

import argparse
import os
import sys

from fewshot import MODELS  # the embedded GGUF models, as the scoring benchmark names them

PROMPTS = ("Name a colour.", "Name a fruit.", "What is two plus two?", "Say hello.",
           "Name a country.", "Describe the sea in one sentence.", "List three animals.",
           "What day comes after Monday?")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(MODELS), default="smollm2")
    parser.add_argument("--tokens", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from lmscape.backends.base import Request
    from lmscape.backends.llamacpp import LlamaCppBackend

    backend = LlamaCppBackend(MODELS[args.model], model_id=args.model, n_threads=args.threads)
    tokens = worst = flips = not_first = 0
    for prompt in PROMPTS:
        [result] = backend.generate([Request(messages=[{"role": "user", "content": prompt}],
                                             max_tokens=args.tokens, logprobs=1)])
        [again] = backend.token_logprobs([(result.prompt_ids, result.token_ids)], top_n=1)
        for recorded, rescored in zip(result.token_logprobs, again, strict=True):
            tokens += 1
            worst = max(worst, abs(recorded.logprob - rescored.logprob))
            flips += rescored.top[0][0] != recorded.token
            not_first += recorded.top[0][0] != recorded.token
    backend.close()
    print(f"{args.model}: {tokens} greedy tokens over {len(PROMPTS)} chat prompts")
    print(f"  max |recorded - re-scored| logprob: {worst:.4f} nats")
    print(f"  re-scored best token differs from the chosen one: {flips} of {tokens}")
    print(f"  recorded best token differs from the chosen one:  {not_first} of {tokens}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
