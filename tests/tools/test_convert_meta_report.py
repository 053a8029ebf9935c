"""tools/convert_official_segvit.py says when it could not check the file's normalisation."""

from repo_scripts import load_script

convert = load_script("tools", "convert_official_segvit")
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


def test_empty_or_missing_meta_says_the_normalisation_is_not_checked():
    for meta in ({}, None):
        (line,) = convert.describe_meta(meta, MEAN, STD)
        assert line.startswith("normalisation not checked: the file has no meta")
        assert "[123.675, 116.28, 103.53]" in line


def test_meta_without_config_text_says_so_and_keeps_the_versions():
    lines = convert.describe_meta({"mmcv_version": "1.4.4"}, MEAN, STD)
    assert lines[0] == "mmcv_version 1.4.4"
    assert "not checked: the file's meta holds no config text" in lines[1]


def test_meta_with_the_same_normalisation_is_reported_equal():
    text = "img_norm_cfg = dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375])"
    lines = convert.describe_meta({"config": text}, MEAN, STD)
    assert lines == [
        "normalisation in the file's config: mean [123.675, 116.28, 103.53], "
        "std [58.395, 57.12, 57.375] (= the config's)"
    ]
