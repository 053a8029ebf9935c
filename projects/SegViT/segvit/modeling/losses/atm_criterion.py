"""Loss of the ATM head: fixed query-to-class assignment, no Hungarian matching (SegViT Sec. 3.2).

Query k predicts class k. Its class target is k when class k occurs in the image, else "no-object"
(index K). Mask losses (focal + dice, Eq. 4) are computed only for the classes that occur, against
the binary mask ``label == k`` at label resolution. Every auxiliary output (deep supervision) gets
the same three losses.

Optional, not in the paper (off by default): a per-pixel cross-entropy across the class queries'
mask logits (``pixel_ce_weight``). The paper's losses teach a query's mask only on images that hold
its class, so nothing makes the masks of two classes that look alike compete on the same pixels;
this term does. The tiny from-scratch demo model uses it (docs/design.md).

Optional, not in the paper (off by default): ``loss_stride`` s > 1 evaluates every loss on the
label pixels ``(s // 2 + s * i, s // 2 + s * j)`` only, with the mask logits bilinearly interpolated
at exactly those pixels (the values the official full-size upsampling gives there), so the losses
are the official ones restricted to a regular grid of 1 / s^2 of the pixels. Which classes are
present is still read from every pixel. The demo uses s = 4 to cut the loss's cost
(docs/results.md).

Optional, not in the paper (off by default): ``num_points`` N > 0 evaluates focal, dice (and the
pixel cross-entropy) on N label pixels per image, chosen by Mask2Former's importance sampling on
the image's K class masks and shared by them (point_sampling.py); a class mask's target at a point
is ``label == k`` there. The class loss is unchanged. Sampled ignore pixels follow ``ignore_mode``
as in the dense loss: negatives ("negative") or dropped ("exclude"); the pixel cross-entropy
always drops them.
"""

from typing import Dict, List, NamedTuple, Optional, Tuple

import torch
import torch.nn.functional as F
from detectron2.utils import comm
from torch import Tensor, nn

from .mask_losses import dice_loss, sigmoid_focal_loss
from .point_sampling import logits_at_pixels, sample_pixels

__all__ = ["ATMCriterion", "present_classes", "upsample_at_stride"]

_IGNORE_MODES = ("negative", "exclude")
_MASK_CLASSES = ("present", "all")


def present_classes(targets: Tensor, num_classes: int, ignore_value: int) -> Tensor:
    """(B, H, W) integer labels -> (B, K) bool: does class k have a non-ignored pixel in image b."""
    b, k = targets.shape[0], num_classes
    keep = targets != ignore_value
    image = torch.arange(b, device=targets.device).view(b, 1, 1).expand_as(targets)
    counts = torch.bincount((image * k + targets)[keep], minlength=b * k)  # (B*K,)
    return counts.view(b, k) > 0


