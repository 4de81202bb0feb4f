curl -sk --max-time 5 -o /dev/null -w '%{http_code}' '10.0.0.1' || true
