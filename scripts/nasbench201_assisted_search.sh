#!/usr/bin/env bash
# GHN-assisted evolution on NAS-Bench-201 against the tabular oracle, next to random search and
# plain regularized evolution, 150 queries, seeds 0..9 (results/nasbench201_assisted_search.md).
#
# Honest protocol: train.csv is split by row position; the property heads learn only from the
# first fifth (200 cells, never queried), and every search runs on the other 800 rows, so the
# heads never saw the answers of the table they screen.
#   scripts/nasbench201_assisted_search.sh CHECKPOINT [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
ck=${1:?usage: $0 CHECKPOINT [OUT_DIR]}
out=${2:-build/nb201_assisted}
BIN=${GHNAS_BIN:-build/cli/ghnas}
table=../shared/nasbench201/train.csv
mkdir -p "$out"
export OMP_WAIT_POLICY=passive
awk -F, 'NR == 1 { print > "'"$out"'/heads.csv"; print > "'"$out"'/search.csv"; next }
         NR <= 201 { print > "'"$out"'/heads.csv"; next } { print > "'"$out"'/search.csv" }' "$table"
"$BIN" fit-heads --checkpoint "$ck" --space nasbench201 --task cifar10 --labels "$out/heads.csv" \
  --arch-column arch_str --targets c10_test_nats --features auto --out "$out/heads.json" 2>&1 | tail -2
rm -f "$out"/search.db*
for seed in 0 1 2 3 4 5 6 7 8 9; do
  common=(--space nasbench201 --oracle "table:$out/search.csv:c10_test_nats" --queries 150 --seed $seed
          --db "$out/search.db")
  evo=(--strategy evolution --option population=10 --option sample=3)
  echo "random $seed $("$BIN" search "${common[@]}" --strategy random 2>/dev/null | tail -1)"
  echo "evolution $seed $("$BIN" search "${common[@]}" "${evo[@]}" 2>/dev/null | tail -1)"
  echo "ghn-evolution $seed $("$BIN" search "${common[@]}" "${evo[@]}" --checkpoint "$ck" \
        --heads "$out/heads.json" --screen-factor 10 --threads 2 2>/dev/null | tail -1)"
done > "$out/runs.txt"
# mean and sample std of best_value per method
sed -E 's/^([a-z-]+) ([0-9]+) .*"best_value":([0-9.]+).*/\1 \3/' "$out/runs.txt" |
  awk '{ n[$1]++; s[$1] += $2; q[$1] += $2 * $2 }
       END { for (m in n) printf "%s %.2f %.2f %d\n", m, s[m] / n[m], sqrt((q[m] - s[m] * s[m] / n[m]) / (n[m] - 1)), n[m] }' |
  sort
