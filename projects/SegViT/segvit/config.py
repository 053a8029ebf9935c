"""yacs config keys for users of `detectron2.modeling.build_model(cfg)`.

LazyConfig (``configs/``) is the main path; this adapter exists so that yacs users can build the
same modules through Detectron2's registries. Every key maps 1:1 to a keyword argument of a module.
"""

from detectron2.config import CfgNode as CN


def add_segvit_config(cfg: CN) -> CN:
    """Add the SegViT keys to a Detectron2 yacs config (in place) and return it.

    Defaults are ViT-B/16 + ATM at 512x512 on ADE20K (paper Sec. 3 and 4.1; official
    zbwxp/SegVit ``configs/_base_/models/atm_vit.py`` and the ADE20K ViT configs). Pretrained
    weights are loaded as in Detectron2: convert the file once (``tools/convert_pretrained.py``)
    and set ``MODEL.WEIGHTS`` to the converted ``.pth``.
    """
    cfg.MODEL.SEGVIT = CN()
    # Backbone: plain ViT (registered as "SegViTViT" in BACKBONE_REGISTRY).
    vit = cfg.MODEL.SEGVIT.VIT = CN()
    vit.PRETRAIN_IMG_SIZE = 384  # pos-embed grid of the pretrained weights (24x24 tokens)
    vit.PATCH_SIZE = 16
    vit.EMBED_DIM = 768
    vit.DEPTH = 12
    vit.NUM_HEADS = 12
    vit.MLP_RATIO = 4.0
    vit.INIT = "mmseg"  # init rule without pre-trained weights: "mmseg" (official) | "trunc_normal"
    vit.DROP_PATH_RATE = 0.1
    vit.DROP_PATH_ON_ATTN = False  # official: stochastic depth on the MLP residual only
    vit.OUT_INDICES = [5, 7, 11]  # 0-indexed blocks; features are named "block5", "block7", ...
    vit.SHRINK_IDX = 6  # "SegViTShrunkViT": 0-indexed QD block (ViT-B 6, ViT-L 8); >= DEPTH: off
    vit.QD_MODE = "q"  # "q" (queries only, the paper) | "qkv" (Table 7 ablation)

    # ATM head (SEM_SEG_HEADS_REGISTRY name "ATMHead").
    atm = cfg.MODEL.SEGVIT.ATM = CN()
    atm.IN_FEATURES = ["block11", "block7", "block5"]  # stage order: deepest first
    atm.EMBED_DIM = 384  # C / 2
    atm.NUM_HEADS = 12
    atm.LAYERS_PER_STAGE = 3
    atm.FFN_RATIO = 4
    atm.DROPOUT = 0.1
    atm.SHARED_IN_PROJ_INIT = True  # official: a stage's layers start with equal in_proj weights

    # QU + single-stage ATM head of Shrunk SegViT (SEM_SEG_HEADS_REGISTRY name "QUATMHead").
    qu = cfg.MODEL.SEGVIT.QU = CN()
    qu.IN_FEATURES = ["block5", "block11"]  # the 1/16 feature before QD first, then the 1/32 one
    qu.QUERY_GRID = [32, 32]  # crop / 16; resized to other inputs
    qu.EMBED_DIM = 384
    qu.NUM_HEADS = 12
    qu.QU_LAYERS = 3
    qu.ATM_LAYERS = 3
    qu.FFN_RATIO = 4
    qu.DROPOUT = 0.1
    qu.SHARED_IN_PROJ_INIT = True  # official: a QU decoder's layers start with equal in_proj

    # ATM criterion (query k <-> class k).
    loss = cfg.MODEL.SEGVIT.LOSS = CN()
    loss.NO_OBJECT_WEIGHT = 0.1
    loss.CE_WEIGHT = 1.0
    loss.FOCAL_WEIGHT = 20.0
    loss.DICE_WEIGHT = 1.0
    loss.IGNORE_MODE = "negative"  # official: ignore pixels are negatives; "exclude" drops them
    loss.MASK_CLASSES = "present"  # official: focal/dice on present classes; "all" adds absent ones
    loss.PIXEL_CE_WEIGHT = 0.0  # not in the paper: per-pixel CE across the queries' mask logits
    loss.LOSS_STRIDE = 1  # not in the paper if > 1: the losses on every s-th label pixel only
    loss.NUM_POINTS = 0  # not in the paper if > 0: mask losses on N importance-sampled pixels
    loss.OVERSAMPLE_RATIO = 3.0  # Mask2Former's point sampling (used when NUM_POINTS > 0)
    loss.IMPORTANCE_SAMPLE_RATIO = 0.75

    # Inference (a model setting, not a trainer branch).
    inf = cfg.MODEL.SEGVIT.INFERENCE = CN()
    inf.MODE = "whole"  # "whole" | "slide" | "ms_flip"
    inf.CROP_SIZE = [512, 512]
    inf.STRIDE = [341, 341]
    inf.SCALES = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
    inf.FLIP = True
    inf.MS_AVERAGE = "probs"  # ms_flip: "probs" (softmax per pass, mmseg) | "scores"
    return cfg
