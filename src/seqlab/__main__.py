"""``python -m seqlab`` is the ``seqlab`` command (and what ``torchrun -m seqlab`` starts on each rank)."""

import sys

from torch.distributed.elastic.multiprocessing.errors import record

from .cli.main import main

# record: under torchrun, a rank's uncaught exception is written where the launcher reads it, so its
# failure report names the rank and shows the traceback (outside torchrun it changes nothing)
sys.exit(record(main)())
