i=0; until curl -sfk --max-time 2 https://127.0.0.1:6443/readyz >/dev/null; do
  i=$((i+1)); if [ $i -ge 180 ]; then echo "apiserver not ready after 180s" >&2; exit 1; fi; sleep 1
done