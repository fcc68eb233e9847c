"""Evaluation and decontamination for ``curate ablate``: real benchmark files, exact scores from models whose
probabilities we set, a real random GPT near chance, 13-gram decontamination of real documents."""

from __future__ import annotations

import re
import types

import numpy as np
import pytest
import torch

from curate.ablate import evals
from curate.ablate.decontam import Decontaminator, words
from curate.ablate.evals import Example, Task, evaluate, heldout_loss, load_tasks
from curate.core.errors import ConfigError
from tests.conftest import DATA, GPT2

COUNTS = {"blimp": 67000, "hellaswag": 10042, "piqa": 1838, "arc_easy": 2376, "copa": 100, "lambada": 5153}


@pytest.fixture(scope="module")
def full_tasks() -> dict[str, Task]:
    return {t.name: t for t in load_tasks(DATA)}


@pytest.fixture(scope="module")
def gpt2():
    from curate.filters.tokens import load_gpt2

    return load_gpt2(GPT2)


# ------------------------------------------------------------------------------------------------ loaders

def test_loaders_read_every_example_of_the_real_files(full_tasks):
    assert {n: len(t.examples) for n, t in full_tasks.items()} == COUNTS
    assert {n: t.kind for n, t in full_tasks.items()} == {
        "blimp": "pair", "hellaswag": "mc", "piqa": "mc", "arc_easy": "mc", "copa": "mc", "lambada": "lambada"}
    # BLiMP: paradigms in name order, adjunct_island first; the grammatical sentence is choice 0
    assert full_tasks["blimp"].examples[0] == Example(
        "", ("Who should Derek hug after shocking Richard?", "Who should Derek hug Richard after shocking?"), 0)
    assert full_tasks["hellaswag"].examples[0] == Example(
        "Roof shingle removal: A man is sitting on a roof. he",
        (" is using wrap to wrap a pair of skis.", " is ripping level tiles off.", " is holding a rubik's cube.",
         " starts pulling up roofing on a roof."), 3)
    piqa = full_tasks["piqa"].examples[0]
    assert piqa.context == "Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:"
    assert piqa.label == 0 and len(piqa.choices) == 2
    assert piqa.choices[0].startswith(" Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper")
    arc = full_tasks["arc_easy"].examples[0]
    assert arc.context == ("Question: Which statement best explains why photosynthesis is the foundation of most "
                           "food webs?\nAnswer:")
    assert arc.choices[0] == " Sunlight is the source of energy for nearly all ecosystems." and arc.label == 0
    assert full_tasks["copa"].examples[0] == Example(
        "The man turned on the faucet, therefore", (" the toilet filled with water.", " water flowed from the spout."), 1)
    lam = full_tasks["lambada"].examples[0]
    assert lam.choices == (" signs",) and lam.context.endswith("I don't care about")
    # every label points at a choice; no HellaSwag bracket markers survive the preprocessing
    for t in full_tasks.values():
        assert all(0 <= e.label < len(e.choices) for e in t.examples)
    assert not any(re.search(r"\[\w+\]", e.context + "".join(e.choices)) for e in full_tasks["hellaswag"].examples)


def test_limit_is_a_deterministic_sample_and_blimp_covers_every_paradigm(full_tasks):
    a = load_tasks(DATA, limit=100, seed=0)
    assert [len(t.examples) for t in a] == [100] * 6
    assert a == load_tasks(DATA, limit=100, seed=0)
    other = load_tasks(DATA, names=("hellaswag",), limit=100, seed=1)[0]
    assert other.examples != a[1].examples
    # a sample is a subset of the full task, in file order
    for t in a:
        full = full_tasks[t.name].examples
        where = [full.index(e) for e in t.examples]
        assert where == sorted(where)
    # BLiMP: 100 = 67 + 33: the first 33 paradigms (name order) give 2 pairs, the other 34 give 1
    paradigm = {(g, b): p for p, g, b in evals._blimp_pairs(DATA)}
    per = {}
    for e in a[0].examples:
        per[paradigm[e.choices]] = per.get(paradigm[e.choices], 0) + 1
    names = sorted(set(paradigm.values()))
    assert len(names) == 67 and per == {p: 2 if i < 33 else 1 for i, p in enumerate(names)}


