kc=$(mktemp); trap 'rm -f "$kc"' EXIT
server='https://10.0.0.1:6443' awk '{ if (match($0, /^[ \t]*server:/)) print substr($0, 1, RLENGTH) " " ENVIRON["server"]; else print }' /etc/kubernetes/admin.conf > "$kc"
