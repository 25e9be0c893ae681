"""Training: the compiled loops, distributed training, trackers and the trainer."""