def test_bad_task_names_and_data_paths_fail_before_work(tmp_path):
    with pytest.raises(ConfigError, match="unknown evaluation task.*'mmlu'"):
        load_tasks(DATA, names=("piqa", "mmlu"))
    with pytest.raises(ConfigError, match="evaluation data for 'copa' not found"):
        load_tasks(str(tmp_path), names=("copa",))
    with pytest.raises(ConfigError, match="positive number"):
        load_tasks(DATA, limit=0)
    with pytest.raises(ConfigError, match="WikiText-2 test split not found"):
        evals.reference_texts(str(tmp_path))


def test_wikitext_reference_is_detokenised_test_split():
    text = evals.reference_texts(DATA)["wikitext2"]
    assert text.startswith("= Robert <unk> =\n\nRobert <unk> is an English film, television and theatre actor. "
                           "He had a guest-starring role")
    assert " @-@ " not in text and " @,@ " not in text and " , " not in text
    assert len(text.splitlines()) == 4358 - 2  # one line per source line; first and last (blank) stripped


# ------------------------------------------------------------------------------------- exact scoring

CHARS = "abc "  # token ids 0-3; 4 is our end-of-text token
EOT_ID = 4


def encode(s: str) -> list[int]:
    return [CHARS.index(c) for c in s]


class TableModel(torch.nn.Module):
    """Next-token log-probs that depend only on the current token: ``logp[current] -> [V]``; a row per
    token id. Refuses inputs longer than ``seq_len``, so truncation is checked too."""

    def __init__(self, logp: np.ndarray, seq_len: int):
        super().__init__()
        self.table = torch.tensor(logp, dtype=torch.float32)
        self.config = types.SimpleNamespace(seq_len=seq_len)

    def forward(self, idx, targets=None):
        assert idx.shape[1] <= self.config.seq_len, "input longer than seq_len: left-truncation failed"
        return self.table[idx], None


UNIGRAM = np.log(np.tile([1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 16], (5, 1)))  # p(a), p(b), p(c), p(" "), p(eot)


def test_accuracy_and_probability_are_exact_for_a_model_with_known_probabilities():
    model = TableModel(UNIGRAM, seq_len=16)
    tasks = [
        # acc_norm: " ab" has log(1/128)/3, " cc" log(1/1024)/3 -> right; prob = 1 / (1 + (1/8)**(1/3)) = 2/3.
        # "aa": log(1/4)/2 = log(1/2) beats "c": log(1/8) -> wrong (label 1); prob = (1/8) / (1/2 + 1/8) = 1/5
        Task("mc", "mc", [Example("a", (" ab", " cc"), 0), Example("b", ("aa", "c"), 1)]),
        # total log-prob, no normalisation: "ab" 1/8 > "bb" 1/16 -> right, prob 2/3; "cc" 1/64 < "a" 1/2 ->
        # wrong, prob (1/64) / (1/64 + 1/2) = 1/33
        Task("pair", "pair", [Example("", ("ab", "bb"), 0), Example("", ("cc", "a"), 0)]),
        # greedy is always "a": "aa" right (p 1/4), "ab" wrong (p 1/8)
        Task("lam", "lambada", [Example("b", ("aa",), 0), Example("a", ("ab",), 0)]),
    ]
    got = evaluate(model, encode, tasks, eot=EOT_ID)
    want = {"mc/acc": 0.5, "mc/prob": (2 / 3 + 1 / 5) / 2, "mc/n": 2,
            "pair/acc": 0.5, "pair/prob": (2 / 3 + 1 / 33) / 2, "pair/n": 2,
            "lam/acc": 0.5, "lam/prob": (1 / 4 + 1 / 8) / 2, "lam/n": 2}
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert got[k] == pytest.approx(v, abs=1e-6), k
    with pytest.raises(ValueError, match="kind 'generate'"):
        evaluate(model, encode, [Task("x", "generate", [])], eot=EOT_ID)


