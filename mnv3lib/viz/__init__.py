"""Pictures and interaction: drawing boxes, keypoints and masks (:mod:`.drawing`), matplotlib figures
(:mod:`.plotting`), the explorers (:mod:`.widgets`) and notebook display helpers (:mod:`.display`)."""
