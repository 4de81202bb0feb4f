set -e
block='# BEGIN kubeha
10.0.0.1 10.0.0.1
# END kubeha
'
cur=$(sed -n '/^# BEGIN kubeha$/,/^# END kubeha$/p' /etc/hosts)
if [ "$cur" = "$(printf '%s' "$block" | sed '$ {/^$/d}')" ]; then exit 0; fi
tmp=$(mktemp /etc/.hosts.kubeha-XXXXXX)
trap 'rm -f "$tmp"' EXIT
sed '/^# BEGIN kubeha$/,/^# END kubeha$/d' /etc/hosts > "$tmp"
printf '%s' "$block" >> "$tmp"
chmod 644 "$tmp"
if grep -q ' /etc/hosts ' /proc/self/mounts; then cat "$tmp" > /etc/hosts; else mv -f "$tmp" /etc/hosts; fi
echo "updated /etc/hosts"
