"""docs/custom_data.md, followed as a user would: its bash blocks, in order and as written.

The only thing the test adds is the user's data: ``my_data/`` with PNG images (not the default
``.jpg``) and palette-mode ('P') label PNGs of three classes plus ignored (255) pixels, generated
in a temporary copy of the repository layout (links to ``tools``, ``configs``, ``datasets``,
``projects`` and the running Python's environment as ``.venv``), so ``output/`` lands there.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "custom_data.md"
CLASSES = ["background", "square", "disc"]  # the names the doc's DATA array gives


def bash_blocks(markdown: str):
    """The ```bash blocks of a markdown text, in order."""
    return re.findall(r"^```bash\n(.*?)^```", markdown, flags=re.S | re.M)


def write_split(root: Path, split: str, count: int, rng: np.random.RandomState) -> None:
    """``count`` 96x128 PNG images of a red square and a blue disc on green, with 'P' labels
    (0 background, 1 square, 2 disc, 255 in the top rows)."""
    (root / "images" / split).mkdir(parents=True)
    (root / "labels" / split).mkdir(parents=True)
    yy, xx = np.mgrid[:96, :128]
    for i in range(count):
        label = np.zeros((96, 128), np.uint8)
        image = np.zeros((96, 128, 3), np.int32) + (40, 120, 40)
        y, x = rng.randint(10, 50), rng.randint(10, 70)
        label[y : y + 30, x : x + 40] = 1
        image[y : y + 30, x : x + 40] = (200, 40, 40)
        disc = (yy - rng.randint(20, 76)) ** 2 + (xx - rng.randint(20, 108)) ** 2 < 15**2
        label[disc] = 2
        image[disc] = (40, 40, 220)
        label[:2] = 255
        image = np.clip(image + rng.randint(-20, 20, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(root / "images" / split / f"{split}_{i}.png")
        png = Image.fromarray(label, mode="P")
        png.putpalette([0, 0, 0, 255, 0, 0, 0, 0, 255] + [255] * (3 * 253))
        png.save(root / "labels" / split / f"{split}_{i}.png")


@pytest.fixture()
def user_checkout(tmp_path):
    """A folder laid out like the repository root, holding the user's ``my_data``."""
    for name in ("tools", "configs", "datasets", "projects"):
        os.symlink(REPO / name, tmp_path / name)
    os.symlink(sys.prefix, tmp_path / ".venv")  # .venv/bin/python: the Python running the tests
    rng = np.random.RandomState(0)
    write_split(tmp_path / "my_data", "train", 6, rng)
    write_split(tmp_path / "my_data", "val", 3, rng)
    return tmp_path


def test_custom_data_doc_end_to_end(user_checkout):
    blocks = bash_blocks(DOC.read_text())
    assert len(blocks) == 5, "the doc's steps changed: check this test still follows them"
    script = "set -euo pipefail\n" + "\n".join(blocks)
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    env["PYTHONPATH"] = os.pathsep.join(
        [str(REPO / "projects" / "SegViT"), env.get("PYTHONPATH", "")]
    )
    run = subprocess.run(
        ["bash", "-c", script],
        cwd=user_checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-6000:]

    out = user_checkout / "output" / "my_data"
    assert (out / "model_final.pth").is_file()
    # training evaluated at its end, and --eval-only printed the per-class scores by name
    records = [json.loads(line) for line in (out / "metrics.json").read_text().splitlines()]
    assert any("sem_seg/mIoU" in r for r in records)
    assert all(f"IoU-{name}" in log for name in CLASSES)
    assert list(out.glob("eval_*")), "--eval-only writes into output/my_data/eval_<N>"
    # the demo wrote an overlay and a label per val image, and areas named by the class names
    predictions = out / "predictions"
    assert sorted(p.name for p in predictions.glob("*_overlay.jpg")) == [
        f"val_{i}_overlay.jpg" for i in range(3)
    ]
    areas = json.loads((predictions / "areas.json").read_text())
    assert set(areas) == {f"val_{i}.png" for i in range(3)}
    assert all(set(a) <= set(CLASSES) for a in areas.values())
    # the saved config keeps the class names (a tool reading config.yaml names them too)
    assert "class_names: [background, square, disc]" in (out / "config.yaml").read_text()
