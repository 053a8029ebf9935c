"""A run killed after N iterations and resumed ends with the same weights as an uninterrupted run.

Dropout (head) and drop-path (backbone) are active, augmentations are random, and the runs
evaluate during training, so the data stream, the RNG states in the checkpoint and the RNG
isolation of evaluation are all needed for bit-identical weights.
"""

import pytest
import torch
from train_net_helpers import TINY, read_metrics, run, train_net

RUN = [
    *TINY,
    "model.backbone.drop_path_rate=0.3",
    "train.max_iter=6",
    "train.checkpointer.period=3",  # checkpoint after iteration 2 (the 3rd)
    "train.eval_period=3",  # evaluates right after the checkpoint, and at the end
    "train.log_period=1",
]


class Killed(Exception):
    pass


def kill_before(iteration):
    """A ``build_trainer`` whose trainer dies when it reaches ``iteration``."""
    build_trainer = train_net.build_trainer

    def build(*args, **kwargs):
        trainer = build_trainer(*args, **kwargs)
        run_step = trainer.run_step

        def run_step_or_die():
            if trainer.iter == iteration:
                raise Killed(f"killed before iteration {iteration}")
            run_step()

        trainer.run_step = run_step_or_die
        return trainer

    return build


def final_weights(output_dir):
    return torch.load(output_dir / "model_final.pth", weights_only=True)["model"]


@pytest.fixture(scope="module")
def straight(tiny_dataset, tmp_path_factory):
    """The output folder of an uninterrupted run."""
    output_dir = tmp_path_factory.mktemp("straight")
    run([*RUN, f"train.output_dir={output_dir}"])
    return output_dir


@pytest.mark.parametrize("resume_workers", [0, 1], ids=["main-process", "worker-process"])
def test_killed_and_resumed_run_ends_with_the_same_weights(
    straight, tmp_path, monkeypatch, resume_workers
):
    resumed = tmp_path / "resumed"

    with monkeypatch.context() as patch:
        patch.setattr(train_net, "build_trainer", kill_before(4))
        with pytest.raises(Killed):
            run([*RUN, f"train.output_dir={resumed}"])
    assert not (resumed / "model_final.pth").exists()
    assert (resumed / "last_checkpoint").read_text().strip() == "model_0000002.pth"

    # Data loading in worker processes gives the same stream as loading in the main process.
    workers = f"dataloader.train.num_workers={resume_workers}"
    run(["--resume", *RUN, workers, f"train.output_dir={resumed}"])

    expected, actual = final_weights(straight), final_weights(resumed)
    assert expected.keys() == actual.keys()
    different = [k for k in expected if not torch.equal(expected[k], actual[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"
    resumed_part = [m["iteration"] for m in read_metrics(resumed) if "total_loss" in m][-3:]
    assert resumed_part == [3, 4, 5]
