"""Made-up "no cervix" photos: pictures that are not colposcopy, for training and for testing.

A non-colposcopy photo (a face, a landscape, a document) must come back "no cervix". The pool
has only three empty labels, so training adds pictures that ship with the libraries the
workshop already uses (scikit-image, scikit-learn, matplotlib) and rendered text pages, all
with an empty mask. The pictures are split by source picture into a training part and a
held-out test part (colour photos of people, animals, things and places, documents), so that
the "no cervix" test is on pictures no model trained on.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

# scikit-image sample pictures (skimage.data function names), by part
SKIMAGE_TRAIN = [
    "camera",
    "coffee",
    "chelsea",
    "rocket",
    "text",
    "coins",
    "hubble_deep_field",
    "immunohistochemistry",
    "retina",
    "moon",
    "grass",
    "gravel",
    "brick",
    "cell",
    "horse",
    "logo",
    "microaneurysms",
]
SKIMAGE_TEST = ["astronaut", "page", "clock", "colorwheel", "checkerboard"]
GRADIO_TEST = ["cheetah.jpg", "groot.jpeg", "lion.jpg", "tower.jpg"]  # Gradio's sample photos (gradio.media)
FACES_TRAIN = 100  # of scikit-image's 200 small grey LFW faces, tinted to skin tones (the test part has
# colour portraits: scikit-image's astronaut and matplotlib's Grace Hopper)
DOCUMENTS = {"train": 20, "test": 10}  # rendered text pages, different seeds per part


def _rgb(array: np.ndarray) -> np.ndarray:
    """Any sample picture as HxWx3 uint8."""
    array = np.asarray(array)
    if array.dtype == bool:
        array = array.astype(np.uint8) * 255
    elif array.dtype != np.uint8:
        array = (255 * (array - array.min()) / max(1e-9, float(array.max() - array.min()))).astype(np.uint8)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.ascontiguousarray(array[..., :3])


def tinted(grey: np.ndarray, rng: random.Random) -> np.ndarray:
    """A grey picture in a random skin-like colour cast (the pink-to-brown range colposcopy shares)."""
    tint = np.array([1.0, rng.uniform(0.6, 0.85), rng.uniform(0.45, 0.75)], np.float32) * rng.uniform(0.8, 1.15)
    return np.clip(_rgb(grey).astype(np.float32) * tint, 0, 255).astype(np.uint8)


def rendered_documents(count: int, seed: int) -> list[np.ndarray]:
    """Photos of text pages: paper tint, lines of words, a little rotation."""
    rng = random.Random(seed)
    words = "patient date exam cervix report result left right normal follow visit clinic the and of".split()
    pages = []
    for _ in range(count):
        width, height = rng.choice([(600, 800), (800, 600), (640, 640)])
        paper = tuple(rng.randint(215, 255) for _ in range(3))
        page = Image.new("RGB", (width, height), paper)
        draw = ImageDraw.Draw(page)
        font = ImageFont.load_default(size=rng.randint(14, 30))
        y = rng.randint(10, 60)
        while y < height - 30:
            line = " ".join(rng.choice(words) for _ in range(rng.randint(3, 12)))
            ink = tuple(rng.randint(0, 90) for _ in range(3))
            draw.text((rng.randint(10, 60), y), line.capitalize(), fill=ink, font=font)
            y += rng.randint(24, 48)
        backdrop = tuple(rng.randint(40, 200) for _ in range(3))
        pages.append(np.asarray(page.rotate(rng.uniform(-12, 12), expand=True, fillcolor=backdrop)))
    return pages


def library_pictures(part: str) -> dict[str, np.ndarray]:
    """The named non-colposcopy pictures of one part ("train" or "test"), HxWx3 uint8."""
    import skimage.data

    names = SKIMAGE_TRAIN if part == "train" else SKIMAGE_TEST
    pictures = {f"skimage/{name}": _rgb(getattr(skimage.data, name)()) for name in names}
    if part == "train":
        rng = random.Random(0)
        for i, face in enumerate(skimage.data.lfw_subset()[:FACES_TRAIN]):
            pictures[f"lfw/{i}"] = tinted(face, rng)
    else:
        import matplotlib
        from sklearn.datasets import load_sample_images

        sample_data = Path(matplotlib.get_data_path()) / "sample_data"
        for name in ["grace_hopper.jpg", "Minduka_Present_Blue_Pack.png"]:
            pictures[f"matplotlib/{name}"] = _rgb(np.asarray(Image.open(sample_data / name).convert("RGB")))
        for name, image in zip(load_sample_images().filenames, load_sample_images().images):
            pictures[f"sklearn/{Path(name).name}"] = _rgb(image)
        pictures["skimage/motorcycle"] = _rgb(skimage.data.stereo_motorcycle()[0])
        from gradio.media import get_image

        for name in GRADIO_TEST:
            pictures[f"gradio/{name}"] = _rgb(np.asarray(Image.open(get_image(name)).convert("RGB")))
    seed = 0 if part == "train" else 1
    for i, page in enumerate(rendered_documents(DOCUMENTS[part], seed)):
        pictures[f"document/{part}{i}"] = page
    return pictures
