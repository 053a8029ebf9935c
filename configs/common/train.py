"""Training-loop settings read by ``tools/train_net.py`` (see its ``do_train`` docstring)."""

train = dict(
    output_dir="./output",
    init_checkpoint="",  # e.g. a file written by tools/convert_pretrained.py
    max_iter=160000,  # optimizer steps
    # Micro-batches of dataloader.train.total_batch_size per optimizer step: the paper's batch 16
    # on 2 GPUs x 2 images is total_batch_size=4 with grad_accum_steps=4 (docs/training.md).
    grad_accum_steps=1,
    amp=dict(enabled=False, dtype="float16"),  # "float16" (with a grad scaler) or "bfloat16"
    ddp=dict(broadcast_buffers=False, find_unused_parameters=False, fp16_compression=False),
    checkpointer=dict(period=4000, max_to_keep=5),
    eval_period=4000,  # the paper evaluates mIoU every 4,000 iterations
    log_period=20,
    device="cuda",
    seed=0,  # also seeds the training data order and augmentation; < 0: random, not resumable
    cudnn_benchmark=False,
)
