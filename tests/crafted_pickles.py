"""Weight files that run code when unpickled: a .pkl, a .pth and a .pyth that write a marker."""

import pickle

import torch


class WritesMarker:
    """Unpickling this object runs ``exec``, which writes the marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('code ran')",))


def crafted_files(folder, marker):
    """``folder/evil.{pkl,pth,pyth}``, each of which writes ``marker`` if it is unpickled."""
    evil = {"model": {"w": WritesMarker(marker)}, "model_state": WritesMarker(marker)}
    paths = [folder / "evil.pkl", folder / "evil.pth", folder / "evil.pyth"]
    with open(paths[0], "wb") as f:
        pickle.dump(evil, f)
    torch.save(evil, paths[1])
    torch.save(evil, paths[2])
    return paths
