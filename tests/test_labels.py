"""The project's cervix labels and the case-wise split."""

import json
from collections import Counter

import numpy as np
import pytest

from cervix_unet.workshop.label_report import check
from cervix_unet.workshop.label_tools import mask_to_polygons
from cervix_unet.workshop.labels import label_mask, render_mask, validate_label
from cervix_unet.workshop.split import (
    SAME_PATIENT,
    case_of,
    extend_split,
    keys_of_groups,
    make_split,
    patient_of,
    view_of,
)
from tests.conftest import LABELS


def test_every_polygon_valid_and_inside_its_image(labels):
    assert len(labels) == 913  # 270 AnnoCerv + 243 IARC + 400 phone photos
    problems = [p for key, label in labels.items() for p in validate_label(key, label)]
    assert problems == []


def test_every_dev_pool_image_has_exactly_one_label(shared_data):
    assert check(str(LABELS), str(shared_data)) == []


def test_label_sizes_match_the_images(labels, shared_data):
    from PIL import Image

    for key in list(labels)[::25]:
        with Image.open(shared_data / key) as im:
            assert list(im.size) == labels[key]["size"], key


def test_empty_polygons_mean_no_cervix(labels):
    empties = [k for k, l in labels.items() if not l["polygons"]]
    assert len(empties) == 3
    for key in empties:
        assert not label_mask(labels[key]).any()


def test_provenance_recorded(labels):
    for label in labels.values():
        assert label["origin"] in {"drawn", "proposed-corrected", "drawn-corrected", "proposed-accepted"}
        assert label["reviewed"] is True
        assert label["annotator"]


def test_render_is_deterministic_and_scales():
    square = [[[10, 10], [50, 10], [50, 30], [10, 30]]]
    a = render_mask(square, (100, 40))
    assert np.array_equal(a, render_mask(square, (100, 40)))
    assert a[20, 30] and not a[5, 5]
    assert abs(a.sum() - 41 * 21) <= 41 + 21  # area within one pixel ring
    half = render_mask(square, (100, 40), out_size=(50, 20))
    assert half.shape == (20, 50) and half[10, 15]


def test_two_polygons_are_a_union():
    polys = [[[0, 0], [10, 0], [10, 10], [0, 10]], [[20, 0], [30, 0], [30, 10], [20, 10]]]
    mask = render_mask(polys, (40, 12))
    assert mask[5, 5] and mask[5, 25] and not mask[5, 15]


def test_invalid_labels_are_reported():
    bad = {"size": [100, 50], "confidence": "sure", "polygons": [[[0, 0], [200, 10], [5, 40]], [[1, 1], [2, 2]]]}
    problems = validate_label("x", bad)
    assert any("outside" in p for p in problems)
    assert any("2 points" in p for p in problems)
    assert any("confidence" in p for p in problems)


def test_mask_to_polygon_proposal_round_trip():
    mask = np.zeros((120, 160), bool)
    yy, xx = np.mgrid[:120, :160]
    mask[(yy - 60) ** 2 / 45**2 + (xx - 80) ** 2 / 60**2 <= 1] = True
    polys = mask_to_polygons(mask)
    assert len(polys) == 1 and 3 <= len(polys[0]) <= 40
    back = render_mask(polys, (160, 120))
    dice = 2 * (back & mask).sum() / (back.sum() + mask.sum())
    assert dice > 0.97


def test_split_is_case_wise_and_covers_views(labels):
    split = json.loads((LABELS / "split.json").read_text())
    train, val = set(split["train"]), set(split["val"])
    assert not train & val
    assert train | val == {patient_of(k, v) for k, v in labels.items()}
    # same-patient AnnoCerv pairs never straddle the split
    for first, second in SAME_PATIENT:
        assert patient_of(f"annocerv/images/{second}Aceto_1.jpg") == f"annocerv/{first}"
    for source in ("annocerv", "iarc_atlas", "mobileodt"):
        n_val = sum(g.startswith(source) for g in val)
        n_all = sum(g.startswith(source) for g in train | val)
        assert n_val / n_all >= 0.15, source
    train_views = Counter(view_of(k) for k in keys_of_groups(labels, train))
    val_views = Counter(view_of(k) for k in keys_of_groups(labels, val))
    for view in set(train_views) | set(val_views):
        if view != "other":
            assert train_views[view] and val_views[view], view
    # the recorded split is the one the code makes: the first two sources, then the phone photos added
    first = make_split([k for k in labels if not k.startswith("mobileodt/")], 0.18, 0)
    assert extend_split(first, labels, "mobileodt", 0.18, 0) == {"train": split["train"], "val": split["val"]}


