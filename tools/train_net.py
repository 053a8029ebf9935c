#!/usr/bin/env python
"""Train and evaluate SegViT (and the MaskFormer/Mask2Former baselines) from a LazyConfig file.

The shape of Detectron2's ``tools/lazyconfig_train_net.py``; docs/training.md has the details.
Examples::

    python tools/train_net.py --config-file configs/synthetic/segvit_tiny.py train.device=cpu
    python tools/train_net.py --config-file configs/ade20k/segvit_vit_b16_512x512_160k.py \\
        --num-gpus 8 train.init_checkpoint=pretrained/vit_b16_512_segvit.pth
    python tools/train_net.py --config-file ... --num-gpus 2 \\
        dataloader.train.total_batch_size=4 train.grad_accum_steps=4   # batch 16 on 2 GPUs
    python tools/train_net.py --config-file ... --eval-only --eval-modes whole,slide,ms_flip \\
        train.init_checkpoint=output/model_final.pth   # results "sem_seg[whole]", ...
    python tools/train_net.py --config-file ... --resume   # continue a killed run exactly

A folder holding another run's checkpoints is refused without ``--resume`` or
``--overwrite-output``; ``--eval-only`` writes into ``<output_dir>/eval_<N>``.
"""
import segvit.warning_filters  # noqa: F401  # isort: skip  (first: quiets library import warnings)
import logging
import sys

import torch
from detectron2.config import instantiate
from detectron2.engine import default_argument_parser, default_setup, default_writers, hooks, launch
from detectron2.evaluation import inference_on_dataset, print_csv_format
from detectron2.utils import comm
from detectron2.utils.logger import setup_logger

import segvit  # noqa: F401  (registers datasets, backbones, heads)
from segvit.checkpoint import SafeCheckpointer, disk_full_error, load_model_weights
from segvit.data.class_count import check_num_classes
from segvit.engine import (
    AccumulatingTrainer,
    CaptureRNGState,
    RNGState,
    check_distributed_device,
    create_ddp_model,
    preserve_rng,
)
from segvit.engine.cli import add_weights_arguments, check_device, load_config
from segvit.engine.device import describe_device, resolve_device
from segvit.engine.finish import finish_resumed_run
from segvit.engine.output_dir import new_eval_output_dir, training_output_dir
from segvit.engine.progress import EarlyProgress, apply_cpu_threads
from segvit.modeling.meta_arch.inference import parse_eval_modes, set_inference_mode

logger = logging.getLogger("segvit.train_net")


def do_test(cfg, model, modes=None):
    """Evaluate on ``cfg.dataloader.test`` with ``cfg.dataloader.evaluator``.

    Args:
        modes: inference modes to evaluate in turn, labelled ``"sem_seg[whole]"`` (single scale,
            whole image), ``"sem_seg[slide]"`` (single scale, sliding window) and
            ``"sem_seg[ms_flip]"`` (multi-scale + flip); None evaluates once with the model's
            configured mode, unlabelled (``"sem_seg"``, as Detectron2's evaluation hook expects).
    Returns:
        dict of results (empty when the config has no evaluator, and in processes other than 0).
    """
    if "evaluator" not in cfg.dataloader:
        return {}
    results = {}
    for mode in modes or [None]:
        if mode is not None:
            set_inference_mode(model, mode)
        inference = getattr(getattr(model, "module", model), "inference", None)
        logger.info("Evaluating with %s", inference)
        ret = inference_on_dataset(
            model, instantiate(cfg.dataloader.test), instantiate(cfg.dataloader.evaluator)
        )
        if mode is not None:
            ret = {f"{task}[{mode}]": metrics for task, metrics in ret.items()}
        print_csv_format(ret)
        results.update(ret)
    return results


def check_train_settings(cfg):
    """Fail early with the fix when the configured device, AMP or accumulation cannot run here."""
    device = check_device(cfg.train.device)
    if cfg.train.amp.enabled and not device.startswith("cuda"):
        raise ValueError("train.amp.enabled=True needs a CUDA device; add train.amp.enabled=False")
    if cfg.train.get("grad_accum_steps", 1) < 1:
        raise ValueError(f"train.grad_accum_steps must be >= 1, got {cfg.train.grad_accum_steps}")
    check_distributed_device(device)


