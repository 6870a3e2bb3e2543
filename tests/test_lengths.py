"""Rows whose prompt alone fills max_length are never dropped silently: the pair stage counts them, its line says how
many, and training stops before it starts when most would be dropped."""

from __future__ import annotations

import pytest

from codelutra_nb import stages
from codelutra_nb.errors import TaskDataError
from codelutra_nb.lengths import PROMPT_TOKENS, TooLong, too_long
from codelutra_nb.models import load_tokenizer
from codelutra_nb.store import LocalStore


@pytest.fixture
def paired(tiny_cfg):
    """Iteration 1 of the demo on the tiny model, sampled, verified and paired (gold as chosen: a pair per question)."""
    cfg = tiny_cfg.replace(baseline=False)
    store = LocalStore(cfg.run.store_dir)
    for stage in ("sample", "verify", "pair"):
        stages.STAGES[stage].run(cfg, store)
    return cfg, store


def test_the_pair_stage_counts_prompt_tokens_as_trl_does(paired):
    cfg, store = paired
    rows = stages.training_rows(store, 1)
    assert len(rows) > 0 and PROMPT_TOKENS in rows.column_names
    tokenizer = load_tokenizer(cfg.model)
    for row in rows.select(range(2)):
        ids = tokenizer.apply_chat_template(row["prompt"], tokenize=True, add_generation_prompt=True)
        assert row[PROMPT_TOKENS] == len(ids["input_ids"] if hasattr(ids, "keys") else ids) > 100  # schema + question


def test_a_run_where_most_prompts_fill_max_length_stops_before_training_saying_so(paired):
    cfg, store = paired
    rows = stages.training_rows(store, 1)
    short = cfg.replace(max_length=64)  # below every demo prompt
    line = stages.pairing_line(short, store, 1)
    assert f"; {len(rows)} of {len(rows)} rows have prompts of max_length 64 tokens or more" in line
    assert "TRL drops them" in line
    with pytest.raises(TaskDataError, match=r"training stops here\. Raise max_length above the longest prompt"):
        stages.train_stage(short, store)
    assert not store.has(1, "adapter")
    assert "rows have prompts" not in stages.pairing_line(cfg.replace(max_length=4096), store, 1)


def test_some_long_prompts_are_counted_but_training_goes_on(paired):
    cfg, store = paired
    rows = stages.training_rows(store, 1)
    lengths = sorted(rows[PROMPT_TOKENS])
    cut = lengths[-1]  # only the longest prompts reach it
    counted = too_long(rows, cut)
    assert counted.too_long == lengths.count(cut) and not counted.most and counted.longest == cut
    counted.check(1)  # a few are dropped: said, not stopped
    assert TooLong(rows=4, too_long=3, longest=900, max_length=512).most
    assert not TooLong(rows=4, too_long=2, longest=900, max_length=512).most  # half is not most
    with pytest.raises(TaskDataError, match=r"3 of 4 rows .* \(the longest 900\).*e\.g\. 1280"):
        TooLong(rows=4, too_long=3, longest=900, max_length=512).check(2)
