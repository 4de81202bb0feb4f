wait_until 30 '10.0.0.1' curl -sfk --max-time 3 -o /dev/null '10.0.0.1'