def test_truncation_and_padding_do_not_change_scores():
    # a bigram model: a continuation's score depends on the last context token only, so left-truncating a
    # long context to seq_len must give the score of the short context
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(5, 5))
    bigram = logits - np.log(np.exp(logits).sum(1, keepdims=True))
    short = [Example("b", (" ab", " c", "a a"), 1), Example("c", ("ab", " cc"), 0)]
    long = [Example("abcabc abcabc abc" * 3 + e.context, e.choices, e.label) for e in short]
    small = TableModel(bigram, seq_len=4)  # " cc" needs 1 context token + 2 targets: fits in 4
    assert evaluate(small, encode, [Task("t", "mc", long)], eot=EOT_ID) == \
        evaluate(TableModel(bigram, seq_len=256), encode, [Task("t", "mc", short)], eot=EOT_ID)
    # padding: one request per batch or all in one padded batch
    ones = evaluate(small, encode, [Task("t", "mc", long + short)], batch_size=1, eot=EOT_ID)
    assert ones == evaluate(small, encode, [Task("t", "mc", long + short)], batch_size=64, eot=EOT_ID)


def test_heldout_loss_is_the_mean_cross_entropy_of_every_target_once():
    model = TableModel(UNIGRAM, seq_len=3)
    nll = -UNIGRAM[0]
    stream = np.array([0, 1, 2, 3, 0, 0, 1, 2, 0, 1], dtype=np.uint16)  # 9 targets: windows 3 x 3
    assert heldout_loss(model, stream, batch_size=2) == pytest.approx(nll[stream[1:]].mean(), abs=1e-6)
    # an 11th token does not fill a window: it is left out; max_tokens cuts the stream first
    assert heldout_loss(model, np.append(stream, 3)) == pytest.approx(nll[stream[1:]].mean(), abs=1e-6)
    assert heldout_loss(model, stream, max_tokens=4) == pytest.approx(nll[stream[1:4]].mean(), abs=1e-6)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        heldout_loss(model, stream[:1])


# ------------------------------------------------------------------------------------------ real models

def _tiny_gpt(seed: int = 0):
    from curate.ablate.model import GPT, PRESETS

    torch.manual_seed(seed)
    return GPT(PRESETS["tiny"].model).eval()


class _Plain(torch.nn.Module):
    """The GPT seen only through ``model(idx)``: hides its ``hidden``/``wte`` shortcut."""

    def __init__(self, model):
        super().__init__()
        self.inner, self.config = model, model.config

    def forward(self, idx, targets=None):
        return self.inner(idx, targets)


def test_batched_scores_equal_one_by_one_reference_on_a_real_gpt(full_tasks, gpt2):
    """Left truncation, right padding and the continuation positions, checked against a plain reference:
    each request alone, unpadded, log-softmax over the whole sequence."""
    model = _tiny_gpt()
    T = model.config.seq_len
    lam = full_tasks["lambada"].examples[:6]
    requests = [(gpt2.encode_ordinary(e.context), gpt2.encode_ordinary(e.choices[0])) for e in lam]
    requests += [([evals.EOT], gpt2.encode_ordinary(c)) for e in full_tasks["blimp"].examples[:5] for c in e.choices]
    requests.append((list(range(1000, 1000 + 3 * T)), [1, 2, 3]))  # far longer than seq_len
    logp, greedy = evals._score(model, requests, device="cpu", batch_size=4)
    # the output layer applied only at scored positions (our GPT) equals slicing the full logits
    plain_logp, plain_greedy = evals._score(_Plain(model), requests, device="cpu", batch_size=4)
    assert plain_logp == pytest.approx(logp, abs=1e-4) and plain_greedy == greedy
    with torch.no_grad():
        for (ctx, cont), lp, gr in zip(requests, logp, greedy, strict=True):
            full = (ctx + cont)[-(T + 1):]
            logits, _ = model(torch.tensor([full[:-1]]))
            ref = torch.log_softmax(logits[0].double(), -1)
            pos = range(len(full) - 1 - len(cont), len(full) - 1)
            assert lp == pytest.approx(sum(float(ref[p, full[p + 1]]) for p in pos), abs=1e-4)
            assert gr == all(int(logits[0, p].argmax()) == full[p + 1] for p in pos)


def test_random_gpt_is_at_chance_on_blimp(gpt2):
    blimp = load_tasks(DATA, names=("blimp",), limit=500)
    random = evaluate(_tiny_gpt(), gpt2.encode_ordinary, blimp)
    assert random["blimp/n"] == 500
    assert 0.35 <= random["blimp/acc"] <= 0.65
    # (a token-bigram model counted from WikiText-2 valid+test and NLTK prose, 2.4M tokens, scored only
    # 0.52-0.55 on these pairs: too close to chance for a test; BLiMP needs more than adjacent tokens)


