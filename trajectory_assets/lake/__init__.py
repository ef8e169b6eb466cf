"""Storage: where tables live, how raw partitions are listed, and how outputs are committed."""
