// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The floor under the agent's per-packet cost: cgroup_skb programs that do nothing but let the packet through.
 * Attached where the agent's are, they measure what the kernel's cgroup BPF hook costs a packet by itself
 * (prog-cost.ts objects `empty-hooks`, `empty-ingress`, `empty-egress`). NO_INGRESS or NO_EGRESS leaves one
 * out. The two maps are there because prog-cost sizes them for every object it loads.
 */
#include "vmlinux.h" /* bpf/.output, made from the running kernel's BTF by `make bpf` */
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} fl_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u32);
} fl_flows SEC(".maps");

#ifndef NO_INGRESS
SEC("cgroup_skb/ingress")
int fl_cgroup_ingress(struct __sk_buff *skb)
{
	return 1;
}
#endif

#ifndef NO_EGRESS
SEC("cgroup_skb/egress")
int fl_cgroup_egress(struct __sk_buff *skb)
{
	return 1;
}
#endif
