"""Reading dataset images as stored, whatever their EXIF orientation tag says.

A phone photo may carry an EXIF orientation tag: viewers (and Detectron2's ``read_image``) turn
the image before showing it, but label PNGs carry no tag and are aligned with the *stored*
pixels, the grid whose size the label has. One rule for image/label pairs, in training,
evaluation, visualisation and the dataset doctor: the orientation tag is ignored for both, so the
pair stays aligned (the rule of PIL-based loaders and of the label files themselves; mmseg's cv2
loader turns the image but not its label). ``datasets/check.py`` lists the images that carry a
tag, so a user whose labels were drawn on the upright photo can re-save those images upright.
``tools/demo.py`` (an image without a label) keeps applying the tag: it shows photos upright.
"""

import numpy as np
from detectron2.data.detection_utils import convert_PIL_to_numpy
from detectron2.utils.file_io import PathManager
from PIL import Image

__all__ = ["EXIF_ORIENTATION", "exif_orientation", "read_image_pixels"]

EXIF_ORIENTATION = 0x0112  # the EXIF tag id; 1 = upright, 2-8 = mirrored and/or turned


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation of an opened image (1 when it has no tag)."""
    try:
        return int(image.getexif().get(EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001  (a malformed EXIF block counts as no tag)
        return 1


def read_image_pixels(file_name: str, image_format: str = "RGB") -> np.ndarray:
    """Read an image as stored (EXIF orientation ignored), as ``(H, W, C)`` uint8 in
    ``image_format`` ("RGB", "BGR", "L", ...), like Detectron2's ``read_image`` otherwise."""
    with PathManager.open(file_name, "rb") as f:
        image = Image.open(f)
        return convert_PIL_to_numpy(image, image_format)
