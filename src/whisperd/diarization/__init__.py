"""Who speaks when: speaker embeddings (CAM++ without torch), clustering, and words given to speakers."""
