"""The mutations `bench/mutations.py` applies: data only (one deliberate bug per row, the test
files that must catch it). Every row is an exact search → replace on one file; a snippet that is
no longer found exactly once is reported by `python bench/mutations.py --check` (run in CI)."""
from __future__ import annotations

from mutation import Mutation
from mutation_rows_training import ROWS as TRAINING
from mutation_rows_inference import ROWS as INFERENCE
from mutation_rows_geometry import ROWS as GEOMETRY
from mutation_rows_ros import ROWS as ROS
from mutation_rows_bag import ROWS as BAG
from mutation_rows_outputs import ROWS as OUTPUTS

__all__ = ["MUTATIONS", "Mutation"]

# one file of rows per area of the code the rows mutate
MUTATIONS: tuple[Mutation, ...] = (*TRAINING, *INFERENCE, *GEOMETRY, *ROS, *BAG, *OUTPUTS)
