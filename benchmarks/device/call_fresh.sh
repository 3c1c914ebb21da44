#!/bin/bash
# benchmarks/device/call_fresh.sh: one call on a fresh machine (after pack.sh here; .gpu carried, with a
# gsplat_cuda.so.gz from an earlier call copied into .gpu/). A: the demo before point2act's kernels are built;
# K: point2act build (the install step); B: the demo in a new process; then parity, the step table, the capture.
REAL=$OUT; export OUT=/tmp/o; mkdir -p $OUT
STEPS=0 CAPTURE_STEPS=0 DEMO_REPS=1 PROFILE=none bash .gpu/run.sh noparity 2>&1 | tee $OUT/A.log | grep -v "^\[t=\|gsplat"
mv $OUT/demo_train_*.json $OUT/demo_fresh.json 2>/dev/null
export PYTHONPATH=/tmp/site:$PWD/.gpu/fake:$PWD MAX_JOBS=16 TORCH_CUDA_ARCH_LIST=9.0 PYTHONUNBUFFERED=1
rm -rf ~/.cache/point2act/torch_extensions
echo "== K: point2act build"; /usr/bin/time -f "%e s wall" python3 -c "from point2act.kernels import build_all; print(*build_all(), sep='\n')" 2>&1 | tail -2
echo "== B: kernels built"; PROFILE=none python3 .gpu/gpu_bench.py demo 1000 1 2>&1 | grep -v Warning | tee $OUT/B.log | grep '^{\|^import'
mv $OUT/demo_train_*.json $OUT/demo_installed.json 2>/dev/null
echo "== parity"; python3 -m pytest -q -p no:cacheprovider tests/render/test_render_gsplat.py tests/method/test_optimizer_config.py tests/method/test_relevancy_gpu.py tests/render/test_quantiles_gpu.py 2>&1 | tee $OUT/parity.log | tail -4
echo "== step table"; timeout 150 python3 .gpu/gpu_bench.py step 400 600 2>&1 | grep -v Warning | tee $OUT/step.log | grep -A12 "ms/it"
echo "== capture"; timeout 100 python3 .gpu/gpu_bench.py capture scene640 2000 2>&1 | grep -v Warning | tee $OUT/capture.log | grep '^{'
(cd $OUT && tar czf $REAL/logs.tgz .)
