"""PASCAL-Context class tables (data only): the standard 59-class subset of the 459 classes.

The 59 names and their order are mmseg's ``PascalContextDataset59.CLASSES`` (alphabetical); the
60-class set (``PascalContextDataset``, used by the released SegViT PC config) puts 'background'
first. ``PASCAL_CONTEXT_459_IDS`` are the ids of the 59 classes in the full 459-class
``labels.txt`` / ``LabelMap`` of the PASCAL-Context release: they are mmseg's and the Detail API's
``_mapping`` (without its 0), which is sorted, so class k of the 59 is the k-th smallest id.
"""

# fmt: off
PASCAL_CONTEXT_59_CLASSES = [
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book", "bottle",
    "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth", "computer", "cow",
    "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food", "grass", "ground",
    "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person", "plate", "platform",
    "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign", "sky", "snow", "sofa",
    "table", "track", "train", "tree", "truck", "tvmonitor", "wall", "water", "window", "wood",
]

# Id of each of the 59 classes in the 459-class labels.txt (same order as the names above).
PASCAL_CONTEXT_459_IDS = [
    2, 9, 18, 19, 22, 23, 25, 31, 33, 34, 44, 45, 46, 59, 65, 68, 72, 80, 85, 98, 104, 105, 113,
    115, 144, 158, 159, 162, 187, 189, 207, 220, 232, 258, 259, 260, 284, 295, 296, 308, 324, 326,
    347, 349, 354, 355, 360, 366, 368, 397, 415, 416, 420, 424, 427, 440, 445, 454, 458,
]
# fmt: on

PASCAL_CONTEXT_60_CLASSES = ["background"] + PASCAL_CONTEXT_59_CLASSES

# Other spellings a labels.txt might use for a class (tried only when the canonical name itself is
# absent). The official labels.txt is expected to use the canonical names; these are a safety net.
PASCAL_CONTEXT_NAME_ALIASES = {
    "aeroplane": ("airplane", "aeroplane/airplane"),
    "bedclothes": ("bed clothes",),
    "motorbike": ("motorcycle",),
    "pottedplant": ("potted plant", "potted-plant"),
    "table": ("diningtable", "dining table"),
    "tvmonitor": ("tv monitor", "tv/monitor", "tv-monitor"),
}

assert len(PASCAL_CONTEXT_59_CLASSES) == len(PASCAL_CONTEXT_459_IDS) == 59
assert PASCAL_CONTEXT_59_CLASSES == sorted(PASCAL_CONTEXT_59_CLASSES)
