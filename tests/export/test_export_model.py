"""tools/export_model.py and segvit.export: ONNX (onnxruntime) and TorchScript parity with PyTorch
for every exportable decoder, and bad requests that write nothing."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.structures import ImageList
from export_helpers import (
    NAIVE_SHRUNK_B,
    SETR_B,
    SHRUNK_B,
    SYNTHETIC_TINY,
    TINY_OVERRIDES,
    TINY_SEGVIT,
    TINY_SIZE,
    tiny_model,
)
from repo_scripts import REPO, load_script

from segvit.checkpoint import CheckpointError
from segvit.export import ExportableSegmentor, ExportError, ExportRequest, export_model
from segvit.export.formats import load_runner, require
from segvit.export.parity import Parity, parity_inputs

export_tool = load_script("tools", "export_model")


def _tool(config, output, *argv):
    """Run the tool on a tiny model of ``config``; returns its JSON report."""
    argv = ["--config-file", config, "--output", str(output), *argv, *TINY_OVERRIDES[config]]
    return export_tool.run(export_tool.get_parser().parse_args(argv))


def _saved(model, folder) -> str:
    """``model``'s weights as a Detectron2 checkpoint in ``folder``, as a config override."""
    DetectionCheckpointer(model, save_dir=str(folder)).save("weights")
    return f"train.init_checkpoint={folder / 'weights.pth'}"


def _check_against_pytorch(model, path, fmt, height, width, argmax=False):
    """Fresh inputs (not the tool's own): scores within 1e-4, argmax equal on >= 99.9%."""
    run = load_runner(str(path), fmt)
    reference = ExportableSegmentor(model)
    for images in parity_inputs(1, height, width, seed=7):
        with torch.no_grad():
            expected = reference(torch.from_numpy(images)).numpy()
        outputs = run(images)
        assert outputs[0].shape == expected.shape == (1, expected.shape[1], height, width)
        assert np.abs(outputs[0] - expected).max() <= 1e-4
        assert (outputs[0].argmax(1) == expected.argmax(1)).mean() >= 0.999
        if argmax:
            assert outputs[1].dtype == np.int64 and outputs[1].shape == (1, height, width)
            np.testing.assert_array_equal(outputs[1], outputs[0].argmax(1))


def test_onnx_tiny_segvit_matches_pytorch(tmp_path):
    """The CI parity test: the demo's tiny SegViT on onnxruntime, with the label map and the
    weights in a side file (what ViT-L past 2 GB would get), run from another folder."""
    model = tiny_model(TINY_SEGVIT)
    out = tmp_path / "out" / "tiny.onnx"
    report = _tool(
        TINY_SEGVIT, out, "--format", "onnx", "--argmax", "--external-data", _saved(model, tmp_path)
    )
    assert sorted(os.listdir(out.parent)) == ["tiny.onnx", "tiny.onnx.data"]  # no staging left
    assert report["outputs"] == ["scores", "labels"] and report["parity"][0]["ok"]
    assert report["parity"][0]["max_abs_diff"] <= 1e-4
    assert report["input"]["shape"] == [1, 3, 128, 128]
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)  # the side file is found next to the model, not in the cwd
        _check_against_pytorch(model, out, "onnx", 128, 128, argmax=True)
    finally:
        os.chdir(cwd)


def test_onnx_dynamic_runs_other_sizes(tmp_path):
    """--dynamic: one file, any multiple of the patch size (pos-embed resized in the graph)."""
    model = tiny_model(TINY_SEGVIT)
    out = tmp_path / "dyn.onnx"
    report = _tool(TINY_SEGVIT, out, "--format", "onnx", "--dynamic", _saved(model, tmp_path))
    assert [p["input_hw"] for p in report["parity"]] == [[128, 128], [144, 136]]
    for height, width in ((128, 128), (96, 160), (200, 64)):
        _check_against_pytorch(model, out, "onnx", height, width)


@pytest.mark.parametrize("config", [TINY_SEGVIT, SHRUNK_B, NAIVE_SHRUNK_B, SETR_B, *SYNTHETIC_TINY])
def test_torchscript_every_decoder_matches_pytorch(tmp_path, config):
    height, width = TINY_SIZE[config]
    model = tiny_model(config)
    weights = _saved(model, tmp_path)
    out = tmp_path / "out" / "model.ts"
    size = ["--height", str(height), "--width", str(width)]
    report = _tool(config, out, "--format", "torchscript", *size, weights)
    assert report["parity"][0]["ok"] and os.listdir(out.parent) == ["model.ts"]
    _check_against_pytorch(model, out, "torchscript", height, width)


