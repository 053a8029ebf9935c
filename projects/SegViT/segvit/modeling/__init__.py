"""Models: backbones, decode heads, losses and meta-architectures (registered on import)."""
