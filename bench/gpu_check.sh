#!/usr/bin/env bash
# tune's and dist's GPU checks (RLHF on CUDA at a real model's size; ZeRO++ over NCCL) as ONE prepared
# call of a lent GPU machine.
#
# A lent machine reaches no network and has PyTorch, transformers, peft and accelerate but not all
# of feedlearn's dependencies, so they travel as wheels built for its Python (3.12, x86-64):
#   here:   echo /.whl/ >> .git/info/exclude && bash bench/gpu_check.sh fetch        (~10 MB in .whl/)
#   there:  (device tool, carry [".whl"], timeout ~540 s)  bash bench/gpu_check.sh run tune
#           and, in a second call, `run dist` then `run qlora` (all parts together pass one call's 600 s)
# `run` writes under $OUT (or runs/gpu-check-out): versions.txt, recipe.log + recipe_summary.json
# (every RLHF stage of the shipped recipe gpu-check on a ~0.4B Llama in bf16-mixed precision), summaries.json
# (each stage's summary.json: tokens/s, peak GPU memory, and its loss curve from log.jsonl) and
# tune_rlhf.log (bench/tune_rlhf.py --size 1b: PPO/DPO/GRPO tokens/s on TinyLlama's shape),
# dist_bench.json (`feedlearn dist bench` with one rank per visible GPU, --device cuda: NCCL, bf16,
# every strategy; it names the backend and each rank's device; with >= 4 GPUs the ranks act as 2
# nodes, so the quantized collectives cross "nodes" over NCCL) and dist.log (its table, the check of
# backend and devices, and bench/dist_hooks_device.py: each ZeRO++ hook on cuda:0 against the CPU —
# on a one-GPU machine the one-rank bench falls back to plain collectives, so this is where qwZ/qgZ's
# own work meets CUDA).
# `dry` runs the same steps at toy sizes with .venv on a CPU (~5 min alone, longer on a busy CPU; dist: 4 gloo ranks as 2 nodes
# x 2): it checks this script. A second argument picks a part: `run dist` / `dry dist` (~1 min) or
# `run tune` or `run qlora` (gpu-check-qlora when bitsandbytes imports: qlora.log and
# qlora_summaries.json), or `run shard` / `dry shard` (tune's LoRA SFT sharded by zeropp under torchrun with
# DCP checkpoints: shard.log and shard_summaries.json); default all.
set -euo pipefail
cd "$(dirname "$0")/.."

# versions as on the CPU CI machine (.venv); pyarrow only when the machine's is older than 24
# (datasets needs >= 24): add it to the list if versions.txt says so (~45 MB)
WHEELS="trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 pydantic==2.14.4 pydantic-core==2.50.5
annotated-types==0.8.0 typing-inspection==0.4.5 typing-extensions==4.16.0 zstandard==0.25.0"

case "${1:-}" in
fetch)
    mkdir -p .whl
    for spec in $WHEELS; do
        python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
            --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
            -d .whl "$spec"
    done
    du -sh .whl
    ;;
run | dry)
    # dry: the same steps at toy sizes on this machine's .venv (a CPU), to check the script itself
    part="${2:-all}"
    case "$part" in all | tune | dist | qlora | shard) ;; *) echo "usage: bash bench/gpu_check.sh run|dry [all|tune|dist|qlora|shard]" >&2; exit 2 ;; esac
    out="${OUT:-runs/gpu-check-out}"
    mkdir -p "$out"
    if [ "$1" = run ]; then
        py=python3 size=1b recipe_args=() recipe_s=450 bench_s=150
        python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
        export PYTHONPATH="/tmp/site:$PWD/src"
        nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/versions.txt"
    else
        py=.venv/bin/python size=tiny recipe_s=900 bench_s=300  # a shared 2-core CPU: slower than the GPU run
        export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}"  # this checkout's sources, whatever .venv installed
        recipe_args=(steps_scale=0.05 "base={init_tiny: {hidden_size: 64, layers: 2, heads: 2, intermediate_size: 128}}")
        : > "$out/versions.txt"
    fi
    export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
    "$py" -c "import torch, transformers, peft, trl, datasets, pyarrow, accelerate as a; print('torch', torch.__version__,
