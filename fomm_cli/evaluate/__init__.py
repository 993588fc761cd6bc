"""Video-reconstruction evaluation: rebuild each test video from its first frame and score it.

metrics.py (pure numpy definitions), extractors.py (landmarks, body joints, identity embeddings),
reconstruct.py (reading test videos, running a model), scoring.py (per-frame values, averages),
report.py (table, JSON, CSV).
"""