def build_trainer(cfg, model, optimizer, train_loader):
    """A trainer with ``train.grad_accum_steps`` micro-batches per step, in float32 or with AMP
    (float16 with a grad scaler, bfloat16 without)."""
    precision, scaler = None, None
    if cfg.train.amp.enabled:
        dtype = cfg.train.amp.get("dtype", "float16")
        precision = {"float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
        scaler = torch.amp.GradScaler("cuda") if precision == torch.float16 else None
    return AccumulatingTrainer(
        model,
        train_loader,
        optimizer,
        accum_steps=cfg.train.get("grad_accum_steps", 1),
        precision=precision,
        grad_scaler=scaler,
    )


def do_train(args, cfg):
    """
    Args:
        cfg: an object with the following attributes:
            model: instantiate()-able model
            dataloader.train: instantiate()-able train loader (``total_batch_size`` over all
                processes per micro-batch); ``skip_batches`` is set here when resuming
            dataloader.test, dataloader.evaluator: for periodic and final evaluation
            optimizer: instantiate()-able optimizer; ``params.model`` is set here
            lr_multiplier: instantiate()-able ParamScheduler
            train: output_dir, init_checkpoint, max_iter (optimizer steps), grad_accum_steps,
                amp (enabled, dtype), ddp, checkpointer (period, max_to_keep), eval_period,
                log_period, device, seed
    """
    train_loader = instantiate(cfg.dataloader.train)  # first: a missing dataset fails early
    model = instantiate(cfg.model)
    logger.info("Model:\n%s", model)
    model.to(cfg.train.device)

    cfg.optimizer.params.model = model
    optimizer = instantiate(cfg.optimizer)

    model = create_ddp_model(model, device=cfg.train.device, **cfg.train.ddp)
    trainer = build_trainer(cfg, model, optimizer, train_loader)
    rng = RNGState()  # RNG streams of every process, saved with each checkpoint

    def evaluate():
        with preserve_rng():  # evaluating must not shift the training RNG streams
            return do_test(cfg, model)

    checkpointer = SafeCheckpointer(model, cfg.train.output_dir, trainer=trainer, rng=rng)
    trainer.register_hooks(
        [
            hooks.IterationTimer(),
            hooks.LRScheduler(scheduler=instantiate(cfg.lr_multiplier)),
            CaptureRNGState(rng, cfg.train.checkpointer.period),  # all processes, before saving
            (
                hooks.PeriodicCheckpointer(checkpointer, **cfg.train.checkpointer)
                if comm.is_main_process()
                else None
            ),
            hooks.EvalHook(cfg.train.eval_period, evaluate),
            (
                hooks.PeriodicWriter(
                    default_writers(cfg.train.output_dir, cfg.train.max_iter),
                    period=cfg.train.log_period,
                )
                if comm.is_main_process()
                else None
            ),
            (  # the metrics line at iterations 1, 2, 5, 10, 20 too: progress from the start
                EarlyProgress(cfg.train.max_iter, cfg.train.log_period)
                if comm.is_main_process()
                else None
            ),
        ]
    )
    # Loads weights, optimizer, lr schedule, iteration and RNG states when resuming.
    checkpointer.resume_or_load(cfg.train.init_checkpoint, resume=args.resume)
    start_iter = trainer.iter + 1 if args.resume and checkpointer.has_checkpoint() else 0
    if start_iter >= cfg.train.max_iter:  # finished, or killed during its final save
        max_iter, out = cfg.train.max_iter, cfg.train.output_dir
        finish_resumed_run(checkpointer, max_iter=max_iter, output_dir=out, evaluate=evaluate)
        return
    if start_iter > 0:  # continue the data stream after the batches of the finished iterations
        cfg.dataloader.train.skip_batches = start_iter * cfg.train.get("grad_accum_steps", 1)
        trainer.reset_data_loader(lambda: instantiate(cfg.dataloader.train))
    trainer.train(start_iter, cfg.train.max_iter)


def main(args):
    cfg = load_config(args.config_file, args.opts)  # a typo'd or wrong-typed override stops here
    cfg.train.device = resolve_device(cfg.train.device, num_gpus=args.num_gpus)  # "auto"
    threads = apply_cpu_threads() if cfg.train.device == "cpu" else ""  # from cores and load
    if comm.is_main_process():  # before Detectron2's long set-up log
        print(f"train_net: device {describe_device(cfg.train.device)}", flush=True)
        if threads:
            print(f"train_net: {threads}", flush=True)
        if not args.eval_only:
            print(f"train_net: {plan_line(cfg)}", flush=True)
    check_train_settings(cfg)
    check_num_classes(cfg, ("test",) if args.eval_only else ("train", "test"))

    if args.eval_only:
        modes = parse_eval_modes(args.eval_modes)
        if not cfg.train.init_checkpoint:
            raise ValueError("--eval-only needs the weights: add train.init_checkpoint=PATH")
        # Its own folder: the training folder's config.yaml and metrics.json stay as they are.
        cfg.train.output_dir = new_eval_output_dir(cfg.train.output_dir)
        setup(cfg, args)
        logger.info("--eval-only: config and log go to %s", cfg.train.output_dir)
        model = instantiate(cfg.model)
        model.to(cfg.train.device)
        if modes is None and hasattr(model, "inference"):
            modes = [model.inference.mode]  # results labelled with the configured mode
        model = create_ddp_model(model, device=cfg.train.device)
        load_model_weights(model, cfg.train.init_checkpoint, args.allow_partial_weights)
        return do_test(cfg, model, modes)
    try:  # the folder is new, empty or ours, and locked while this run trains into it
        with training_output_dir(
            cfg.train.output_dir, resume=args.resume, overwrite=args.overwrite_output
        ):
            setup(cfg, args)
            do_train(args, cfg)
    except Exception as e:
        disk_full = disk_full_error(e, folder=cfg.train.output_dir)
        if disk_full is None:
            raise
        raise disk_full from None  # one error, not a chain of them
    return None


def plan_line(cfg) -> str:
    """What the run will do, in one line, before the set-up log."""
    batch = cfg.dataloader.train.total_batch_size * cfg.train.get("grad_accum_steps", 1)
    period = cfg.train.log_period
    first = ", ".join(str(n - 1) for n in (1, 2, 5, 10, 20) if n < period)
    return (
        f"training {cfg.train.max_iter} iterations of {batch} images into "
        f"{cfg.train.output_dir}; progress lines at iter {first} (counted from 0), then every "
        f"{period} (iter {period - 1}, {2 * period - 1}, ...; train.log_period); evaluation "
        f"every {cfg.train.eval_period} iterations and at the end"
    )


def setup(cfg, args):
    """Detectron2's ``default_setup`` (logs, config.yaml, seed), and segvit's log records into
    the same terminal and ``log.txt``."""
    default_setup(cfg, args)
    setup_logger(cfg.train.output_dir, comm.get_rank(), name="segvit", enable_propagation=True)


def get_parser():
    parser = default_argument_parser()
    parser.add_argument(
        "--eval-modes",
        default="",
        help="comma-separated inference modes to evaluate with --eval-only: whole,slide,ms_flip",
    )
    parser.add_argument(
        "--overwrite-output",
        action="store_true",
        help="train into a train.output_dir that holds another run's checkpoints, removing "
        "them (without it, such a folder is refused unless --resume)",
    )
    add_weights_arguments(parser)  # --eval-only: evaluate even with model tensors unloaded
    return parser


def invoke_main(argv=None) -> int:
    args = get_parser().parse_args(argv)
    launch(
        main,
        args.num_gpus,
        num_machines=args.num_machines,
        machine_rank=args.machine_rank,
        dist_url=args.dist_url,
        args=(args,),
    )
    return 0


if __name__ == "__main__":
    sys.exit(invoke_main())  # pragma: no cover
