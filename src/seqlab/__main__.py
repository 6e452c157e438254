"""``python -m seqlab`` is the ``seqlab`` command (and what ``torchrun -m seqlab`` starts on each rank)."""

import sys

from .cli.entry import allocator_or_exit, load_main

allocator_or_exit()  # before torch is imported: it may start this command again (seqlab/allocator.py)
main = load_main()  # imports torch (Ctrl-C meanwhile: "interrupted", exit 130)

from torch.distributed.elastic.multiprocessing.errors import record  # noqa: E402

# record: under torchrun, a rank's uncaught exception is written where the launcher reads it, so its
# failure report names the rank and shows the traceback (outside torchrun it changes nothing)
sys.exit(record(main)())
