"""Training and evaluation commands, end to end on real labelled photos."""

import csv
import json

import numpy as np
import pytest
import segmentation_models_pytorch as smp
import torch

from cervix_unet import CervixUNet
from cervix_unet.cli import main
from cervix_unet.workshop.train import TrainConfig, dice_input, source_sampler, source_weights
from tests.conftest import LABELS, WEIGHTS

NO_CERVIX_MISSES = 12  # held-out non-colposcopy pictures the shipped model may still call a cervix (10 of 24 now)


def test_training_smoke_run_checkpoints_and_resumes(tmp_path, shared_data):
    out = tmp_path / "run"
    args = [
        "train",
        "--data",
        str(shared_data),
        "--labels",
        str(LABELS),
        "--out",
        str(out),
        "--size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--lovasz",
        "0.5",
        "--max-images",
        "8",
        "--warmup-epochs",
        "1",
    ]
    assert main(args) == 0
    assert (out / "checkpoint.pt").exists() and (out / "curves.png").exists()
    assert (out / "best" / "model.safetensors").exists()
    model = CervixUNet.from_pretrained(out / "best")
    assert model.input_size == 32
    assert main([*args[:-4], "--epochs", "2", "--max-images", "8", "--warmup-epochs", "1", "--resume"]) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert all(0 <= h["val_dice"] <= 1 and h["train_loss"] > 0 for h in history)
    finished = [*args[:-4], "--epochs", "2", "--max-images", "8", "--warmup-epochs", "1", "--resume"]
    finished[finished.index("--data") + 1] = str(tmp_path / "no-photos")
    assert main(finished) == 0  # a finished run (a cross-validation's done fold) reads no photo again


def test_learning_rate_schedule():
    cfg = TrainConfig(lr=1e-3, warmup_epochs=2, epochs=10)
    rates = [cfg.learning_rate(e) for e in range(10)]
    assert rates[0] < rates[1] == pytest.approx(1e-3)
    assert all(a >= b for a, b in zip(rates[1:], rates[2:]))
    assert rates[-1] >= 1e-5


def test_dice_per_image_weighs_a_small_cervix_as_much_as_a_large_one():
    """A small cervix outlined three times too large: minor in the batch's Dice, half of its photo's."""
    truth = torch.zeros(2, 1, 32, 32)
    truth[0, :, 4:28, 4:28] = 1  # a large cervix, outlined exactly
    truth[1, :, 14:18, 14:18] = 1  # a small one (16 px), spread over 48 px around it
    logits = (truth * 2 - 1) * 20
    logits[1, :, 12:20, 12:20] = 20
    empty = torch.zeros(1, 1, 32, 32)  # a made-up negative: no Dice term, BCE covers it
    binary = smp.losses.DiceLoss(smp.losses.BINARY_MODE, from_logits=True)
    per_image = smp.losses.DiceLoss(smp.losses.MULTILABEL_MODE, from_logits=True)
    batch_loss = binary(*dice_input(logits, truth, per_image=False)).item()
    image_loss = per_image(*dice_input(logits, truth, per_image=True)).item()
    assert batch_loss == pytest.approx(1 - 2 * (576 + 16) / (576 + 64 + 576 + 16), abs=1e-3)  # 0.04
    assert image_loss == pytest.approx((0 + (1 - 2 * 16 / (64 + 16))) / 2, abs=1e-3)  # 0.30
    both = torch.cat([logits, empty - 20]), torch.cat([truth, empty])
    assert per_image(*dice_input(*both, per_image=True)).item() == pytest.approx(image_loss * 2 / 3, abs=1e-3)


