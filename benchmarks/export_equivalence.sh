#!/usr/bin/env bash
# The documents every export path writes, for two versions of the code on the same trained runs, compared byte
# for byte: a refactor of the export path must leave them equal (timings aside, which go beside each file).
#
#   bash benchmarks/export_equivalence.sh OLD_TREE NEW_TREE DEMO_CONFIG COKE_CONFIG COKE_POINTS [OUT]
#
# OLD_TREE, NEW_TREE: checkouts (e.g. `git worktree add /tmp/old REV`); DEMO_CONFIG: the config.yml of a
# `point2act demo` run, whose scene's points/oracle.json the queries take; COKE_CONFIG: a run of
# `python -m benchmarks.coke` (exported at --metres-per-unit 0.1). Each tree's exports start from an empty run
# cache. Prints SAME or DIFF per document; exits 1 on any DIFF.
set -u
OLD=$1; NEW=$2; D=$3; C=$4; POINTS=$5; OUT=${6:-/tmp/export_equivalence}
P="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/point2act"
clean() { local r; r=$(dirname "$1"); rm -rf "$r"/export_inputs.npz "$r"/point2act_cache.npz "$r"/run_info.pt \
  "$r"/relevancy_cache.pt "$r"/relevancy; }
one() {  # one() TREE DIR
  local tree=$1 dir=$2; mkdir -p "$dir"
  export PYTHONPATH=$tree OMP_NUM_THREADS=2
  for R in D C; do
    local cfg=${!R} mpu=""; [ "$R" = C ] && mpu="--metres-per-unit 0.1"
    clean "$cfg"
    $P export --load-config "$cfg" $mpu --output "$dir/${R}_torch.json" > "$dir/${R}_torch.log" 2>&1
    $P export --load-config "$cfg" $mpu --output "$dir/${R}_cache.json" > "$dir/${R}_cache.log" 2>&1
    $P export --load-config "$cfg" $mpu --no-grasps --output "$dir/${R}_nograsps.json" > "$dir/${R}_nograsps.log" 2>&1
  done
  $P query --load-config "$D" --points-file "$POINTS" --name q --output "$dir/D_query.json" > "$dir/D_query.log" 2>&1
  $P export --load-config "$D" --channels q --output "$dir/D_channels.json" > "$dir/D_channels.log" 2>&1
  $P export --load-config "$D" --grasp-channel q --channels q --output "$dir/D_graspch.json" > "$dir/D_graspch.log" 2>&1
  $P query --load-config "$D" --points-file "$POINTS" --name avoid --output "$dir/D_avoidq.json" > "$dir/D_avoidq.log" 2>&1
  $P export --load-config "$D" --channels q,avoid --handover-direction 1 0 0 --output "$dir/D_avoid.json" \
    > "$dir/D_avoid.log" 2>&1
  unset PYTHONPATH
}
one "$OLD" "$OUT/old"
one "$NEW" "$OUT/new"
rc=0
for f in "$OUT"/old/*.json; do
  case $f in *timings*) continue ;; esac
  n=$(basename "$f")
  if cmp -s "$f" "$OUT/new/$n"; then echo "SAME $n"; else echo "DIFF $n"; rc=1; fi
done
exit $rc