'cuda', torch.cuda.is_available(), '| transformers', transformers.__version__, '| peft', peft.__version__, '| trl',
trl.__version__, '| datasets', datasets.__version__, '| pyarrow', pyarrow.__version__, '| accelerate', a.__version__)" \
        2>&1 | tee -a "$out/versions.txt"
    status=0
    if [ "$part" = all ] || [ "$part" = tune ]; then
    work="$(mktemp -d)"
    timeout "$recipe_s" "$py" -m feedlearn tune run gpu-check output_dir="$work" "${recipe_args[@]}" 2>&1 \
        | grep -v -e "it/s]" -e "examples/s]" | tee "$out/recipe.log" || status=1
    cp "$work/recipe_summary.json" "$out/" 2>/dev/null || status=1
    # every stage's summary.json (tokens/s, peak memory, eval) and loss curve (log.jsonl, rounds included)
    # in one file: the device returns 8 files at most
    "$py" bench/gpu_check_summaries.py "$work" > "$out/summaries.json" || status=1
    timeout "$bench_s" "$py" bench/tune_rlhf.py --size "$size" --dtype bfloat16 --steps 4 2>&1 | tee "$out/tune_rlhf.log" \
        || status=1
    rm -rf "$work"
    fi
    if [ "$part" = all ] || [ "$part" = qlora ]; then
        # QLoRA (issue 18 point 2): NF4 + double quantization, adapters merged into the base reloaded in
        # bf16, the next stage quantizing that again. Needs bitsandbytes (add its wheel to .whl when the
        # carry allows); dry: the merge path on the CPU (tests/tune/test_merge.py, no bitsandbytes needed)
        if [ "$1" = run ] && "$py" -c "import bitsandbytes" 2>/dev/null; then
            qwork="$(mktemp -d)"
            timeout 300 "$py" -m feedlearn tune run gpu-check-qlora output_dir="$qwork" 2>&1 \
                | grep -v -e "it/s]" -e "examples/s]" | tee "$out/qlora.log" || status=1
            "$py" bench/gpu_check_summaries.py "$qwork" > "$out/qlora_summaries.json" || status=1
            rm -rf "$qwork"
        elif [ "$1" = run ]; then
            echo "qlora: skipped (bitsandbytes does not import; put its wheel in .whl)" | tee "$out/qlora.log"
        else
            timeout 120 "$py" -m pytest -q -p no:cacheprovider tests/tune/test_merge.py > "$out/qlora.log" 2>&1 \
                || status=1
            tail -1 "$out/qlora.log"
        fi
    fi
    if [ "$part" = all ] || [ "$part" = dist ]; then
        # ZeRO++ on FSDP2: one rank per GPU over NCCL (run) / 4 gloo ranks on the CPU (dry), bf16 on the wire
        if [ "$1" = run ]; then
            nproc="$("$py" -c "import torch; print(torch.cuda.device_count())")"
            dist_args=(--device cuda --model small --steps 20)
            expect=nccl
            if [ "$nproc" -ge 4 ] && [ $((nproc % 2)) = 0 ]; then dist_args+=(--ranks-per-node $((nproc / 2))); fi
        else
            nproc=4 dist_args=(--device cpu --model tiny --steps 2 --ranks-per-node 2) expect=gloo
        fi
        timeout 240 "$py" -m feedlearn dist bench --nproc "$nproc" --dtype bfloat16 --strategy zero3,qwz,hpz,qgz,zeropp \
            "${dist_args[@]}" --json "$out/dist_bench.json" 2>&1 | tee "$out/dist.log" || status=1
        # the proof: the backend and every rank's own device, as the ranks reported them
        "$py" -c "import json, sys; r = json.load(open(sys.argv[1])); want = [sys.argv[2], ['cuda:%d' % i for i in
range(r['nproc'])] if sys.argv[2] == 'nccl' else ['cpu'] * r['nproc']]; print('dist backend', r['backend'], 'devices',
r['devices']); sys.exit([r['backend'], r['devices']] != want)" "$out/dist_bench.json" "$expect" \
            2>&1 | tee -a "$out/dist.log" || status=1
        timeout 120 "$py" bench/dist_hooks_device.py --device "$([ "$1" = run ] && echo cuda || echo cpu)" 2>&1 \
            | tee -a "$out/dist.log" || status=1
    fi
    if [ "$part" = all ] || [ "$part" = shard ]; then
        # tune's sharded LoRA (issue 18 point 4): SFT with LoRA under zeropp via torchrun, one rank per GPU
        # (run; NCCL) / 4 gloo ranks as 2 nodes x 2 (dry), bf16-mixed (bf16 base, fp32 adapters), DCP
        # checkpoints every 3 steps; then the exported model loads and generates on one process (shard.log).
        # Exact resume is the CPU test's (tests/tune/test_sharded.py).
        swork="$(mktemp -d)"
        if [ "$1" = run ]; then
            snproc="$("$py" -c "import torch; print(torch.cuda.device_count())")" tiny=(--hidden-size 896 --layers 24 --heads 14)
            srpn=$(( snproc >= 4 && snproc % 2 == 0 ? snproc / 2 : snproc )) sbatch=8
        else
            snproc=4 tiny=(--hidden-size 64 --layers 2 --heads 2) srpn=2 sbatch=2
        fi
        {
            "$py" -m feedlearn tune init-tiny "$swork/model" "${tiny[@]}" \
            && "$py" -c "import sys; from feedlearn.tune.data import save_dataset; from feedlearn.tune.data.synthetic import \
synthetic_dataset; save_dataset(synthetic_dataset(256, fmt='conversation', seed=3), sys.argv[1])" "$swork/chat.json" \
            && timeout 300 "$py" -m torch.distributed.run --standalone --nproc-per-node "$snproc" -m feedlearn tune train sft \
                model="$swork/model" data="$swork/chat.json" output_dir="$swork/sft" \
                lora=true strategy=zeropp ranks_per_node="$srpn" precision=bf16-mixed max_steps=6 save_steps=3 \
                batch_size="$sbatch" logging_steps=1 \
            && ls "$swork/sft" "$swork/sft/checkpoint-6/sharded" \
            && printf 'Sort 3 1\nSort 4 2\n' > "$swork/prompts.txt" \
            && "$py" -m feedlearn tune generate "$swork/sft/final-merged" --prompts "$swork/prompts.txt" --max-new-tokens 8
        } 2>&1 | grep -v -e "it/s]" -e "examples/s]" | tee "$out/shard.log" || status=1
        "$py" bench/gpu_check_summaries.py "$swork" > "$out/shard_summaries.json" || status=1
        rm -rf "$swork"
    fi
    echo "gpu_check: $([ $status = 0 ] && echo ok || echo FAILED); outputs in $out"
    exit $status
    ;;
*)
    echo "usage: bash bench/gpu_check.sh fetch|run|dry [all|tune|dist]" >&2
    exit 2
    ;;
esac
