"""`python -m adaptlab` (and `torchrun -m adaptlab pretrain ...`)."""

from adaptlab.cli import main

main()
