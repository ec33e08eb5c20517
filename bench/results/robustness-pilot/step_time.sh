#!/bin/bash
# The step-time figures of the defences (run from the repository root).
PYTHONPATH=src python bench/step_time.py --data sst2 --methods vanilla freelb:adv_steps=5 freelb ranmask --steps 6 --warmup 1 --seed 1
