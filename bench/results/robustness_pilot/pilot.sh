#!/bin/bash
# Pilot of issue 23 (run under the heavy lock): vanilla, ranmask and freelb on 2,000 SST-2 rows, 1 epoch,
# seed 1; each attacked with textfooler on 100 seeded test rows (seed 0).
set -x
cd /work/wt-defence23
export PYTHONPATH=/tmp/d23pilot/code/src TQDM_DISABLE=1  # a snapshot of the commit in /tmp/d23pilot/code/COMMIT
PY=/work/main/.venv/bin/python
D=/work/shared/datasets/sst2
O=/tmp/d23pilot
train() {  # name method extra...
  name=$1; m=$2; shift 2
  date -u +"train $name start %T"
  /usr/bin/time -f "train $name wall %e s" $PY -m robustune train --data $D/train.tsv --max-train-samples 2000 \
     --epochs 1 --seed 1 --method $m "$@" --eval-data $D/test.tsv --output $O/$name --overwrite --no-progress
}
attack() {
  name=$1
  date -u +"attack $name start %T"
  /usr/bin/time -f "attack $name wall %e s" $PY -m robustune attack --model $O/$name --data $D/test.tsv \
     --recipe textfooler --num-examples 100 --seed 0 --output $O/attack-$name --no-progress
}
train vanilla vanilla && attack vanilla
train ranmask ranmask --mask-rate 0.3 --vote-samples 9 && attack ranmask
train freelb freelb --adv-steps 5 && attack freelb
date -u +"done %T"
