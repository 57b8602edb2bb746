"""Test-wide settings.

The suite runs many tiny models; on a 2-core machine one intra-op thread is faster for them than
two (and far faster when the other core is busy), so every test process uses one.
"""

import torch

torch.set_num_threads(1)
