"""Writing a tool's results as a JSON report."""

import json
import os


def write_json_report(path: str, data: dict) -> None:
    """Write ``data`` to ``path`` as indented JSON, creating the folder, and say so on stdout."""
    if os.path.dirname(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f, indent=2)
    print(f"Wrote {path}")
