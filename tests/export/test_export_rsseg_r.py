"""RSSeg-R (a reconstruction of RSSeg) on onnxruntime: the inference graph (no training-only
module) exports and matches PyTorch; its TorchScript parity is in test_export_model.py."""

import numpy as np
import pytest
import torch
from export_helpers import tiny_model
from repo_scripts import REPO

from segvit.export import ExportableSegmentor, ExportRequest, export_model
from segvit.export.formats import load_runner
from segvit.export.parity import parity_inputs

RSSEG_R_TINY = str(REPO / "configs/synthetic/rsseg_r_tiny.py")


def test_onnx_tiny_rsseg_r_matches_pytorch(tmp_path):
    pytest.importorskip("onnxruntime")
    model = tiny_model(RSSEG_R_TINY)
    out = tmp_path / "rsseg_r.onnx"
    report = export_model(model, ExportRequest("onnx", 128, 128), str(out))
    assert report["model"] == "RSSeg-R (reconstruction)" and report["parity"][0]["ok"]
    run = load_runner(str(out), "onnx")
    reference = ExportableSegmentor(model)
    for images in parity_inputs(1, 128, 128, seed=7):
        with torch.no_grad():
            expected = reference(torch.from_numpy(images)).numpy()
        (scores, *_) = run(images)
        assert scores.shape == expected.shape == (1, 8, 128, 128)
        assert np.abs(scores - expected).max() <= 1e-4
