"""The one reader of images and label PNGs: loader, evaluation, demo, drawing tools and doctor.

**Orientation.** A phone photo may carry an EXIF orientation tag: viewers (and Detectron2's
``read_image``) turn the image before showing it, but label PNGs carry no tag and are aligned with
the *stored* pixels, the grid whose size the label has. One rule for image/label pairs, in
training, evaluation, visualisation and the dataset doctor: the orientation tag is ignored for
both, so the pair stays aligned (the rule of PIL-based loaders and of the label files themselves;
mmseg's cv2 loader turns the image but not its label). ``datasets/check.py`` lists the images that
carry a tag, so a user whose labels were drawn on the upright photo can re-save those images
upright. ``tools/demo.py`` (an image without a label) applies the tag (``apply_exif=True``): it
shows photos upright.

**Bit depth.** Models take 8-bit images. A 16-bit image (PNG/TIFF mode ``I;16``, or ``I`` with
values in 0..65535) is scaled to 0..255 by ``/ 257`` (65535 -> 255, rounded), as a viewer shows
it; PIL's own conversion would clip every value above 255 to white. 16-bit RGB PNGs are already
reduced to 8 bits by PIL (most significant byte). 32-bit ``I`` images with values outside
0..65535 and float (``F``) images are refused with a ``ValueError`` naming the file.

**Labels.** :func:`read_label` reads a single-channel label PNG (``L``, palette ``P``: the palette
indices, not the colours, are the class ids; 16-bit with values <= 255) as raw values; RGB
(colour-coded) labels are refused with the fix.
"""

from typing import Optional

import numpy as np
from detectron2.data.detection_utils import convert_PIL_to_numpy
from detectron2.utils.file_io import PathManager
from PIL import Image, ImageOps

__all__ = [
    "EXIF_ORIENTATION",
    "HIGH_BIT_DEPTH_MODES",
    "exif_orientation",
    "read_image_pixels",
    "read_label",
    "to_8bit",
]

EXIF_ORIENTATION = 0x0112  # the EXIF tag id; 1 = upright, 2-8 = mirrored and/or turned
HIGH_BIT_DEPTH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")  # scaled by to_8bit


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation of an opened image (1 when it has no tag)."""
    try:
        return int(image.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001  (a malformed EXIF block counts as no tag)
        return 1


def to_8bit(image: Image.Image, file_name: str = "") -> Image.Image:
    """A 16-bit single-channel image as an 8-bit ``L`` image (``value / 257``, rounded); other
    images unchanged. Raises ValueError for float images and 32-bit values outside 0..65535."""
    if image.mode == "F":
        raise ValueError(
            f"Cannot read image '{file_name}': it holds floating-point pixels (mode 'F'); save it "
            "as an 8-bit (or 16-bit) PNG or JPEG."
        )
    if image.mode not in HIGH_BIT_DEPTH_MODES:
        return image
    pixels = np.asarray(image).astype(np.int64)
    if pixels.size and (pixels.min() < 0 or pixels.max() > 65535):
        raise ValueError(
            f"Cannot read image '{file_name}': mode {image.mode!r} with values "
            f"{pixels.min()}..{pixels.max()}, outside the 16-bit range 0..65535; save it as an "
            "8-bit or 16-bit PNG."
        )
    return Image.fromarray(((pixels + 128) // 257).astype(np.uint8), mode="L")


def read_image_pixels(
    file_name: str, image_format: str = "RGB", *, apply_exif: bool = False
) -> np.ndarray:
    """Read an image as ``(H, W, C)`` uint8 in ``image_format`` ("RGB", "BGR", "L", ...), like
    Detectron2's ``read_image``, with 16-bit images scaled to 8 bits (see the module docstring).

    Raises ``FileNotFoundError`` for a missing file and ``ValueError`` naming the file for an
    unreadable, truncated or unsupported (float) image.

    Args:
        apply_exif: turn the image as its EXIF orientation tag says (demo photos); False reads
            the stored pixels (dataset images, aligned with their labels).
    """
    try:
        with PathManager.open(file_name, "rb") as f:
            image = Image.open(f)
            image.load()  # decodes now: a truncated file fails here, with its name
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError) as e:  # PIL's errors for corrupt / truncated files
        raise ValueError(f"Cannot read image '{file_name}': {e}") from e
    if apply_exif and exif_orientation(image) != 1:
        image = ImageOps.exif_transpose(image)
    return convert_PIL_to_numpy(to_8bit(image, file_name), image_format)


def read_label(file_name: str, *, image: Optional[Image.Image] = None) -> np.ndarray:
    """Read a single-channel label PNG as an ``(H, W)`` uint8 array of raw values.

    Palette (``P``) PNGs give their palette indices. Raises ``FileNotFoundError`` for a missing
    file and ``ValueError`` naming the file for an unreadable, multi-channel (RGB) or out-of-range
    (> 255) label. ``image``: the label already opened (the dataset doctor), else it is opened.
    """
    try:
        if image is None:
            with PathManager.open(file_name, "rb") as f:
                label = np.asarray(Image.open(f))
        else:
            label = np.asarray(image)
    except FileNotFoundError:
        raise
    except (OSError, SyntaxError, ValueError) as e:  # PIL's errors for corrupt / truncated files
        raise ValueError(f"Cannot read label '{file_name}': {e}") from e
    if label.ndim != 2:
        raise ValueError(
            f"Label '{file_name}' must be a single-channel image (mode 'L' or 'P'), got shape "
            f"{label.shape}; convert it with the datasets/prepare_*.py scripts (colour-coded "
            "labels: map each colour to its class id first)."
        )
    if label.dtype != np.uint8:
        if label.size and (label.min() < 0 or label.max() > 255):
            raise ValueError(
                f"Label '{file_name}' has values outside [0, 255] ({label.min()}..{label.max()}); "
                "only uint8 labels are supported."
            )
        label = label.astype(np.uint8)
    return label
