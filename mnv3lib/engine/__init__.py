"""The training engine: one loop (:mod:`.loop`) that every task plugs into, the tasks
(:mod:`.classification`, :mod:`.detection`, :mod:`.segmentation`, :mod:`.quantization`), and what they
share: optimizers (:mod:`.optim`), checkpoints (:mod:`.checkpoint`), seeding (:mod:`.reproducibility`)
and metrics (:mod:`.metrics`)."""
