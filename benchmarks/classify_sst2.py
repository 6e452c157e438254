"""SST-2 (GLUE, English movie-review sentences): every classifier trained from scratch through the CLI.

    flock /tmp/seqlab-cpu.lock python benchmarks/classify_sst2.py            # all models, 20 min each at most
    python benchmarks/classify_sst2.py --models lstm,textcnn --lock /tmp/seqlab-cpu.lock

Test = the GLUE dev set (872 sentences; the GLUE test labels are not public); validation for early
stopping = a seeded 10% of train. Results: benchmarks/results/classify_sst2/results.{json,md}.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from classify_bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("sst2", __doc__))
