"""What a run shows a person: figures (`figures`), image grids (`grid`), Markdown tables (`tables`), the
summary tables and page of the aggregate rule (`summary`) and the README's tables of a run (`readme`).

May import: conceptbench.scoring and the leaves.
"""
