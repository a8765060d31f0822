"""The instruction vocabulary: iced-x86 helpers, write strategies, and the records the code
generator, the experiment model and the catalog read."""
