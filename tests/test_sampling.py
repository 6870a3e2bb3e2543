import torch

from codelutra_nb.config import load_config
from codelutra_nb.models import load_policy, load_tokenizer
from codelutra_nb.sampling import GenerationSettings, TransformersSampler, decode

CONVERSATIONS = [
    [{"role": "user", "content": f"Write an SQLite query that answers: question {i}?" + " pad" * i}] for i in range(5)
]


def _sampler(cfg, batch_size=4):
    return TransformersSampler(
        load_policy(cfg.model, None), load_tokenizer(cfg.model), batch_size=batch_size, progress=False
    )


def test_k_samples_per_question_deterministic_under_a_seed(tiny_cfg):
    sampler = _sampler(tiny_cfg)
    settings = GenerationSettings(n=3, temperature=1.0, top_p=1.0, max_new_tokens=6)
    first = sampler.generate(CONVERSATIONS, settings, seed=1)
    assert len(first) == 5 and all(len(texts) == 3 and all(isinstance(t, str) for t in texts) for texts in first)
    assert sampler.generate(CONVERSATIONS, settings, seed=1) == first
    assert sampler.generate(CONVERSATIONS, settings, seed=2) != first


def test_batches_span_questions_and_keep_their_order(tiny_cfg):
    """Greedy outputs of a question do not depend on which other questions share its batch."""
    greedy = GenerationSettings(n=1, temperature=1.0, top_p=1.0, max_new_tokens=6, greedy=True)
    alone = [_sampler(tiny_cfg, batch_size=1).generate([c], greedy, seed=0)[0] for c in CONVERSATIONS]
    batched = _sampler(tiny_cfg, batch_size=5).generate(CONVERSATIONS, greedy, seed=0)
    assert batched == alone


def _left_padded_batch(tok, conversations):
    tok.padding_side = "left"
    prompts = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in conversations]
    return tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)


def test_decode_is_generate_with_finished_rows_dropped(embedded_dir):
    """Greedy `decode` gives generate's tokens, each row cut where ``stop`` holds, and finished rows leave the batch
    (the embedded model: the tiny random one answers every prompt alike)."""
    params = load_config("demo", base_model=str(embedded_dir), dtype="float32").model
    model, tok = load_policy(params, None), load_tokenizer(params)
    questions = ["Count the rows of table t.", "Name three colours.", "What is 2 + 2?", "Say hello.", "List primes."]
    batch = _left_padded_batch(tok, [[{"role": "user", "content": q}] for q in questions])
    with torch.inference_mode():
        full = model.generate(**batch, do_sample=False, max_new_tokens=12, pad_token_id=tok.pad_token_id)
    rows = full[:, batch["input_ids"].shape[1] :]
    cuts = [3, 6, 9, 12, 12]  # rows end at different steps; the last two run to max_new_tokens
    expected = [tok.decode(row[:cut], skip_special_tokens=True) for row, cut in zip(rows, cuts)]
    targets = {text for text, cut in zip(expected, cuts) if cut < 12}
    sizes = []
    model.register_forward_pre_hook(lambda m, a, kw: sizes.append(kw["input_ids"].shape[0]), with_kwargs=True)
    settings = GenerationSettings(1, 1.0, 1.0, 12, greedy=True, stop=lambda text: text in targets)
    with torch.inference_mode():
        assert decode(model, tok, batch, settings) == expected
    # prefill + 11 steps; ended rows leave once they are a quarter of the batch: 2 of 5 after step 5, 1 of 3 after 8
    assert sizes == [5] * 6 + [3] * 3 + [2] * 3