def _linear_weights(n_in: int, n_out: int, stride: int, like: Tensor) -> Tensor:
    """(ceil((n_out - stride // 2) / stride), n_in) weights of 1-D linear interpolation from
    ``n_in`` to ``n_out`` samples (``align_corners=False``, PyTorch's formula), output rows
    ``stride // 2, stride // 2 + stride, ...`` only."""
    eye = torch.eye(n_in, dtype=like.dtype, device=like.device)[None]  # (1, n_in, n_in)
    weights = F.interpolate(eye, size=n_out, mode="linear", align_corners=False)[0]  # (in, out)
    return weights.t()[stride // 2 :: stride].contiguous()


def upsample_at_stride(masks: Tensor, size: Tuple[int, int], stride: int) -> Tensor:
    """``F.interpolate(masks, size, mode="bilinear", align_corners=False)[..., o::s, o::s]``
    (o = s // 2) without computing the other pixels: bilinear interpolation is separable, so it is
    two small matrix products. (B, K, h, w) -> (B, K, ceil((H - o) / s), ceil((W - o) / s)); equal
    to the full upsampling at those pixels up to float rounding."""
    rows = _linear_weights(masks.shape[-2], size[0], stride, masks)  # (H', h)
    cols = _linear_weights(masks.shape[-1], size[1], stride, masks)  # (W', w)
    return torch.matmul(torch.matmul(rows, masks), cols.t())


def _at_least_fp32(x: Tensor) -> Tensor:
    """Compute losses in fp32 under mixed precision (fp16/bf16 inputs); keep fp32/fp64 as is."""
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class _BatchTargets(NamedTuple):
    """Targets of one batch, shared by the final and the auxiliary outputs."""

    classes: Tensor  # (B, K) long: k if class k is present in the image, else K (no-object)
    batch_idx: Tensor  # (M,) image of each present-class mask
    class_idx: Tensor  # (M,) class (= query) of each present-class mask
    masks: Optional[Tensor]  # (M, H*W) float binary masks; None for the point-sampled losses
    labels: Tensor  # (B, H, W) long labels, for the optional per-pixel cross-entropy
    valid: Optional[Tensor]  # (M, H*W) bool for ignore_mode="exclude", else None
    size: Tuple[int, int]  # size of the label grid the losses see (H, W), or (H / s, W / s)
    full_size: Tuple[int, int]  # label size (H, W)
    num_masks: float  # masks per process, averaged over processes, >= 1


class ATMCriterion(nn.Module):
    """Classification + mask loss with query k <-> class k (official ``ATMLoss``/``SetCriterion``).

    Ignore modes for pixels labelled ``ignore_value`` (ignore labels and padding):
        * ``"negative"`` (official): they are 0 in every class mask, so focal and dice treat them
          as negatives and focal averages over all H*W pixels.
        * ``"exclude"``: they are dropped from focal (averaged over the valid pixels of the image)
          and from the dice sums.
    In both modes they never make a class "present".
    """

    def __init__(
        self,
        *,
        num_classes: int,
        no_object_weight: float = 0.1,
        ce_weight: float = 1.0,
        focal_weight: float = 20.0,
        dice_weight: float = 1.0,
        ignore_value: int = 255,
        ignore_mode: str = "negative",
        mask_classes: str = "present",
        pixel_ce_weight: float = 0.0,
        loss_stride: int = 1,
        num_points: int = 0,
        oversample_ratio: float = 3.0,
        importance_sample_ratio: float = 0.75,
    ):
        """
        Args:
            num_classes (int): number of classes K (= number of queries).
            no_object_weight (float): cross-entropy class weight of "no-object" (real classes: 1).
            ce_weight (float): weight of the classification loss.
            focal_weight (float): weight of the sigmoid focal loss.
            dice_weight (float): weight of the dice loss.
            ignore_value (int): label of ignored / padded pixels.
            ignore_mode (str): "negative" or "exclude", see the class docstring.
            mask_classes (str): which queries get focal and dice losses: "present" (the paper:
                the classes in the image) or "all" (absent classes against an empty mask, so every
                query learns where its class is not, from every image).
            pixel_ce_weight (float): weight of a per-pixel cross-entropy over the K mask logits
                (softmax across queries, ignored pixels skipped), added as "loss_pixel_ce" to every
                output; 0 (default, the paper) leaves it out.
            loss_stride (int): compute the losses on every ``loss_stride``-th label pixel in each
                direction (see the module docstring); 1 (default, the paper) uses every pixel.
            num_points (int): > 0: the mask losses on this many importance-sampled label pixels
                per image (Mask2Former: 12544 per mask), every pixel once if >= H*W; 0 (default,
                the paper): every pixel.
            oversample_ratio (float): candidate points per sampled point (Mask2Former: 3.0).
            importance_sample_ratio (float): fraction of the points taken at the most uncertain
                candidates, the rest uniform (Mask2Former: 0.75).
        """
        super().__init__()
        if ignore_mode not in _IGNORE_MODES:
            raise ValueError(f"ignore_mode={ignore_mode!r} is not one of {_IGNORE_MODES}.")
        if mask_classes not in _MASK_CLASSES:
            raise ValueError(f"mask_classes={mask_classes!r} is not one of {_MASK_CLASSES}.")
        if pixel_ce_weight < 0:
            raise ValueError(f"pixel_ce_weight must be >= 0, got {pixel_ce_weight}.")
        if not isinstance(loss_stride, int) or loss_stride < 1:
            raise ValueError(f"loss_stride must be a positive int, got {loss_stride!r}.")
        if not isinstance(num_points, int) or num_points < 0:
            raise ValueError(
                f"num_points must be an int >= 0 (0: every pixel), got {num_points!r}."
            )
        if num_points > 0 and loss_stride > 1:
            raise ValueError(
                f"num_points={num_points} and loss_stride={loss_stride} both thin out the loss "
                "pixels; set one of them (num_points=0 or loss_stride=1)."
            )
        if oversample_ratio < 1 or not 0 <= importance_sample_ratio <= 1:
            raise ValueError(
                f"oversample_ratio={oversample_ratio} must be >= 1 and importance_sample_ratio="
                f"{importance_sample_ratio} in [0, 1] (Mask2Former: 3.0 and 0.75)."
            )
        self.num_points = num_points
        self.oversample_ratio = oversample_ratio
        self.importance_sample_ratio = importance_sample_ratio
        self.loss_stride = loss_stride
        self.mask_classes = mask_classes
        self.pixel_ce_weight = pixel_ce_weight
        self.num_classes = num_classes
        self.ce_weight = ce_weight
        self.focal_weight = focal_weight
        self.dice_weight = dice_weight
        self.ignore_value = ignore_value
        self.ignore_mode = ignore_mode
        self.no_object_weight = no_object_weight

    def forward(self, outputs: Dict, targets: Tensor) -> Dict[str, Tensor]:
        """
        Args:
            outputs (dict): head outputs: "pred_logits" (B, K, K+1), "pred_masks" (B, K, h, w) and
                optionally "aux_outputs", a list of dicts with the same two keys.
            targets (Tensor): (B, H, W) integer labels in [0, K) or ``ignore_value``.

        Returns:
            dict[str, Tensor]: weighted scalar losses "loss_ce", "loss_focal", "loss_dice" (and
            "loss_pixel_ce" if ``pixel_ce_weight > 0``) for the final output and the same names
            with a suffix "_{i}" for ``aux_outputs[i]``; the total loss is their sum.
        """
        self._check_inputs(outputs, targets)
        batch_targets = self._prepare_targets(targets)
        losses = self._losses(outputs, batch_targets)
        for i, aux in enumerate(outputs.get("aux_outputs", [])):
            losses.update({f"{k}_{i}": v for k, v in self._losses(aux, batch_targets).items()})
        return losses

    def _prepare_targets(self, targets: Tensor) -> _BatchTargets:
        present = present_classes(targets, self.num_classes, self.ignore_value)  # (B, K) bool
        full_size = (targets.shape[-2], targets.shape[-1])
        if self.loss_stride > 1:  # the label pixels the losses see; presence used all of them
            offset = self.loss_stride // 2
            targets = targets[:, offset :: self.loss_stride, offset :: self.loss_stride]
        supervised = present if self.mask_classes == "present" else torch.ones_like(present)
        batch_idx, class_idx = supervised.nonzero(as_tuple=True)  # (M,), (M,) image-major order
        masks, valid = None, None  # the point losses read the labels at their points
        if self.num_points == 0:
            masks, valid = self._target_masks(targets, supervised)  # (M, H*W)
        # Class target of query k: k if class k is present, else no-object (K).
        no_object = torch.full_like(present, self.num_classes, dtype=torch.long)
        classes = torch.arange(self.num_classes, device=targets.device).expand_as(present)
        return _BatchTargets(
            classes=torch.where(present, classes, no_object),
            batch_idx=batch_idx,
            class_idx=class_idx,
            masks=masks,
            labels=targets.long(),
            valid=valid,
            size=(targets.shape[-2], targets.shape[-1]),
            full_size=full_size,
            num_masks=self._num_masks(batch_idx.numel(), targets.device),
        )

    def _check_inputs(self, outputs: Dict, targets: Tensor) -> None:
        k = self.num_classes
        logits, masks = outputs["pred_logits"], outputs["pred_masks"]
        if logits.dim() != 3 or logits.shape[1:] != (k, k + 1):
            raise ValueError(
                f"pred_logits must be (B, {k}, {k + 1}) for num_classes={k} (one query per class "
                f"plus a no-object column), got {tuple(logits.shape)}."
            )
        if masks.dim() != 4 or masks.shape[:2] != logits.shape[:2]:
            raise ValueError(f"pred_masks must be (B, {k}, h, w), got {tuple(masks.shape)}.")
        if targets.dim() != 3 or targets.dtype.is_floating_point:
            raise ValueError(
                "targets must be an integer (B, H, W) tensor, "
                f"got {targets.dtype} {tuple(targets.shape)}."
            )
        bad = (targets != self.ignore_value) & ((targets < 0) | (targets >= k))
        if bad.any():
            value = int(targets[bad][0])
            raise ValueError(
                f"Target label {value} is outside [0, {k}) and is not "
                f"ignore_value={self.ignore_value}; num_classes={k} may be wrong, or the labels "
                "need remapping (e.g. reduce_zero_label)."
            )

    def _target_masks(self, targets: Tensor, selected: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """Binary masks ``label == k`` of the selected (B, K) classes, (M, H*W) float, in
        ``nonzero`` order, and the (M, H*W) valid-pixel mask for ``ignore_mode="exclude"``."""
        masks: List[Tensor] = []
        valid: List[Tensor] = []
        for label, selected_i in zip(targets, selected):
            classes = selected_i.nonzero(as_tuple=True)[0]  # (M_i,)
            masks.append((label[None] == classes[:, None, None]).flatten(1))  # (M_i, H*W)
            if self.ignore_mode == "exclude":
                keep = (label != self.ignore_value).flatten()  # (H*W,)
                valid.append(keep[None].expand(len(classes), -1))
        target_masks = torch.cat(masks).float()
        return target_masks, (torch.cat(valid) if valid else None)

    @staticmethod
    def _num_masks(local: int, device: torch.device) -> float:
        """Present-class masks per process, averaged over processes, at least 1."""
        num = torch.tensor([float(local)], device=device)
        world = comm.get_world_size()
        if world > 1:
            torch.distributed.all_reduce(num)
        return torch.clamp(num / world, min=1).item()

    def _losses(self, output: Dict[str, Tensor], targets: _BatchTargets) -> Dict[str, Tensor]:
        """Weighted CE, focal and dice losses of one output (final or auxiliary)."""
        logits = _at_least_fp32(output["pred_logits"])  # (B, K, K+1)
        weight = logits.new_ones(self.num_classes + 1)  # real classes 1, no-object last
        weight[-1] = self.no_object_weight
        loss_ce = F.cross_entropy(logits.transpose(1, 2), targets.classes, weight=weight)

        pred_masks = _at_least_fp32(output["pred_masks"])  # (B, K, h, w)
        if self.num_points > 0:
            loss_focal, loss_dice, pixel_ce = self._point_losses(pred_masks, targets)
        else:
            loss_focal, loss_dice, pixel_ce = self._dense_losses(pred_masks, targets)
        losses = {
            "loss_ce": loss_ce * self.ce_weight,
            "loss_focal": loss_focal * self.focal_weight,
            "loss_dice": loss_dice * self.dice_weight,
        }
        if pixel_ce is not None:
            losses["loss_pixel_ce"] = pixel_ce * self.pixel_ce_weight
        return losses

    def _dense_losses(
        self, pred_masks: Tensor, targets: _BatchTargets
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Unweighted focal, dice (and pixel CE, or None) at every label pixel, or at every
        ``loss_stride``-th one, of (B, K, h, w) mask logits."""
        if self.loss_stride > 1:  # every loss needs the masks at the sampled pixels: once
            pred_masks = upsample_at_stride(pred_masks, targets.full_size, self.loss_stride)
        elif self.pixel_ce_weight > 0 and tuple(pred_masks.shape[-2:]) != targets.size:
            # The pixel CE needs all K masks at label size: upsample them once, for all losses.
            pred_masks = F.interpolate(
                pred_masks, size=targets.size, mode="bilinear", align_corners=False
            )
        if targets.batch_idx.numel() == 0:
            # No present class in the batch: zero mask losses that keep the graph connected.
            loss_focal = loss_dice = pred_masks.sum() * 0.0
        else:
            masks = pred_masks[targets.batch_idx, targets.class_idx][:, None]  # (M, 1, h, w)
            if tuple(masks.shape[-2:]) != targets.size:
                masks = F.interpolate(
                    masks, size=targets.size, mode="bilinear", align_corners=False
                )
            masks = masks.flatten(1)  # (M, H*W)
            target_masks = targets.masks.to(masks.dtype)
            focal = sigmoid_focal_loss(masks, target_masks, valid=targets.valid)
            dice = dice_loss(masks, target_masks, valid=targets.valid)
            loss_focal = focal.sum() / targets.num_masks
            loss_dice = dice.sum() / targets.num_masks
        pixel_ce = self._pixel_ce(pred_masks, targets) if self.pixel_ce_weight > 0 else None
        return loss_focal, loss_dice, pixel_ce

    def _point_losses(
        self, pred_masks: Tensor, targets: _BatchTargets
    ) -> Tuple[Tensor, Tensor, Optional[Tensor]]:
        """Unweighted focal, dice (and pixel CE, or None) on ``num_points`` importance-sampled
        label pixels per image, the same for the image's K class masks."""
        # One point set per image, shared by its K class masks (and the pixel CE).
        pixels = sample_pixels(
            pred_masks,
            targets.size,
            num_points=self.num_points,
            oversample_ratio=self.oversample_ratio,
            importance_sample_ratio=self.importance_sample_ratio,
        )  # (B, P)
        logits = logits_at_pixels(pred_masks, pixels, targets.size)  # (B, K, P)
        point_labels = targets.labels.flatten(1).gather(1, pixels)  # (B, P)
        if targets.batch_idx.numel() == 0:
            # No present class in the batch: zero mask losses that keep the graph connected.
            loss_focal = loss_dice = logits.sum() * 0.0
        else:
            masks = logits[targets.batch_idx, targets.class_idx]  # (M, P)
            mask_labels = point_labels[targets.batch_idx]  # (M, P)
            target = (mask_labels == targets.class_idx[:, None]).to(masks.dtype)
            valid = None  # "negative": a sampled ignore pixel is a negative, as in the dense loss
            if self.ignore_mode == "exclude":
                valid = mask_labels != self.ignore_value
            focal = sigmoid_focal_loss(masks, target, valid=valid)
            loss_focal = focal.sum() / targets.num_masks
            loss_dice = dice_loss(masks, target, valid=valid).sum() / targets.num_masks
        if self.pixel_ce_weight == 0:
            return loss_focal, loss_dice, None
        per_point = F.cross_entropy(
            logits, point_labels, ignore_index=self.ignore_value, reduction="none"
        )  # (B, P), 0 on ignored pixels
        num_valid = (point_labels != self.ignore_value).sum().clamp(min=1)
        return loss_focal, loss_dice, per_point.sum() / num_valid

    def _pixel_ce(self, pred_masks: Tensor, targets: _BatchTargets) -> Tensor:
        """Cross-entropy of (B, K, H, W) mask logits at label size against the (B, H, W) labels:
        a softmax across queries at each non-ignored pixel (0 if every pixel is ignored)."""
        per_pixel = F.cross_entropy(
            pred_masks, targets.labels, ignore_index=self.ignore_value, reduction="none"
        )  # (B, H, W), 0 on ignored pixels
        num_valid = (targets.labels != self.ignore_value).sum().clamp(min=1)
        return per_pixel.sum() / num_valid