def test_case_and_view_parsing():
    assert case_of("annocerv/images/C12Aceto_3.jpg") == "annocerv/C12"
    assert case_of("iarc_atlas/images/case_AAAX/4_After_acetic_acid.jpg") == "iarc_atlas/AAAX"
    assert view_of("iarc_atlas/images/case_AAAX/3_After_normal_saline_with_green_filter.jpg") == "green filter"
    assert (
        view_of("iarc_atlas/images/case_AABG/3_Examination_with_endocervical_speculum.jpg") == "endocervical speculum"
    )
    with pytest.raises(ValueError):
        case_of("annocerv/images/unknown.jpg")


def test_label_tools_commands(tmp_path, shared_data):
    from PIL import Image

    from cervix_unet.cli import main
    from tests.conftest import EXAMPLES

    assert main(["labels", "grid", str(EXAMPLES[0]), "--out", str(tmp_path / "grid.png")]) == 0
    assert Image.open(tmp_path / "grid.png").size == (576, 384)
    assert (
        main(
            [
                "labels",
                "sheet",
                "--labels",
                str(LABELS),
                "--data",
                str(shared_data),
                "--confidence",
                "high",
                "--per-sheet",
                "30",
                "--out",
                str(tmp_path / "sheets"),
            ]
        )
        == 0
    )
    assert len(list((tmp_path / "sheets").glob("*.png"))) == 3  # 71 high-confidence labels
    report = tmp_path / "REPORT.md"
    assert main(["labels", "report", "--labels", str(LABELS), "--data", str(shared_data), "--out", str(report)]) == 0
    assert "913 images" in report.read_text() and (tmp_path / "report_sample.jpg").exists()


def test_propose_gives_a_reviewable_polygon(capsys):
    from cervix_unet.cli import main
    from tests.conftest import EXAMPLES, WEIGHTS

    assert main(["labels", "propose", str(EXAMPLES[0]), "--weights", str(WEIGHTS)]) == 0
    proposal = json.loads(capsys.readouterr().out)[str(EXAMPLES[0])]
    assert proposal["origin"] == "proposed" and proposal["reviewed"] is False
    assert validate_label("p", proposal) == []
    assert len(proposal["polygons"]) == 1 and 3 <= len(proposal["polygons"][0]) <= 40


def test_phone_labels_are_a_reviewed_grouped_sample(labels):
    phone = {k: v for k, v in labels.items() if k.startswith("mobileodt/")}
    assert len(phone) == 400 and all(v["reviewed"] for v in phone.values())
    assert {v["origin"] for v in phone.values()} <= {"proposed-accepted", "proposed-corrected", "drawn"}
    assert all(v["group"].startswith("mobileodt/lookalike-") for v in phone.values())
    types = Counter(k.split("_Type_")[1][0] for k in phone)
    assert types == {"1": 68, "2": 210, "3": 122}  # proportional to the 1,993 photos' types


def test_lookalike_groups_join_near_duplicates(tmp_path):
    import numpy as np
    from PIL import Image

    from cervix_unet.workshop.groups import lookalike_groups
    from tests.conftest import EXAMPLES

    (tmp_path / "phone").mkdir()
    photo = Image.open(EXAMPLES[0])
    photo.save(tmp_path / "phone" / "a.jpg")
    brighter = np.clip(np.asarray(photo).astype(int) + 12, 0, 255).astype(np.uint8)
    Image.fromarray(brighter).save(tmp_path / "phone" / "a_brighter.jpg")
    Image.open(EXAMPLES[1]).save(tmp_path / "phone" / "b.jpg")
    groups = lookalike_groups(["phone/a.jpg", "phone/a_brighter.jpg", "phone/b.jpg"], tmp_path)
    assert groups["phone/a.jpg"] == groups["phone/a_brighter.jpg"] == "phone/lookalike-a"
    assert groups["phone/b.jpg"] == "phone/lookalike-b"
