wait_until 180 'apiserver not ready' curl -sfk --max-time 2 -o /dev/null '10.0.0.1'
