"""Dynamic padding and length-grouped batches (analora.training.batching)."""

import torch

from analora import load_hardware
from analora.analog import program
from analora.training.batching import batch_indices, eval_batches, trim_padding, unsort
from analora.training.methods import evaluate_classification


def _padded(lengths: list[int], width: int = 24, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    n = len(lengths)
    ids = torch.randint(5, 120, (n, width), generator=g)
    mask = torch.zeros(n, width, dtype=torch.long)
    for i, n_tok in enumerate(lengths):
        mask[i, :n_tok] = 1
    ids = ids * mask  # pad id 0 past each row's length
    return {
        "input_ids": ids,
        "attention_mask": mask,
        "token_type_ids": torch.zeros_like(ids),
        "labels": torch.arange(n) % 2,
    }


def test_trim_cuts_to_the_longest_row_and_keeps_every_token() -> None:
    data = _padded([3, 7, 5])
    out = trim_padding(data)
    assert out["input_ids"].shape == (3, 7)
    assert out["labels"].shape == (3,)
    assert int(out["attention_mask"].sum()) == int(data["attention_mask"].sum())
    # Left padding (ones not a prefix) is left alone rather than cut wrongly.
    left = {k: v.flip(1) if v.dim() == 2 else v for k, v in data.items()}
    assert trim_padding(left)["input_ids"].shape == (3, 24)


def test_grouped_batches_are_seeded_complete_and_similar_in_length() -> None:
    lengths = torch.randint(2, 120, (1000,), generator=torch.Generator().manual_seed(1))
    a = batch_indices(1000, 16, seed=3, epoch=0, lengths=lengths)
    b = batch_indices(1000, 16, seed=3, epoch=0, lengths=lengths)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert sorted(torch.cat(a).tolist()) == list(range(1000))
    other_epoch = batch_indices(1000, 16, seed=3, epoch=1, lengths=lengths)
    assert not all(torch.equal(x, y) for x, y in zip(a, other_epoch, strict=True))
    # Grouping: the mean spread of lengths within a batch is far below a random batch's.
    plain = batch_indices(1000, 16, seed=3, epoch=0)
    spread = lambda bs: sum(float(lengths[i].max() - lengths[i].min()) for i in bs) / len(bs)  # noqa: E731
    assert spread(a) < 0.2 * spread(plain), (spread(a), spread(plain))


def test_eval_batches_restore_the_split_order() -> None:
    data = _padded([4, 9, 2, 9, 6, 1, 3])
    parts, rows = [], []
    for index, batch in eval_batches(data, batch_size=3):
        parts.append(batch["labels"].float())
        rows.append(index)
    assert torch.equal(unsort(parts, rows), data["labels"].float())


@torch.no_grad()
def test_ideal_hardware_logits_do_not_depend_on_the_batch_padding(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    model = tiny_bert
    program(model, load_hardware("ideal"), seed=0, exclude=["classifier"])
    data = _padded([3, 17, 5, 24, 11], width=24)
    batched = model(**{k: v for k, v in data.items() if k != "labels"}).logits
    for i in range(5):
        row = trim_padding({k: v[i : i + 1] for k, v in data.items() if k != "labels"})
        alone = model(**row).logits
        assert torch.allclose(alone, batched[i : i + 1], atol=1e-5), i


def test_paper_pcm_statistics_do_not_move_with_dynamic_padding(tiny_bert) -> None:  # type: ignore[no-untyped-def]
    """Accuracy of a noisy chip over many rows, evaluated padded to the full
    width and with dynamic padding: the same within the noise's spread."""
    model = tiny_bert
    chip = program(model, load_hardware("paper-pcm"), seed=0, exclude=["classifier"])
    lengths = torch.randint(2, 25, (400,), generator=torch.Generator().manual_seed(2)).tolist()
    data = _padded(lengths, seed=2)
    data["labels"] = data["input_ids"][:, 0] % 3
    chip.read(0.0)
    dynamic = evaluate_classification(model, "sst2", data, batch_size=32)["accuracy"]
    # Static: a row of full length in every batch keeps every batch at width 24.
    static_data = {k: torch.cat([v, v[:1]]) for k, v in data.items()}
    static_data["attention_mask"][-1] = 1
    full = {k: v for k, v in static_data.items()}
    logits = []
    for i in range(0, 400, 31):
        rows = [*range(i, min(i + 31, 400)), 400]
        logits.append(model(**{k: v[rows] for k, v in full.items() if k != "labels"}).logits[:-1])
    static = 100.0 * float((torch.cat(logits).argmax(-1) == data["labels"]).float().mean())
    assert abs(dynamic - static) < 3.0, (dynamic, static)
