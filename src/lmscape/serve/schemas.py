"""Request and response models in OpenAI's shapes (pydantic v2).

Requests are validated here, so that an invalid parameter is a 400 naming the
parameter. Unknown fields are ignored, as clients (LangChain, lm-eval, promptfoo) send
options a gateway may not use. Response models document the OpenAPI schema; the
routes build the JSON directly for speed.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

MAX_TOKENS_LIMIT = 1_000_000
MAX_LOGPROBS = 20  # top alternatives per token (OpenAI: 5 for completions, 20 for chat)
Text = Annotated[str, Field(max_length=2_000_000)]
TokenId = Annotated[int, Field(ge=0, lt=2**31)]
TokenIds = Annotated[list[TokenId], Field(min_length=1, max_length=1_000_000)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="ignore", allow_inf_nan=False)


class TextPart(_Request):
    type: Literal["text"]
    text: Text


class ChatMessage(_Request):
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Text | list[TextPart] | None = None
    name: str | None = None

    def text(self) -> str:
        if self.content is None:
            return ""
        if isinstance(self.content, str):
            return self.content
        return "".join(part.text for part in self.content)


class StreamOptions(_Request):
    include_usage: bool = False


Stop = Annotated[str, Field(max_length=1000)] | Annotated[
    list[Annotated[str, Field(max_length=1000)]], Field(max_length=4)
]


class _Sampling(_Request):
    model: Annotated[str, Field(min_length=1, max_length=300)]
    max_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS_LIMIT)] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    n: Annotated[int, Field(ge=1, le=1)] | None = None
    stop: Stop | None = None
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    seed: Annotated[int, Field(ge=-(2**63), le=2**63 - 1)] | None = None
    presence_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    frequency_penalty: Annotated[float, Field(ge=-2, le=2)] | None = None
    user: Annotated[str, Field(max_length=300)] | None = None

    @field_validator("stream_options")
    @classmethod
    def _only_when_streaming(cls, value: StreamOptions | None, info: ValidationInfo):
        if value is not None and not info.data.get("stream"):
            raise ValueError("'stream_options' is only allowed when 'stream' is true")
        return value

    def stop_tuple(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionRequest(_Sampling):
    """POST /v1/chat/completions. Unknown fields (tools, response_format...) are kept and
    forwarded to OpenAI-compatible upstreams; other backends ignore them."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=10_000)]
    max_completion_tokens: Annotated[int, Field(ge=0, le=MAX_TOKENS_LIMIT)] | None = None
    logprobs: bool | None = None
    top_logprobs: Annotated[int, Field(ge=0, le=MAX_LOGPROBS)] | None = None

    def limit(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens


class CompletionRequest(_Sampling):
    """POST /v1/completions. A list of prompts is served as a batch; a prompt may be
    token ids (one list, or a list of lists). ``echo`` returns the prompt (and its
    tokens' logprobs) before the completion; ``logprobs: N`` adds each token's
    log-probability and the N most likely tokens at its position."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    prompt: (Text | Annotated[list[Text], Field(min_length=1, max_length=2048)] | TokenIds
             | Annotated[list[TokenIds], Field(min_length=1, max_length=2048)])
    echo: bool | None = None
    logprobs: Annotated[int, Field(ge=0, le=MAX_LOGPROBS)] | None = None
    suffix: None = None

    def limit(self) -> int | None:
        return 16 if self.max_tokens is None else self.max_tokens  # OpenAI's default

    def prompts(self) -> list[str | list[int]]:
        """Each prompt: a string or a list of token ids."""
        if isinstance(self.prompt, str):
            return [self.prompt]
        if self.prompt and isinstance(self.prompt[0], int):
            return [list(self.prompt)]  # type: ignore[arg-type]
        return list(self.prompt)  # type: ignore[arg-type]


class EmbeddingRequest(_Request):
    """POST /v1/embeddings."""

    model: Annotated[str, Field(min_length=1, max_length=300)]
    input: Text | Annotated[list[Text], Field(min_length=1, max_length=2048)]
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: Annotated[int, Field(ge=1, le=65536)] | None = None
    user: Annotated[str, Field(max_length=300)] | None = None
    truncate: bool = Field(False, description="embed the first tokens of inputs longer than "
                           "the model accepts (each result says if it was cut), instead of 400")

    def texts(self) -> list[str]:
        return [self.input] if isinstance(self.input, str) else list(self.input)


# -- responses (documentation; the routes emit the same shapes) ---------------------------
class UsageOut(BaseModel):
    prompt_tokens: int
    completion_tokens: int = 0
    total_tokens: int


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str | None


class _Choice(BaseModel):
    index: int
    finish_reason: str | None
    logprobs: dict | None = None


class _Generated(BaseModel):
    id: str
    created: int
    model: str
    usage: UsageOut | None = None


class ChatChoice(_Choice):
    message: AssistantMessage


class ChatCompletion(_Generated):
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]
    system_fingerprint: str | None = None


class CompletionChoice(_Choice):
    text: str


class Completion(_Generated):
    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: UsageOut


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


# -- tokenizer endpoints (vLLM's shapes, served at the root) ------------------------------
class TokenizeRequest(_Request):
    """POST /tokenize. ``model`` may be left out when the gateway has a tokenizer model."""

    model: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    prompt: Text
    add_special_tokens: bool = True
    return_token_strs: bool = False


class TokenizeResponse(BaseModel):
    count: int
    max_model_len: int | None
    tokens: list[int]
    token_strs: list[str] | None = None


class DetokenizeRequest(_Request):
    """POST /detokenize."""

    model: Annotated[str, Field(min_length=1, max_length=300)] | None = None
    tokens: Annotated[list[TokenId], Field(max_length=1_000_000)]


class DetokenizeResponse(BaseModel):
    prompt: str


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    error: ErrorDetail


ERROR_RESPONSES = {
    status: {"model": ErrorResponse, "description": why}
    for status, why in (
        (400, "invalid request"),
        (401, "missing or invalid gateway key"),
        (404, "unknown model, or one the key may not use"),
        (413, "request body too large"),
        (429, "rate limit or budget exhausted (see Retry-After)"),
        (502, "upstream failed after retries and fallbacks"),
        (503, "model overloaded or unavailable"),
        (504, "upstream timed out"),
    )
}
