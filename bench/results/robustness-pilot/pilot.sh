#!/bin/bash
# Pilot of issue 23: vanilla, ranmask and freelb on 2,000 SST-2 rows, 1 epoch, seed 1; each attacked with
# textfooler on 100 seeded test rows (seed 0). Run from the repository root:
#     bash bench/results/robustness-pilot/pilot.sh
# `sst2:train` / `sst2:test` are the bundled SST-2 splits (byte-identical to the files the recorded run
# read; pilot.log is that run's raw log, with its machine's paths). Outputs go to runs/robustness-pilot/.
set -x
export PYTHONPATH=src TQDM_DISABLE=1
PY=${PYTHON:-python}
O=runs/robustness-pilot
train() {  # name method extra...
  name=$1; m=$2; shift 2
  date -u +"train $name start %T"
  /usr/bin/time -f "train $name wall %e s" $PY -m robustune train --data sst2:train --max-train-samples 2000 \
     --epochs 1 --seed 1 --method $m "$@" --eval-data sst2:test --output $O/$name --overwrite --no-progress
}
attack() {
  name=$1
  date -u +"attack $name start %T"
  /usr/bin/time -f "attack $name wall %e s" $PY -m robustune attack --model $O/$name --data sst2:test \
     --recipe textfooler --num-examples 100 --seed 0 --output $O/attack-$name --no-progress
}
train vanilla vanilla && attack vanilla
train ranmask ranmask --mask-rate 0.3 --vote-samples 9 && attack ranmask
train freelb freelb --adv-steps 5 && attack freelb
date -u +"done %T"