def test_evaluate_on_every_real_task_with_a_real_gpt_is_deterministic(gpt2):
    tasks = load_tasks(DATA, limit=4)
    model = _tiny_gpt()
    got = evaluate(model, gpt2.encode_ordinary, tasks, batch_size=5)
    assert got == evaluate(model, gpt2.encode_ordinary, tasks, batch_size=5)
    assert sorted(got) == sorted(f"{t}/{m}" for t in evals.TASKS for m in ("acc", "prob", "n"))
    for t in evals.TASKS:
        assert got[f"{t}/n"] == 4 and 0 <= got[f"{t}/acc"] <= 1 and 0 < got[f"{t}/prob"] < 1
    # an untrained model puts about 1/vocab on each token: held-out loss near ln(50304) = 10.83
    loss = heldout_loss(model, np.array(gpt2.encode_ordinary(evals.wikitext(DATA)[:6000]), dtype=np.uint16))
    assert 10.0 < loss < 11.7


# --------------------------------------------------------------------------------------- decontamination

@pytest.fixture(scope="module")
def wikitext_paragraphs() -> list[str]:
    return [p for p in evals.wikitext(DATA, "test").split("\n") if p.strip()]


def test_decontaminator_finds_a_planted_hellaswag_13_gram_in_a_real_document(full_tasks, wikitext_paragraphs):
    tasks = [Task(t.name, t.kind, t.examples[:300]) for t in full_tasks.values()]
    dc = Decontaminator.from_tasks(tasks)
    clean = dc.mask(wikitext_paragraphs)
    assert len(clean) == len(wikitext_paragraphs) and int(clean.sum()) == 0
    # HellaSwag example 1's text: "Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole.
    # the lady ..." -- 13 words from its middle, with other case and punctuation, planted in a real paragraph
    ctx = full_tasks["hellaswag"].examples[1].context
    thirteen = " ".join(ctx.split()[3:16])
    assert len(words(thirteen)) == 13
    doc = wikitext_paragraphs[5]
    cut = len(doc) // 2
    planted = doc[:cut] + " " + thirteen.upper().replace(".", ";") + " " + doc[cut:]
    twelve = doc[:cut] + " " + " ".join(ctx.split()[3:15]) + " " + doc[cut:]
    assert dc.mask([doc, planted, twelve, None, ""]).tolist() == [False, True, False, False, False]
    assert dc.hits(planted) and not dc.hits(doc)


def test_decontaminator_ngrams_short_texts_and_normalisation():
    long = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen"
    short = "The man turned on the faucet, therefore water flowed."  # 9 words: matched whole
    tiny = "Some boys hadn't hugged Paula."  # 5 words: skipped
    dc = Decontaminator([long, short, tiny])
    assert dc.skipped == 1 and len(dc) == 2 + 1  # two 13-grams of the 14-word text + the short text whole
    assert words("It's  a “Test” — of $5.00!") == ["its", "a", "test", "of", "500"]
    assert dc.mask([
        "x TWO three four five six seven eight nine ten eleven twelve thirteen fourteen y",  # second 13-gram
        "one two three four five six seven eight nine ten eleven twelve",  # only 12 of them
        "before: the man turned on the faucet therefore water flowed! after",
        "the man turned on the faucet therefore water",  # part of the short text
        "Some boys hadn't hugged Paula. Some boys hadn't hugged Paula.",
    ]).tolist() == [True, False, True, False, False]
    # n-grams never span two documents of a batch
    assert dc.mask(["one two three four five six seven", "eight nine ten eleven twelve thirteen"]).tolist() == \
        [False, False]
    assert Decontaminator([]).mask(["anything at all here"]).tolist() == [False]
    with pytest.raises(ValueError, match="min_words"):
        Decontaminator([long], n=13, min_words=14)


def test_decontamination_texts_strip_the_prompt_template(full_tasks):
    piqa = evals.decontamination_texts(Task("piqa", "mc", full_tasks["piqa"].examples[:1]))
    assert piqa[0].startswith("How do I ready a guinea pig cage for it's new occupants? Provide the guinea pig")
    assert len(piqa) == 2
    assert len(evals.decontamination_texts(full_tasks["hellaswag"])) == 4 * 10042
