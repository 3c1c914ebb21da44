#!/bin/bash
# On the GPU machine, from the repository root, after benchmarks/device/pack.sh here and with .gpu carried:
#   bash .gpu/run.sh [noparity]     (DEMO_REPS=2 STEPS=400 PROFILE=500:529 CAPTURE_STEPS=2000 by default;
#                                    STEPS=0 skips the step table, CPROFILE=1 profiles the last demo repeat)
# unpacks the packages, builds gsplat's CUDA ops (about 130 s on 16 cores; a gsplat_cuda.so.gz from an earlier
# run, copied into .gpu/, is loaded instead), runs the CPU-vs-gsplat parity tests, times the demo's training
# (nerfstudio's loop, the demo's schedule, 1000 steps, each step timed, torch.profiler over PROFILE's steps), the
# step's stage table (bench_train_step) and a 40-view 640x480 generated capture's training (CAPTURE_STEPS=0 skips
# it). $OUT receives the logs, the JSON results, the profiles and the gsplat build.
export OUT=${OUT:-/tmp/out}; mkdir -p $OUT
T0=$(date +%s); t() { echo "[t=$(( $(date +%s) - T0 )) s] $*"; }
mkdir -p /tmp/site && tar xJf .gpu/site.tar.xz -C /tmp/site
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl 2>&1 | grep -v WARN | tail -2
export PYTHONPATH=/tmp/site:$PWD/.gpu/fake:$PWD MAX_JOBS=16 TORCH_CUDA_ARCH_LIST=9.0 PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv | tee $OUT/gpu.txt
if [ -f .gpu/gsplat_cuda.so.gz ]; then  # a build from an earlier call: gsplat imports it as gsplat.csrc
  gunzip -c .gpu/gsplat_cuda.so.gz > /tmp/gsplat_cuda.so
  printf 'import importlib.util, torch\n_s = importlib.util.spec_from_file_location("gsplat_cuda", "/tmp/gsplat_cuda.so")\n_m = importlib.util.module_from_spec(_s)\n_s.loader.exec_module(_m)\nglobals().update({k: v for k, v in vars(_m).items() if not k.startswith("__")})\n' > /tmp/site/gsplat/csrc.py
fi
# point2act's own CPU kernels (point2act/_cpp.py) build on first use (about 25 s there); a p2a_ext.tgz from an earlier
# call, copied into .gpu/, restores them
[ -f .gpu/p2a_ext.tgz ] && mkdir -p ~/.cache/point2act/torch_extensions && tar xzf .gpu/p2a_ext.tgz -C ~/.cache/point2act/torch_extensions
t "gsplat build"
python3 -c "import gsplat.cuda._backend as b; print('gsplat _C:', b._C)" > $OUT/gsplat_build.log 2>&1; tail -3 $OUT/gsplat_build.log
so=~/.cache/torch_extensions/py312_cu130/gsplat_cuda/gsplat_cuda.so; [ -f $so ] && gzip -c $so > $OUT/gsplat_cuda.so.gz && ls -la $so $OUT
if [ "$1" != "noparity" ]; then t "parity tests"
python3 -m pytest -q -p no:cacheprovider tests/render/test_render_gsplat.py tests/method/test_optimizer_config.py \
  tests/method/test_relevancy_gpu.py tests/render/test_quantiles_gpu.py 2>&1 | tee $OUT/parity.log | tail -6
fi
t "demo training"
PROFILE=${PROFILE:-500:529} python3 .gpu/gpu_bench.py demo 1000 ${DEMO_REPS:-2} 2>&1 | grep -v Warning | tee $OUT/demo.log | grep '^{\|^import'
[ -f $OUT/profile_demo.txt ] && head -40 $OUT/profile_demo.txt | cut -c1-170
(cd ~/.cache/point2act/torch_extensions && tar czf $OUT/p2a_ext.tgz --exclude='*.o' --exclude='*.ninja*' .)
if [ "${STEPS:-400}" != 0 ]; then t "step table"
python3 .gpu/gpu_bench.py step ${STEPS:-400} 600 2>&1 | grep -v Warning | tail -60
fi
if [ "${CAPTURE_STEPS:-2000}" != 0 ] && [ -d .gpu/scene640 ]; then t "640x480 capture"
PROFILE=${PROFILE:-500:529} python3 .gpu/gpu_bench.py capture scene640 ${CAPTURE_STEPS:-2000} 2>&1 | grep -v Warning \
  | tee $OUT/capture.log | grep '^{'
fi
t "done"
