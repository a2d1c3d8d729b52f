"""Small pieces every part of feedlearn shares: errors, seeding, atomic writes, progress bars."""

from feedlearn.common.errors import FeedlearnError
from feedlearn.common.io import atomic_write, atomic_write_bytes, atomic_write_text
from feedlearn.common.progress import progress_bar
from feedlearn.common.seeding import make_rng, seed_everything

__all__ = [
    "FeedlearnError",
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "make_rng",
    "progress_bar",
    "seed_everything",
]
