import torch

from codelutra_nb.kinds import get_kind
from codelutra_nb.models import load_policy, load_tokenizer
from codelutra_nb.sampling import GenerationSettings, TransformersSampler, _CodeComplete

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


def test_code_complete_criterion_stops_each_row_independently(tiny_model_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    texts = ["SELECT a FROM t; and then", "SELECT a FROM", "no code here at all"]
    ids = [tok(t, add_special_tokens=False)["input_ids"] for t in texts]
    width = max(map(len, ids))
    batch = torch.tensor([i + [tok.pad_token_id] * (width - len(i)) for i in ids])
    stop = _CodeComplete(tok, prompt_len=0, complete=get_kind("sql").code_complete)
    assert stop(batch, None).tolist() == [True, False, False]
