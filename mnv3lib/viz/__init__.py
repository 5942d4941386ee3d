"""Pictures and interaction: drawing boxes, keypoints and masks (:mod:`.drawing`), matplotlib figures
(:mod:`.plotting`), the explorers (:mod:`.widgets`), the networks run in the reader's browser (:mod:`.browser_models`,
:mod:`.browser_explorers`) and notebook display helpers (:mod:`.display`)."""
