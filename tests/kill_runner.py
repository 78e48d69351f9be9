"""Run one training in this process; optionally send ourselves a real signal right after a given step.

Used by tests/unit/methods/test_resume.py and test_sdxl.py: `python tests/kill_runner.py SPEC_JSON` where SPEC has
the train_concept arguments plus optional `signal` ("SIGKILL" or "SIGTERM") and `at_step`, and `during_save` (the
signal arrives while the state of step `at_step` is being saved, not after the step); or is a list of such arguments,
trained one by one.
"""

import json
import os
import signal
import sys

import torch

from conceptbench.methods import get_method, training
from conceptbench.methods import job as train_module

spec = json.loads(sys.argv[1])
torch.set_num_threads(1)  # as in the test process (conftest.py)
if isinstance(spec, list):  # several trainings, one after another, no signal
    for one in spec:
        train_module.train_concept(**one)
    sys.exit(0)
sig_name, at_step = spec.pop("signal", None), spec.pop("at_step", None)
during_save = spec.pop("during_save", False)

if sig_name and during_save:
    original_save = training.save_state

    def save_with_signal(state_dir, step, *args, **kwargs):
        if step == at_step:
            os.kill(os.getpid(), getattr(signal, sig_name))  # its handler runs here, inside the save
        original_save(state_dir, step, *args, **kwargs)

    training.save_state = save_with_signal
elif sig_name:
    method = get_method(spec["params"]["type"])
    original_prepare = method.prepare

    def prepare_with_signal(*args, **kwargs):
        setup = original_prepare(*args, **kwargs)
        inner, count = setup.after_step, {"steps": 0}

        def after_step():
            if inner:
                inner()
            count["steps"] += 1
            if count["steps"] == at_step:
                os.kill(os.getpid(), getattr(signal, sig_name))

        setup.after_step = after_step
        return setup

    method.prepare = prepare_with_signal

train_module.train_concept(**spec)
