p=0
while IFS= read -r l; do
  [ "$l" = '# BEGIN kubeha' ] && p=1
  [ $p = 1 ] && printf '%s\n' "$l"
  [ "$l" = '# END kubeha' ] && p=0
done < /etc/hosts
true