"""FROZEN: the default lab's evaluator; trials may not edit anything under evaluator/.

`python -m evaluator.data` prepares the data; `python -m evaluator` scores one
training run's exported model. Neither imports trial code.
"""
