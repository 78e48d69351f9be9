"""What a run shows a person: figures (`figures`), image grids (`grid`), Markdown tables (`tables`) and the
summary tables and page of the aggregate rule (`summary`).

May import: conceptbench.scoring and the leaves.
"""