def test_evaluate_reports(tmp_path, shared_data):
    out = tmp_path / "eval"
    assert (
        main(
            [
                "evaluate",
                "--weights",
                str(WEIGHTS),
                "--data",
                str(shared_data),
                "--labels",
                str(LABELS),
                "--split",
                "val",
                "--limit",
                "6",
                "--out",
                str(out),
                "--worst",
                "4",
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["images"] == 6
    for metric in ["dice", "iou", "hd95", "hd95_fraction", "box_iou"]:
        assert {"mean", "median", "min", "max", "worst5"} <= set(summary[metric])
    assert (out / "worst.png").exists()
    assert len((out / "per_image.csv").read_text().splitlines()) == 7


@pytest.mark.slow
def test_shipped_model_meets_the_validation_targets(tmp_path, shared_data):
    """Floors on the validation cases, measured by the evaluate command. The shipped weights are a
    refit that trained on these photos too, so these catch a regression (a broken export, loader or
    post-processing), they do not estimate accuracy: cross-validation does (README)."""
    out = tmp_path / "val"
    torch.manual_seed(0)
    assert (
        main(
            [
                "evaluate",
                "--weights",
                str(WEIGHTS),
                "--data",
                str(shared_data),
                "--labels",
                str(LABELS),
                "--split",
                "val",
                "--backend",
                "torch",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    s = json.loads((out / "summary.json").read_text())
    assert s["images"] == 166  # 96 AnnoCerv + IARC photos of 24 patients, 70 phone photos
    rows = list(csv.DictReader(open(out / "per_image.csv")))
    familiar = [r for r in rows if r["source"] != "mobileodt"]
    phone = [r for r in rows if r["source"] == "mobileodt"]
    assert len(familiar) == 96 and len(phone) == 70
    dice = np.array([float(r["dice"]) for r in familiar])
    assert dice.mean() >= 0.92 and np.median(dice) >= 0.95 and dice.min() >= 0.6, dice
    assert np.mean([float(r["box_iou"]) for r in familiar]) >= 0.85
    phone_dice = np.array([float(r["dice"]) for r in phone])
    assert phone_dice.mean() >= 0.80 and np.median(phone_dice) >= 0.90, phone_dice


def test_folds_keep_patients_together_and_spread_sources(labels):
    from collections import Counter

    from cervix_unet.workshop.split import make_folds, patient_of, source_of, view_of

    folds = make_folds(labels, 5, seed=0)
    assert sorted(k for fold in folds for k in fold) == sorted(labels)  # every image held out exactly once
    fold_of_group = {}
    for i, fold in enumerate(folds):
        for key in fold:
            assert fold_of_group.setdefault(patient_of(key, labels[key]), i) == i  # a group never straddles folds
    for fold in folds:
        assert {source_of(k) for k in fold} == {source_of(k) for k in labels}
        assert 0.1 < len(fold) / len(labels) < 0.3
    common_views = [v for v, n in Counter(view_of(k) for k in labels).items() if n >= 40]
    assert all(any(view_of(k) == v for k in fold) for fold in folds for v in common_views)


def test_crossval_smoke_run_writes_its_report(tmp_path, shared_data, monkeypatch):
    report = tmp_path / "cv"
    args = [
        "crossval",
        "--data",
        str(shared_data),
        "--labels",
        str(LABELS),
        "--out",
        str(tmp_path / "runs"),
        "--report",
        str(report),
        "--size",
        "32",
        "--epochs",
        "1",
        "--batch-size",
        "4",
        "--max-images",
        "4",
        "--warmup-epochs",
        "1",
        "--folds",
        "2",
        "--no-bf16",
        "--zoom-out",
        "0.5",
        "--colour-cast",
        "0.5",
        "--zoom-in",
        "0.5",
        "--dice-per-image",
    ]
    assert main(args) == 0
    summary = json.loads((report / "summary.json").read_text())
    assert summary["folds"] == 2 and summary["images"] == 8
    assert summary["recipe"]["zoom_out"] == summary["recipe"]["colour_cast"] == summary["recipe"]["zoom_in"] == 0.5
    assert summary["recipe"]["dice_per_image"] is True
    assert set(summary["by_source"]) <= {"annocerv", "iarc_atlas", "mobileodt"}
    assert (report / "summary.md").read_text().startswith("# Cross-validation (2 folds")
    assert (report / "worst_fold_1.png").exists()
    # run folders are gone (a new machine): the folds the report holds are kept, none trains again
    import shutil

    from cervix_unet.workshop import crossval

    # a second stage: fold 1 alone, from the first stage's model of the same fold
    second = [*args[: args.index("--out")], "--out", str(tmp_path / "runs2"), "--report", str(tmp_path / "cv2")]
    second += [*args[args.index("--size") :], "--fold", "1", "--init", str(tmp_path / "runs" / "fold_{fold}" / "best")]
    assert main(second) == 0
    stage2 = json.loads((tmp_path / "cv2" / "summary.json").read_text())
    assert stage2["folds"] == 1 and stage2["per_fold"]["dice"] and (tmp_path / "runs2" / "fold_1").is_dir()
    assert not (tmp_path / "runs2" / "fold_0").exists()
    shutil.rmtree(tmp_path / "runs")
    older = {**summary, "recipe": {k: v for k, v in summary["recipe"].items() if k != "train_sources"}}
    (report / "summary.json").write_text(json.dumps(older))  # written before an option existed: its default
    monkeypatch.setattr(crossval, "train", lambda config: pytest.fail(f"fold {config.fold} trained again"))
    assert main(args) == 0
    assert json.loads((report / "summary.json").read_text()) == summary


def test_crossval_says_which_earlier_step_is_missing(tmp_path, capsys):
    args = ["crossval", "--labels", str(LABELS), "--out", str(tmp_path / "runs"), "--report", str(tmp_path / "cv")]
    args += ["--fold", "3", "--init", str(tmp_path / "stage1" / "fold_{fold}" / "best")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / 'stage1' / 'fold_3' / 'best'}: no model folder; train the earlier step's fold 3 first" in err
    assert main(["train", "--out", str(tmp_path / "weighted"), "--source-weights", "iarc_atlas=2"]) == 2
    assert "--source-weights weighs the sources' draws: use --balance-sources" in capsys.readouterr().err


def test_train_sources_train_on_those_sources_and_keep_every_source_held_out():
    from cervix_unet.workshop.labels import load_labels
    from cervix_unet.workshop.train import train_and_val_keys

    labels = load_labels(LABELS)
    every = train_and_val_keys(TrainConfig(labels=str(LABELS), fold=2), labels)
    familiar = train_and_val_keys(TrainConfig(labels=str(LABELS), fold=2, train_sources="annocerv,iarc_atlas"), labels)
    assert familiar[1] == every[1] and any(k.startswith("mobileodt/") for k in familiar[1])
    assert familiar[0] == [k for k in every[0] if not k.startswith("mobileodt/")] and len(familiar[0]) > 300


def test_crossval_summary_is_rebuilt_from_its_per_image_csv():
    from cervix_unet.workshop.crossval import summarise_folds
    from cervix_unet.workshop.evaluate import read_rows
    from tests.conftest import ROOT

    report = ROOT / "reports" / "crossval_phone_pseudo"
    summary = summarise_folds(read_rows(report / "per_image.csv"))
    stored = json.loads((report / "summary.json").read_text())
    for metric in ("dice", "iou", "box_iou"):
        assert summary["across_folds"][metric] == pytest.approx(stored["across_folds"][metric])
    assert summary["failures"] == stored["failures"]
    phone = summary["by_source"]["mobileodt"]
    assert phone["dice"] == pytest.approx(stored["by_source"]["mobileodt"]["dice"])
    assert min(phone["dice_per_fold"]) == phone["dice_worst_fold"] < phone["dice"]
    familiar = [r for r in read_rows(report / "per_image.csv") if r["source"] != "mobileodt"]
    assert summary["familiar"]["images"] == len(familiar) == 480


def test_refit_trains_on_everything_and_keeps_the_last_epoch(tmp_path, shared_data):
    out = tmp_path / "refit"
    args = [
        "train",
        "--data",
        str(shared_data),
        "--labels",
        str(LABELS),
        "--out",
        str(out),
        "--size",
        "32",
        "--epochs",
        "2",
        "--batch-size",
        "4",
        "--max-images",
        "8",
        "--warmup-epochs",
        "1",
        "--refit",
        "--no-bf16",
        "--negatives",
        "--recolour-negatives",
        "1",
        "--balance-sources",
        "--average-from",
        "0",
    ]
    assert main(args) == 0
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [0, 1]
    assert (out / "best" / "model.safetensors").exists()
    averaged = CervixUNet.from_pretrained(out / "averaged").state_dict()
    last = torch.load(out / "checkpoint.pt", weights_only=False)["model"]
    assert any(not torch.equal(averaged[k], last[k]) for k in last)  # the mean of two epochs, not the last


def test_source_sampler_draws_each_source_equally_often():
    sources = ["annocerv"] * 10 + ["iarc_atlas"] * 30 + ["mobileodt"] * 60 + [None] * 20 + ["pseudo"] * 300
    sampler = source_sampler(sources, 120, torch.Generator().manual_seed(0))  # the teacher's masks add no draws
    assert len(sampler) == 120
    drawn = [sources[i] or "negative" for _ in range(50) for i in sampler]
    shares = {s: drawn.count(s) / len(drawn) for s in set(drawn)}
    assert abs(shares["negative"] - 20 / 120) < 0.03  # the made-up negatives keep their natural share
    for source in ("annocerv", "iarc_atlas", "mobileodt", "pseudo"):
        assert abs(shares[source] - 100 / 4 / 120) < 0.03, shares
    sampler = source_sampler(sources, 120, torch.Generator().manual_seed(0), {"iarc_atlas": 2.0})
    drawn = [sources[i] or "negative" for _ in range(50) for i in sampler]
    shares = {s: drawn.count(s) / len(drawn) for s in set(drawn)}
    assert abs(shares["iarc_atlas"] - 100 * 2 / 5 / 120) < 0.03, shares  # twice the others' draws
    assert abs(shares["annocerv"] - 100 / 5 / 120) < 0.03 and abs(shares["negative"] - 20 / 120) < 0.03
    assert source_weights("iarc_atlas=2", {"annocerv", "iarc_atlas"}) == {"iarc_atlas": 2.0}
    for bad in ("iarc_atlas", "iarc=2", "iarc_atlas=-1", "iarc_atlas=two"):
        with pytest.raises(ValueError, match="--source-weights"):
            source_weights(bad, {"annocerv", "iarc_atlas"})


def test_negatives_are_split_by_picture_and_the_shipped_model_says_no_cervix():
    from cervix_unet import Segmenter
    from cervix_unet.workshop.negatives import library_pictures

    train, test = library_pictures("train"), library_pictures("test")
    assert len(train) >= 100 and len(test) >= 15 and not set(train) & set(test)
    assert all(p.dtype == np.uint8 and p.ndim == 3 and p.shape[2] == 3 for p in [*train.values(), *test.values()])
    segmenter = Segmenter.from_pretrained(WEIGHTS, backend="torch")
    found = [name for name, picture in test.items() if segmenter(picture).found]
    assert len(found) <= NO_CERVIX_MISSES, found


def test_folds_over_one_source_hold_out_the_others_validation_part(labels):
    """--fold-sources mobileodt: the phone photos are dealt into folds (each once), the other
    sources' validation part is held out in every fold, their training part never."""
    from cervix_unet.workshop.split import select_keys
    from cervix_unet.workshop.train import held_out_keys

    config = TrainConfig(labels=str(LABELS), fold_sources="mobileodt")
    folds = [set(held_out_keys(config, labels, k)) for k in range(config.folds)]
    phone = [{k for k in fold if k.startswith("mobileodt/")} for fold in folds]
    assert sum(map(len, phone)) == len(set.union(*phone)) == sum(k.startswith("mobileodt/") for k in labels)
    others_val = {k for k in select_keys(labels, LABELS, "val") if not k.startswith("mobileodt/")}
    assert all(fold - p == others_val for fold, p in zip(folds, phone))


def test_zoom_out_shrinks_photo_and_mask_together_and_colour_cast_keeps_the_mask():
    from cervix_unet.workshop.data import colour_cast, zoom_out

    image = torch.full((3, 64, 96), 200, dtype=torch.uint8)
    mask = torch.zeros((1, 64, 96), dtype=torch.uint8)
    mask[:, 16:48, 24:72] = 1
    torch.manual_seed(0)
    for _ in range(40):
        shrunk, placed = zoom_out(image, mask)
        assert shrunk.shape == image.shape and placed.shape == mask.shape and shrunk.dtype == torch.uint8
        area = placed.sum().item() / mask.sum().item()
        assert 0 < area <= 0.85**2 + 0.02  # shrunk by 0.45-0.85 (and maybe cut by the vignette)
        assert (shrunk[:, placed[0] > 0] == 200).all()  # the mask lies on the photo, never on the surround
        assert (shrunk[:, placed[0] == 0] < 200).any()  # and there is a surround
        cast = colour_cast(image)
        assert cast.shape == image.shape and cast.dtype == torch.uint8 and not torch.equal(cast, image)


def test_only_the_made_up_negatives_are_recoloured():
    from cervix_unet.workshop.data import CervixDataset, recolour

    grey = torch.arange(64, dtype=torch.uint8).repeat(3, 64, 1) * 4  # a grey ramp
    torch.manual_seed(0)
    for _ in range(20):
        coloured = recolour(grey)
        assert coloured.shape == grey.shape and coloured.dtype == torch.uint8
    assert any((c := recolour(grey))[0].ne(c[2]).any() for _ in range(10))  # colour where there was none
    images = np.stack([np.full((32, 32, 3), (200, 90, 100), np.uint8)] * 4)  # two photos, then two negatives
    dataset = CervixDataset(images, np.zeros((4, 32, 32), bool), 32, True, negatives=range(2, 4), recolour=1.0)
    dataset.transform = lambda image, mask: (image, mask)  # only the recolouring
    assert all(torch.equal(dataset[i][0], dataset[0][0]) for i in (0, 1) for _ in range(5))
    assert not all(torch.equal(dataset[i][0], dataset[0][0]) for i in (2, 3) for _ in range(5))


def test_second_look_views_hold_the_labelled_cervix_larger(labels, shared_data):
    from cervix_unet.workshop.data import load_pairs, load_zoomed

    keys = [k for k in sorted(labels) if k.startswith("mobileodt/") and labels[k]["polygons"]][:6]
    _, whole = load_pairs(keys, labels, shared_data, 64)
    images, zoomed = load_zoomed(keys, labels, shared_data, 64, (0.1, 0.5), seed=0)
    assert images.shape == (6, 64, 64, 3) and zoomed.shape == (6, 64, 64)
    assert sum(view.mean() > 1.5 * frame.mean() for frame, view in zip(whole, zoomed)) >= 2  # small ones grow
    for key, frame, view in zip(keys, whole, zoomed):
        assert view.mean() >= frame.mean() - 0.02, key  # never less of the view (up to resampling)
        ys, xs = np.nonzero(view)
        # the box grown by at most 0.5 on each side: the cervix spans at least half the view (less rounding)
        assert xs.max() - xs.min() + 1 >= 0.5 * 64 - 2 and ys.max() - ys.min() + 1 >= 0.5 * 64 - 2, key


def test_compare_crossval_keeps_only_a_change_that_helps_phone_photos(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    rng = np.random.default_rng(0)
    photos = [(f"{s}/{i}", s) for s in ("annocerv", "iarc_atlas", "mobileodt") for i in range(40)]
    base = {key: rng.uniform(0.8, 0.95) for key, _ in photos}

    def report(name: str, phone_gain: float, fold: int = 0) -> str:
        folder = tmp_path / name
        folder.mkdir()
        with open(folder / "per_image.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=["fold", "image", "source", "dice", "box_iou"])
            writer.writeheader()
            for key, source in photos:
                dice = base[key] + (phone_gain if source == "mobileodt" else 0.0)
                writer.writerow({"fold": fold, "image": key, "source": source, "dice": dice, "box_iou": dice})
        return str(folder)

    baseline = report("base", 0.0)
    for name, gain, keep in [("better", 0.02, True), ("same", 0.0, False), ("worse", -0.02, False)]:
        done = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "compare_crossval.py"), baseline, report(name, gain)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert f"keep the change: {keep}" in done.stdout, done.stdout
        compared = json.loads((tmp_path / name / "compared.json").read_text())
        assert compared["dice"]["mobileodt"]["difference"] == pytest.approx(gain)
    # reports over other folds pair up photo by photo only with --by-photo
    other_folds = report("other_folds", 0.02, fold=3)
    script = [sys.executable, str(ROOT / "scripts" / "compare_crossval.py"), baseline, other_folds]
    refused = subprocess.run(script, capture_output=True, text=True)
    assert refused.returncode == 2 and "--by-photo" in refused.stderr  # no photo pairs by fold
    done = subprocess.run([*script, "--by-photo"], capture_output=True, text=True, check=True)
    assert "keep the change: True" in done.stdout
    compared = json.loads((tmp_path / "other_folds" / "compared.json").read_text())
    assert compared["dice"]["mobileodt"]["photos"] == 40


def test_teacher_masks_cover_unlabelled_phone_photos_and_skip_lookalikes_of_held_out_ones(
    tmp_path, labels, shared_data, monkeypatch
):
    from cervix_unet import pipeline
    from cervix_unet.workshop.labels import label_mask
    from cervix_unet.workshop.metrics import mask_metrics
    from cervix_unet.workshop.pseudo import pseudo_labels, teacher_sheet, unlabelled_keys, without_lookalikes

    unlabelled = unlabelled_keys(shared_data, labels)
    assert len(unlabelled) > 1000 and not set(unlabelled) & set(labels)
    assert all(k.startswith("mobileodt/") for k in unlabelled)
    phone = sorted(k for k in labels if k.startswith("mobileodt/") and labels[k]["polygons"])[:4]
    # a held-out photo takes itself (distance 0) out of the candidates; unrelated photos stay
    assert without_lookalikes([*phone, unlabelled[0]], phone[:1], shared_data) == [*phone[1:], unlabelled[0]]
    # the shipped model as teacher, on labelled photos so that its masks can be scored
    cache = tmp_path / "pseudo.npz"
    kept, images, masks = pseudo_labels(WEIGHTS, phone, shared_data, 64, cache)
    assert (
        kept
        and set(kept) <= set(phone)
        and images.shape == (len(kept), 64, 64, 3)
        and masks.shape == (len(kept), 64, 64)
    )
    assert teacher_sheet(kept, images, masks).width == 8 * 200  # one row of thumbnails
    for key, mask in zip(kept, masks):
        assert mask_metrics(mask, label_mask(labels[key], out_size=(64, 64)))["dice"] > 0.8
    monkeypatch.setattr(pipeline.Segmenter, "from_pretrained", None)  # the cache is read, the teacher not run
    again = pseudo_labels(WEIGHTS, phone, shared_data, 64, cache)
    assert again[0] == kept and np.array_equal(again[2], masks)
    with pytest.raises(TypeError):  # as many photos but other ones: the cache is not theirs, the teacher runs
        pseudo_labels(WEIGHTS, [*phone[1:], unlabelled[0]], shared_data, 64, cache)
