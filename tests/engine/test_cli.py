"""segvit.engine.cli: every tool's config overrides are checked before anything is built."""

import argparse
from pathlib import Path

import pytest
import torch
from detectron2.config import LazyConfig

from segvit.engine.cli import (
    ConfigOverrideError,
    add_config_arguments,
    add_output_arguments,
    add_weights_arguments,
    check_device,
    check_output_arguments,
    check_overrides,
    load_config,
    run_converter,
    weights_path,
)

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / "configs/synthetic/segvit_tiny.py")


def test_load_config_applies_overrides_that_fit():
    cfg = load_config(CONFIG, ["train.max_iter=7", "model.backbone.out_indices=[0,1]"])
    assert cfg.train.max_iter == 7 and list(cfg.model.backbone.out_indices) == [0, 1]


def test_typo_in_a_key_names_it_and_the_known_keys():
    with pytest.raises(ConfigOverrideError) as info:
        load_config(CONFIG, ["train.init_checkpont=model.pth"])
    message = str(info.value)
    assert "'train.init_checkpont' does not exist" in message
    assert "Did you mean 'train.init_checkpoint'?" in message


def test_list_for_a_string_key_names_the_key_and_the_fix():
    with pytest.raises(ConfigOverrideError) as info:
        load_config(CONFIG, ["train.device=[1,2]"])
    message = str(info.value)
    assert "train.device must be of type str" in message and "[1, 2]" in message
    assert "train.device=cpu" in message  # the fix, from the config's value


def test_override_types_accept_what_fits():
    cfg = LazyConfig.load(CONFIG)
    fits = ["train.max_iter=10", "optimizer.lr=1", "train.max_iter=${train.eval_period}"]
    fits += ["model.backbone.out_indices=[0,1]", "train.init_checkpoint=x.pth"]
    fits += ["train.output_dir=123", "dataloader.train.dataset.names=[a_train,b_train]"]
    check_overrides(cfg, fits)
    with pytest.raises(ConfigOverrideError, match=r"train\.amp\.enabled must be of type bool"):
        check_overrides(cfg, ["train.amp.enabled=1"])
    with pytest.raises(ConfigOverrideError, match=r"train\.max_iter must be of type int"):
        check_overrides(cfg, ["train.max_iter=abc"])


def test_plus_prefix_adds_a_key_on_purpose():
    cfg = LazyConfig.load(CONFIG)
    check_overrides(cfg, ["+model.backbone.patch_embed.convs_per_stage=2"])
    with pytest.raises(ConfigOverrideError, match=r"convs_per_stage.*\+model\.backbone"):
        check_overrides(cfg, ["model.backbone.patch_embed.convs_per_stage=2"])


def test_deletion_and_unparsable_overrides_are_named():
    cfg = LazyConfig.load(CONFIG)
    with pytest.raises(ConfigOverrideError, match=r"'~train\.seed'.*train\.seed=null"):
        check_overrides(cfg, ["~train.seed"])
    with pytest.raises(ConfigOverrideError, match=r"'train\.max_iter=\[1,' cannot be parsed"):
        check_overrides(cfg, ["train.max_iter=[1,"])
    with pytest.raises(ConfigOverrideError, match=r"'train\.max_iter' has no value"):
        check_overrides(cfg, ["train.max_iter"])


def test_missing_config_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.py"):
        load_config(str(tmp_path / "nope.py"))


def test_device_convention():
    assert check_device("cpu") == "cpu"
    with pytest.raises(ValueError, match=r"use train\.device=cpu, cuda or cuda:N"):
        check_device("gpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"no CUDA GPU.*add train\.device=cpu"):
            check_device("cuda:0")


def test_weights_path_names_the_override(tmp_path):
    cfg = load_config(CONFIG)
    with pytest.raises(FileNotFoundError, match=r"train\.init_checkpoint=''"):
        weights_path(cfg)
    (tmp_path / "model.pth").write_bytes(b"")
    cfg.train.init_checkpoint = str(tmp_path / "model.pth")
    assert weights_path(cfg) == str(tmp_path / "model.pth")


def test_parser_helpers(tmp_path):
    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    add_weights_arguments(parser)
    add_output_arguments(parser, prefix_help="key prefix")
    args = parser.parse_args(["--config", CONFIG, "--output", "x.pth", "train.max_iter=1"])
    assert args.config_file == CONFIG and args.opts == ["train.max_iter=1"]
    assert args.prefix == "backbone." and not args.allow_partial_weights
    existing = tmp_path / "out.pth"
    existing.write_bytes(b"keep")
    for argv, message in (
        (["--output", str(existing)], "--overwrite"),
        (["--output", "x.pth", "--prefix", "backbone"], "must end with '.'"),
    ):
        args = parser.parse_args(["--config-file", CONFIG, *argv])
        with pytest.raises(SystemExit):
            check_output_arguments(parser, args)
    assert existing.read_bytes() == b"keep"


def test_run_converter_checks_the_output_before_converting(tmp_path):
    parser = argparse.ArgumentParser()
    add_output_arguments(parser)
    existing = tmp_path / "out.pth"
    existing.write_bytes(b"keep")
    converted = []
    with pytest.raises(SystemExit):
        run_converter(parser, converted.append, ["--output", str(existing)])
    assert converted == [] and existing.read_bytes() == b"keep"
    assert run_converter(parser, converted.append, ["--output", str(tmp_path / "new.pth")]) == 0
    assert [args.output for args in converted] == [str(tmp_path / "new.pth")]
