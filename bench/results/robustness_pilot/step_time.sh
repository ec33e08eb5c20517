#!/bin/bash
cd /tmp/d23pilot/code && date -u +"step time start %T" && env PYTHONPATH=src /work/main/.venv/bin/python bench/step_time.py --data /work/shared/datasets/sst2/train.tsv --methods vanilla freelb:adv_steps=5 freelb ranmask --steps 6 --warmup 1 --seed 1; date -u +"step time end %T"; uptime