def test_onnx_shrunk_qu_head_matches_pytorch(tmp_path):
    """Shrunk SegViT (query down-sampling, QU decoders with nn.TransformerDecoderLayer) on
    onnxruntime, with its pos-embed and QU query table resized once (6x6 -> 4x4)."""
    model = tiny_model(SHRUNK_B)
    out = tmp_path / "shrunk.onnx"
    report = export_model(model, ExportRequest("onnx", 64, 64), str(out))
    assert report["model"] == "Shrunk SegViT" and report["parity"][0]["ok"]
    assert model.backbone.pretrain_grid == (6, 6) and model.head.query_grid == (6, 6)  # untouched
    _check_against_pytorch(model, out, "onnx", 64, 64)


def test_checkpoint_weights_are_exported(tmp_path):
    """The exported file holds the checkpoint's weights, not a fresh random init."""
    trained, other = tiny_model(TINY_SEGVIT, seed=1), tiny_model(TINY_SEGVIT, seed=2)
    out = tmp_path / "tiny.ts"
    _tool(TINY_SEGVIT, out, "--format", "torchscript", _saved(trained, tmp_path))
    _check_against_pytorch(trained, out, "torchscript", 128, 128)
    with pytest.raises(AssertionError):
        _check_against_pytorch(other, out, "torchscript", 128, 128)


def test_partial_checkpoint_is_refused_unless_allowed(tmp_path):
    state = tiny_model(TINY_SEGVIT).state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("head.class_embed")}
    torch.save({"model": state}, tmp_path / "partial.pth")
    out = tmp_path / "tiny.ts"
    args = ["--format", "torchscript", f"train.init_checkpoint={tmp_path / 'partial.pth'}"]
    with pytest.raises(CheckpointError, match="(?s)head.class_embed.*--allow-partial-weights"):
        _tool(TINY_SEGVIT, out, *args)
    assert not out.exists()
    _tool(TINY_SEGVIT, out, "--allow-partial-weights", *args)
    assert out.exists()


def _assert_refused(tmp_path, capsys, argv, message, config=TINY_SEGVIT):
    before = sorted(os.listdir(tmp_path))
    out = tmp_path / "model.onnx"
    code = export_tool.main(
        ["--config-file", config, "--output", str(out), *argv, *TINY_OVERRIDES.get(config, [])]
    )
    err = capsys.readouterr().err.strip().splitlines()[-1]  # after any library warnings
    assert code == 2 and err.startswith("error: ") and message in err, err
    assert sorted(os.listdir(tmp_path)) == before  # nothing written, no staging folder left


def test_size_not_divisible_by_patch_is_refused(tmp_path, capsys):
    _assert_refused(
        tmp_path, capsys, ["--format", "onnx", "--height", "100"], "multiples of the patch size 8"
    )


def test_missing_checkpoint_is_refused(tmp_path, capsys):
    missing = tmp_path / "nope.pth"
    _assert_refused(
        tmp_path, capsys, ["--format", "onnx", f"train.init_checkpoint={missing}"], "nope.pth"
    )


def test_checkpoint_that_would_run_code_is_refused(tmp_path, capsys):
    """Weights go through the project's safe loader: a pickle asking for a callable is refused."""
    import pickle

    class RunsCode:
        def __reduce__(self):
            return (os.system, ("touch should-not-exist",))

    (tmp_path / "weights.pkl").write_bytes(pickle.dumps({"model": RunsCode()}))
    override = f"train.init_checkpoint={tmp_path / 'weights.pkl'}"
    _assert_refused(tmp_path, capsys, ["--format", "torchscript", override], "weights.pkl")
    assert not os.path.exists("should-not-exist")


def test_unsupported_model_is_refused(tmp_path, capsys):
    config = str(REPO / "configs/synthetic/maskformer_tiny.py")
    _assert_refused(
        tmp_path, capsys, ["--format", "torchscript"], "MaskFormer/Mask2Former", config=config
    )


def test_unsupported_head_names_the_table(tmp_path):
    model = tiny_model(TINY_SEGVIT)
    model.head = torch.nn.Identity()
    with pytest.raises(ExportError, match="Identity is not exportable.*EXPORTABLE_HEADS"):
        export_model(model, ExportRequest("torchscript", 128, 128), str(tmp_path / "x.ts"))
    assert os.listdir(tmp_path) == []


