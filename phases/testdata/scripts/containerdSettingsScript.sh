section config
containerd config dump 2>/dev/null | grep -E '^\s*(SystemdCgroup|sandbox_image)\s*=' || true
section images
ctr -n k8s.io images ls -q 2>/dev/null
