"""What a study starts from: the concepts (folders of photos and their concept.yaml) and the prompts.

May import: the leaves (names) only.
"""
