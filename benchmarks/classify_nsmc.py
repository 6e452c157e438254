"""NSMC (Naver movie reviews, Korean, morpheme tokens): every classifier trained from scratch via the CLI.

    flock /tmp/seqlab-cpu.lock python benchmarks/classify_nsmc.py            # all models, 30 min each at most
    python benchmarks/classify_nsmc.py --models textcnn,lstm --parallel --threads 1 --lock /tmp/seqlab-cpu.lock
    python benchmarks/classify_nsmc.py --models lstm --tokenizers char,bpe --parallel --threads 1 --lock /tmp/seqlab-cpu.lock

Test = the official 50,000-review test file; validation for early stopping = a seeded 10% of the
150,000 training reviews. The tokenizer is chosen by the task (``auto`` -> morpheme for Korean).
Results: benchmarks/results/classify_nsmc/results.{json,md}.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from classify_bench import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main("nsmc", __doc__, time_budget=30.0))