def test_dynamic_torchscript_is_refused(tmp_path, capsys):
    _assert_refused(tmp_path, capsys, ["--format", "torchscript", "--dynamic"], "torch.jit.trace")


def test_existing_output_is_kept_without_overwrite(tmp_path, capsys):
    out = tmp_path / "model.onnx"
    out.write_bytes(b"user file")
    _assert_refused(tmp_path, capsys, ["--format", "torchscript"], "--overwrite")
    assert out.read_bytes() == b"user file"
    # An ONNX side file counts as part of the output too.
    out.unlink()
    (tmp_path / "model.onnx.data").write_bytes(b"user data")
    _assert_refused(tmp_path, capsys, ["--format", "onnx"], "model.onnx.data")
    (tmp_path / "model.onnx.data").unlink()
    out.write_bytes(b"user file")
    code = export_tool.main(
        ["--config-file", TINY_SEGVIT, "--output", str(out), "--format", "torchscript"]
        + ["--overwrite"]
    )
    assert code == 0 and out.read_bytes() != b"user file"
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["format"] == "torchscript"


def test_failed_parity_writes_nothing(tmp_path, monkeypatch):
    import segvit.export.pipeline as pipeline

    monkeypatch.setattr(pipeline, "measure_parity", lambda *a: Parity(1.0, 0.5, 2, (128, 128)))
    with pytest.raises(ExportError, match="parity check failed"):
        export_model(
            tiny_model(TINY_SEGVIT), ExportRequest("torchscript", 128, 128), str(tmp_path / "x.ts")
        )
    assert os.listdir(tmp_path) == []


def test_missing_onnxruntime_says_how_to_install(monkeypatch):
    import importlib

    real_import = importlib.import_module

    def import_without_onnxruntime(name, *args):
        if name == "onnxruntime":
            raise ImportError("No module named 'onnxruntime'")
        return real_import(name, *args)

    monkeypatch.setattr(importlib, "import_module", import_without_onnxruntime)
    with pytest.raises(ImportError, match="pip install .*onnxruntime"):
        require("onnxruntime")


def test_package_and_tool_import_without_onnx():
    """Blocking onnx/onnxruntime/onnxscript: segvit, segvit.export and the tool still import."""
    code = (
        "import sys\n"
        "for name in ('onnx', 'onnxruntime', 'onnxscript'): sys.modules[name] = None\n"
        "import segvit, segvit.export\n"
        f"sys.argv = ['x']; exec(open({str(REPO / 'tools/export_model.py')!r}).read().split("
        "'if __name__')[0])\n"
        "print('ok')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO / "projects/SegViT")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr


def test_tensor_padding_equals_imagelist():
    """SegmentorBase.pad of a tensor batch (F.pad, exportable) = Detectron2's ImageList."""
    model = tiny_model(TINY_SEGVIT)
    images = torch.randn(2, 3, 37, 45)
    expected = ImageList.from_tensors(list(images), model.size_divisibility).tensor
    torch.testing.assert_close(model.pad(images), expected, rtol=0, atol=0)
    assert model.pad(images).shape[-2:] == (40, 48)


def test_slide_windows_through_the_exported_model(tmp_path):
    """docs/deployment.md's recipe: the project's slide loop around a fixed-size export gives
    the PyTorch model's slide-mode scores."""
    import dataclasses

    from segvit.modeling.meta_arch.inference import slide_inference

    model = tiny_model(TINY_SEGVIT)
    out = tmp_path / "tiny.ts"
    export_model(model, ExportRequest("torchscript", 128, 128), str(out))
    run = load_runner(str(out), "torchscript")
    image = torch.randint(0, 256, (3, 160, 200), dtype=torch.uint8)
    scores = slide_inference(
        image.float(), lambda x: torch.from_numpy(run(x.numpy())[0]), (128, 128), (96, 96)
    )
    model.inference = dataclasses.replace(
        model.inference, mode="slide", crop_size=(128, 128), stride=(96, 96)
    )
    with torch.no_grad():
        expected = model([{"image": image, "height": 160, "width": 200}])[0]["sem_seg"]
    assert scores.shape == expected.shape == (8, 160, 200)
    assert (scores - expected).abs().max() <= 1e-4
