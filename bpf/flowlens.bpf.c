// SPDX-License-Identifier: (Apache-2.0 OR GPL-2.0)
/*
 * Flowlens kernel programs: per-flow aggregation on cgroup_skb (and
 * optionally TC), the TCP connection lifecycle from inet_sock_set_state,
 * retransmits and drops. Records go to userspace through one ring buffer
 * only on flow start, SYN/FIN/RST, socket state changes, retransmits and
 * drops; the periodic report of active flows is read from the flow maps by
 * userspace.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "flowlens_events.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_HLEN 14
#define TC_ACT_UNSPEC (-1)
#define AF_INET 2
#define AF_INET6 10
#define EEXIST 17
#define IPPROTO_ICMPV6 58

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Sizes are defaults; userspace resizes them before load. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 24);
} fl_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fl_flow_key);
	__type(value, struct fl_flow_value);
} fl_flows SEC(".maps");

/* TC sees the same packets as cgroup_skb on the same node: a separate map keeps them from being counted twice. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct fl_flow_key);
	__type(value, struct fl_flow_value);
} fl_tc_flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, FL_STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} fl_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fl_config);
} fl_config SEC(".maps");

/* Network namespaces (inode numbers) of the observed subtree, for drops of packets that have no socket. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u8);
} fl_netns SEC(".maps");

/*
 * Per-socket state, freed by the kernel together with the socket: the lifecycle (when it opened, who
 * opened it) and, for a connected TCP socket, the counters of its two flows. A connection's packets are
 * counted here rather than in fl_flows: reaching a socket's storage costs a pointer walk, while a flow
 * lookup hashes a 48-byte key (and needs the cgroup id), which was most of a packet's cost. The daemon
 * reads these counters with the fl_sock_flows iterator, and at close they are folded into fl_flows so
 * that the flush after the socket is gone still reports its last packets.
 */
struct fl_sock_counts {
	struct fl_flow_value v; /* as an fl_flows entry would hold it */
	__u8 started;           /* this direction has seen a packet */
	__u8 pad[7];
};

/*
 * From ESTABLISHED on, a socket's packets are counted by TCP itself: the kernel keeps segment and byte
 * counters in every tcp_sock, so the per-packet programs only look at the TCP flags. The counters' values
 * when the connection was established are kept here; the socket's flows are what was counted per packet
 * before (the handshake) plus what the counters added since. Bytes are L3 bytes as on the wire: the
 * payload plus, per segment, the IP header and the connection's TCP header with its fixed options.
 */
struct fl_tcp_base {
	__u32 segs_in;
	__u32 segs_out;
	__u64 bytes_received;
	__u64 bytes_sent;
	__u64 bytes_acked;
};

struct fl_sock_state {
	__u64 open_ns;
	__u8 direction; /* who opened the connection: FL_DIR_EGRESS (connect) or FL_DIR_INGRESS (accept) */
	__u8 has_key;   /* `key` is set (on the socket's first counted packet, or when it was established) */
	__u8 folded;    /* closed: the counters went to fl_flows, later packets are counted there */
	__u8 counting;  /* established: TCP's own counters count the packets (`base`) */
	__u8 fin_in;    /* a FIN arrived while counting: bytes_received counts its sequence number */
	__u8 pad;
	__u16 hdr_len;  /* IP + TCP header bytes of each segment, while counting */
	__u64 sock_cookie;
	struct fl_flow_key key;           /* the egress flow's key: local -> remote */
	struct fl_sock_counts counts[2];  /* [0] ingress, [1] egress */
	struct fl_tcp_base base;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fl_sock_state);
} fl_socks SEC(".maps");

static __always_inline void count_stat(__u32 idx)
{
	__u64 *v = bpf_map_lookup_elem(&fl_stats, &idx);

	if (v)
		*v += 1;
}

static __always_inline struct fl_record *reserve_record(__u8 kind, __u8 hook)
{
	struct fl_record *r = bpf_ringbuf_reserve(&fl_events, sizeof(*r), 0);

	if (!r) {
		count_stat(FL_STAT_RINGBUF_LOST);
		return NULL;
	}
	__builtin_memset(r, 0, sizeof(*r));
	r->kind = kind;
	r->version = FL_RECORD_VERSION;
	r->hook = hook;
	r->ts_ns = bpf_ktime_get_boot_ns();
	return r;
}

/*
 * Waking the reader costs more than the rest of a record, so wake it at most once per interval;
 * the reader drains again FL_WAKEUP_INTERVAL_NS after each wakeup for what arrived in between.
 */
#define FL_WAKEUP_INTERVAL_NS 1000000ULL
__u64 fl_last_wakeup_ns = 0;

static __always_inline void submit_record(struct fl_record *r)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (r->ts_ns - fl_last_wakeup_ns >= FL_WAKEUP_INTERVAL_NS) {
		fl_last_wakeup_ns = r->ts_ns;
		flags = BPF_RB_FORCE_WAKEUP;
	}
	bpf_ringbuf_submit(r, flags);
	count_stat(FL_STAT_EVENTS);
}

static __always_inline void set_v4(__u8 *dst, __be32 addr)
{
	__builtin_memset(dst, 0, 10);
	dst[10] = 0xff;
	dst[11] = 0xff;
	__builtin_memcpy(dst + 12, &addr, 4);
}

/* ---------- packet parsing shared by cgroup_skb and TC ---------- */

struct fl_pkt {
	struct fl_flow_key key;
	__u32 len;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 icmp_code;
};

/*
 * Parses the L3/L4 headers at `off` in the skb, reading the linear data directly (much cheaper than
 * bpf_skb_load_bytes on every packet). Addresses are oriented as on the wire. Returns -1 when the
 * headers are not in the linear part or not IP.
 */
static __always_inline int parse_packet(struct __sk_buff *skb, __u32 off, __u16 proto, struct fl_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	void *l4;
	__u8 l4proto;

	if (off > ETH_HLEN)
		return -1;
	data += off;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > data_end)
			return -1;
		set_v4(p->key.saddr, ip->saddr);
		set_v4(p->key.daddr, ip->daddr);
		p->key.family = 4;
		l4proto = ip->protocol;
		l4 = data + ip->ihl * 4;
		/* Only the first fragment carries the L4 header. */
		if (ip->frag_off & bpf_htons(0x1fff))
			l4proto = 0;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		__builtin_memcpy(p->key.saddr, &ip6->saddr, 16);
		__builtin_memcpy(p->key.daddr, &ip6->daddr, 16);
		p->key.family = 6;
		l4proto = ip6->nexthdr;
		l4 = ip6 + 1;
	} else {
		return -1;
	}
	p->key.protocol = l4proto;

	if (l4proto == IPPROTO_TCP) {
		__u8 *hdr = l4;

		if ((void *)(hdr + 14) <= data_end) {
			p->key.sport = (hdr[0] << 8) | hdr[1];
			p->key.dport = (hdr[2] << 8) | hdr[3];
			p->tcp_flags = hdr[13];
		}
	} else if (l4proto == IPPROTO_UDP) {
		__u8 *hdr = l4;

		if ((void *)(hdr + 4) <= data_end) {
			p->key.sport = (hdr[0] << 8) | hdr[1];
			p->key.dport = (hdr[2] << 8) | hdr[3];
		}
	} else if (l4proto == IPPROTO_ICMP || l4proto == IPPROTO_ICMPV6) {
		__u8 *hdr = l4;

		if ((void *)(hdr + 2) <= data_end) {
			p->icmp_type = hdr[0];
			p->icmp_code = hdr[1];
		}
	}
	return 0;
}

static __always_inline void fill_from_flow(struct fl_record *r, const struct fl_flow_key *key,
					   const struct fl_flow_value *v)
{
	r->key = *key;
	r->packets = v->packets;
	r->bytes = v->bytes;
	r->first_seen_ns = v->first_seen_ns;
	r->last_seen_ns = v->last_seen_ns;
	r->sock_cookie = v->sock_cookie;
	r->ifindex = v->ifindex;
	r->tcp_flags = v->tcp_flags;
}

#define FL_TCP_REPORTED (FL_TCP_SYN | FL_TCP_FIN | FL_TCP_RST)

/*
 * A precise clock read costs about as much as the rest of a known flow's packet, so those packets date
 * last_seen from the coarse clock (no hardware read): its monotonic time, moved to boot time, plus one
 * tick so that a packet is never dated before it happened. The daemon reports a flow whose last_seen is
 * after its previous flush, so a date up to a tick late at most repeats a flow in one more flush, while an
 * early one could leave its last packets unreported. Packets that start a flow or carry SYN/FIN/RST read
 * the precise clock, which also keeps the offset current (it changes only across a suspend).
 */
extern unsigned int CONFIG_HZ __kconfig __weak;
#define FL_LONGEST_TICK_NS 10000000ULL /* HZ=100, when the kernel config is not readable */
__u64 fl_coarse_to_boot_ns = 0;

static __always_inline __u64 precise_now(void)
{
	__u64 mono = bpf_ktime_get_ns();
	__u64 boot = bpf_ktime_get_boot_ns();
	__u64 to_boot = boot - mono + (CONFIG_HZ ? 1000000000ULL / CONFIG_HZ : FL_LONGEST_TICK_NS);

	/* Written only when it moves, as every CPU reads it on every packet. */
	if (to_boot < fl_coarse_to_boot_ns || to_boot - fl_coarse_to_boot_ns > 1000)
		fl_coarse_to_boot_ns = to_boot;
	return boot;
}

/* Counts one packet in `flows`; emits FLOW_START for a new flow and TCP_FLAGS for SYN/FIN/RST. */
static __always_inline void account_packet(void *flows, struct __sk_buff *skb, struct fl_pkt *p, __u8 hook)
{
	struct fl_flow_value *v;
	struct fl_record *r;
	__u64 now;

	v = bpf_map_lookup_elem(flows, &p->key);
	if (!v) {
		now = precise_now();
		struct fl_flow_value nv = {
			.packets = 1,
			.bytes = p->len,
			.first_seen_ns = now,
			.last_seen_ns = now,
			.sock_cookie = bpf_get_socket_cookie(skb),
			.ifindex = skb->ifindex,
			.tcp_flags = p->tcp_flags,
		};
		long err = bpf_map_update_elem(flows, &p->key, &nv, BPF_NOEXIST);

		if (err == 0) {
			r = reserve_record(FL_REC_FLOW_START, hook);
			if (r) {
				fill_from_flow(r, &p->key, &nv);
				r->ts_ns = now; /* the packet's time, as first_seen */
				r->tcp_flags_now = p->tcp_flags;
				r->icmp_type = p->icmp_type;
				r->icmp_code = p->icmp_code;
				submit_record(r);
			}
			return;
		}
		if (err != -EEXIST) {
			count_stat(FL_STAT_FLOW_TABLE_FULL);
			return;
		}
		/* Another CPU created the flow first: count on its entry. */
		v = bpf_map_lookup_elem(flows, &p->key);
		if (!v)
			return;
	}
	/*
	 * Flags, then bytes, then packets: the daemon may read the entry at any moment, and a reader that sees
	 * this packet counted must also see its bytes and flags (atomic adds are full barriers on x86 and
	 * arm64), so the entry with the most packets is always a consistent snapshot.
	 */
	if ((v->tcp_flags | p->tcp_flags) != v->tcp_flags)
		v->tcp_flags |= p->tcp_flags;
	__sync_fetch_and_add(&v->bytes, p->len);
	__sync_fetch_and_add(&v->packets, 1);
	if (!(p->tcp_flags & FL_TCP_REPORTED)) {
		v->last_seen_ns = bpf_ktime_get_coarse_ns() + fl_coarse_to_boot_ns;
		return;
	}
	now = precise_now();
	v->last_seen_ns = now;
	r = reserve_record(FL_REC_TCP_FLAGS, hook);
	if (r) {
		fill_from_flow(r, &p->key, v);
		r->ts_ns = now; /* the packet's time, as last_seen */
		r->tcp_flags_now = p->tcp_flags;
		submit_record(r);
	}
}

/* The flow key of one direction of a socket's connection, from its egress key. */
static __always_inline void sock_flow_key(struct fl_flow_key *out, const struct fl_sock_state *st, __u8 direction)
{
	*out = st->key;
	if (direction == FL_DIR_INGRESS) {
		__builtin_memcpy(out->saddr, st->key.daddr, 16);
		__builtin_memcpy(out->daddr, st->key.saddr, 16);
		out->sport = st->key.dport;
		out->dport = st->key.sport;
	}
	out->direction = direction;
}

/* A flow_start or tcp_flags record for a packet counted on its socket, dated with the packet. */
static __always_inline void report_sock_packet(__u8 kind, const struct fl_sock_state *st, const struct fl_flow_value *v,
					       __u8 direction, __u8 flags, __u64 now)
{
	struct fl_record *r = reserve_record(kind, FL_HOOK_CGROUP_SKB);
	struct fl_flow_key key;

	if (!r)
		return;
	sock_flow_key(&key, st, direction);
	fill_from_flow(r, &key, v);
	r->ts_ns = now;
	r->tcp_flags_now = flags;
	submit_record(r);
}

#define FL_NOT_TCP (-2)

/*
 * The TCP flags of a packet of a connected socket; FL_NOT_TCP for a packet whose IP header names another
 * protocol (UDP, ICMP), which no socket storage concerns; -1 when its TCP header is not where the socket's
 * family puts it (IPv6 extension headers, a fragment, a header outside the linear data): the flow-table
 * path parses those in full, unless TCP's counters count the socket's packets.
 */
static __always_inline int sock_packet_tcp_flags(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u8 *tcp;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data;

		if ((void *)(ip + 1) > data_end)
			return -1;
		if (ip->protocol != IPPROTO_TCP)
			return FL_NOT_TCP;
		if (ip->frag_off & bpf_htons(0x1fff))
			return -1;
		tcp = data + ip->ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data;

		if ((void *)(ip6 + 1) > data_end)
			return -1;
		if (ip6->nexthdr == IPPROTO_UDP || ip6->nexthdr == IPPROTO_ICMPV6)
			return FL_NOT_TCP;
		if (ip6->nexthdr != IPPROTO_TCP)
			return -1;
		tcp = (void *)(ip6 + 1);
	} else {
		return FL_NOT_TCP;
	}
	if ((void *)(tcp + 14) > data_end)
		return -1;
	return tcp[13];
}

/*
 * Takes over what fl_flows counted of a socket's two flows (an accepted connection's handshake went
 * through the listener), so that each flow is counted in one place.
 */
static __always_inline void take_over_flows(struct fl_sock_state *st)
{
	struct fl_flow_key key;

	for (int i = 0; i < 2; i++) {
		struct fl_sock_counts *c = &st->counts[i];
		struct fl_flow_value *v;

		sock_flow_key(&key, st, i ? FL_DIR_EGRESS : FL_DIR_INGRESS);
		v = bpf_map_lookup_elem(&fl_flows, &key);
		if (!v)
			continue;
		c->v = *v;
		c->v.sock_cookie = st->sock_cookie; /* this socket's, not the listener's */
		c->started = 1;
		bpf_map_delete_elem(&fl_flows, &key);
	}
}

/*
 * A socket's first packet counted on the socket: takes its key from the packet, and takes over what
 * fl_flows already counted of its two flows. False when the packet cannot be parsed.
 */
static __always_inline bool adopt_socket(struct __sk_buff *skb, struct fl_sock_state *st, __u8 direction)
{
	struct fl_pkt p = {};

	if (parse_packet(skb, 0, skb->protocol, &p))
		return false;
	st->key = p.key;
	if (direction == FL_DIR_INGRESS) {
		__builtin_memcpy(st->key.saddr, p.key.daddr, 16);
		__builtin_memcpy(st->key.daddr, p.key.saddr, 16);
		st->key.sport = p.key.dport;
		st->key.dport = p.key.sport;
	}
	st->key.cgroup_id = bpf_skb_cgroup_id(skb);
	st->sock_cookie = bpf_get_socket_cookie(skb);
	st->has_key = 1;
	take_over_flows(st);
	return true;
}


/*
 * One direction of a counting socket's flow: what it counted per packet (`c`), plus `segs` segments of
 * `payload` bytes that TCP counted since, last seen at `ns` if that is later.
 */
static __always_inline void add_tcp_counts(struct fl_flow_value *out, const struct fl_sock_state *st,
					   const struct fl_sock_counts *c, __u32 segs, __u64 payload, __u64 ns)
{
	*out = c->v;
	out->packets += segs;
	out->bytes += payload + (__u64)segs * st->hdr_len;
	if (!c->started) {
		out->first_seen_ns = ns;
		out->sock_cookie = st->sock_cookie;
	}
	if (ns > out->last_seen_ns)
		out->last_seen_ns = ns;
}

/*
 * A packet of a socket that TCP's counters count (struct fl_tcp_base): only its flags are noted, and a
 * SYN, FIN or RST is reported with the flow's counts so far. TCP counts an arriving segment after this
 * program runs, so an ingress record adds the packet itself; an egress record's payload bytes are what the
 * peer has acknowledged (the flush and the close count what was sent).
 */
static __always_inline void note_counted_packet(struct __sk_buff *skb, struct bpf_sock *sk, struct fl_sock_state *st,
						__u8 direction, int flags)
{
	struct fl_sock_counts *c = &st->counts[direction == FL_DIR_EGRESS];
	struct bpf_tcp_sock *tp;
	struct fl_flow_value v;
	__u64 payload, now;
	__u32 segs;

	if ((c->v.tcp_flags | flags) != c->v.tcp_flags)
		c->v.tcp_flags |= flags;
	if (!(flags & FL_TCP_REPORTED))
		return;
	if (direction == FL_DIR_INGRESS && (flags & FL_TCP_FIN))
		st->fin_in = 1;
	tp = bpf_tcp_sock(sk);
	if (!tp)
		return;
	if (direction == FL_DIR_EGRESS) {
		segs = tp->segs_out - st->base.segs_out;
		payload = tp->bytes_acked - st->base.bytes_acked;
	} else {
		/* This packet too; a header-only one shorter than hdr_len wraps back once the headers are added. */
		segs = tp->segs_in - st->base.segs_in + 1;
		payload = tp->bytes_received - st->base.bytes_received + skb->len - st->hdr_len;
	}
	now = precise_now();
	add_tcp_counts(&v, st, c, segs, payload, now);
	report_sock_packet(FL_REC_TCP_FLAGS, st, &v, direction, flags, now);
}

/* Linux 6.2+; where it is missing, libbpf resolves it to NULL and the check below removes its use. */
extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

/*
 * The socket's fl_socks entry read where bpf_sk_storage_get looks first, the socket's storage cache, without
 * calling the helper: NULL when it is not there (or this kernel lacks what the read needs), and the caller
 * then calls the helper. Read only: the helper's pointer is the only one the verifier lets a program write
 * through. The hook runs under RCU, which keeps the storage alive as the helper's lookup does.
 */
static __always_inline const struct fl_sock_state *cached_sock_state(struct __sk_buff *skb)
{
	struct bpf_local_storage_map *smap = (void *)&fl_socks;
	struct bpf_local_storage_data *sdata;
	struct bpf_local_storage *storage;
	struct sk_buff *kskb;
	struct sock *sk;

	if (!bpf_cast_to_kern_ctx || !bpf_core_field_exists(struct sock, sk_bpf_storage) ||
	    !bpf_core_field_exists(struct bpf_local_storage_map, cache_idx))
		return NULL;
	kskb = bpf_cast_to_kern_ctx(skb);
	sk = kskb->sk;
	if (!sk)
		return NULL;
	storage = sk->sk_bpf_storage;
	if (!storage)
		return NULL;
	/* The verifier takes only constant offsets into kernel structures: one load per cache slot. */
	switch (smap->cache_idx) {
#define FL_CACHE_SLOT(i) case i: sdata = storage->cache[i]; break;
	FL_CACHE_SLOT(0) FL_CACHE_SLOT(1) FL_CACHE_SLOT(2) FL_CACHE_SLOT(3)
	FL_CACHE_SLOT(4) FL_CACHE_SLOT(5) FL_CACHE_SLOT(6) FL_CACHE_SLOT(7)
	FL_CACHE_SLOT(8) FL_CACHE_SLOT(9) FL_CACHE_SLOT(10) FL_CACHE_SLOT(11)
	FL_CACHE_SLOT(12) FL_CACHE_SLOT(13) FL_CACHE_SLOT(14) FL_CACHE_SLOT(15)
#undef FL_CACHE_SLOT
	default:
		return NULL;
	}
	if (!sdata || sdata->smap != smap)
		return NULL;
	return (const void *)sdata->data;
}

/*
 * Whether an established connection's packet has nothing to note: its socket counts on TCP's counters, and
 * its flags are neither reported (SYN, FIN, RST) nor new for its direction. Most packets are such, and
 * this answers without a helper call; any other packet takes the full path below, which does the same
 * checks on the helper's pointer.
 */
static __always_inline bool nothing_to_note(struct __sk_buff *skb, struct bpf_sock *sk, __u8 direction, int flags)
{
	const struct fl_sock_state *st;
	__u8 seen;

	if (flags < 0 || (flags & FL_TCP_REPORTED) || sk->state != BPF_TCP_ESTABLISHED)
		return false;
	st = cached_sock_state(skb);
	if (!st || !st->counting || st->folded)
		return false;
	seen = st->counts[direction == FL_DIR_EGRESS].v.tcp_flags;
	return (seen | flags) == seen;
}

/*
 * Counts a packet of a connected TCP socket in the socket's storage; false when the packet is not one
 * (no full socket, a listener's handshake packets, a socket already folded at close), and the flow
 * table counts it instead.
 */
static __always_inline bool count_on_socket(struct __sk_buff *skb, __u8 direction)
{
	struct bpf_sock *sk = skb->sk;
	struct fl_sock_state *st;
	struct fl_sock_counts *c;
	int flags;
	__u64 now;

	if (!sk)
		return false;
	/* UDP and ICMP go to the flow table without looking for socket storage. */
	flags = sock_packet_tcp_flags(skb);
	if (flags == FL_NOT_TCP)
		return false;
	/* The common case, an established connection's packet, needs nothing else: TCP counts it. */
	if (nothing_to_note(skb, sk, direction, flags))
		return true;
	st = bpf_sk_storage_get(&fl_socks, sk, 0, 0);
	if (st && st->counting && !st->folded) {
		if (flags >= 0)
			note_counted_packet(skb, sk, st, direction, flags);
		return true;
	}
	if (flags < 0)
		return false;
	sk = bpf_sk_fullsock(sk);
	/* A listener answers many peers; a raw control socket sends resets for connections it does not own. */
	if (!sk || sk->protocol != IPPROTO_TCP || sk->type != 1 /* SOCK_STREAM */ || sk->state == BPF_TCP_LISTEN)
		return false;
	/* A full socket's storage is its own (a request socket's would have been its listener's). */
	if (!st)
		st = bpf_sk_storage_get(&fl_socks, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!st || st->folded)
		return false;
	if (!st->has_key && !adopt_socket(skb, st, direction))
		return false;
	c = &st->counts[direction == FL_DIR_EGRESS];
	if (!c->started) {
		/* The connection's first packet this way: the flow starts, as a new fl_flows entry would. */
		now = precise_now();
		c->v = (struct fl_flow_value){
			.packets = 1,
			.bytes = skb->len,
			.first_seen_ns = now,
			.last_seen_ns = now,
			.sock_cookie = st->sock_cookie,
			.ifindex = skb->ifindex,
			.tcp_flags = flags,
		};
		c->started = 1;
		report_sock_packet(FL_REC_FLOW_START, st, &c->v, direction, flags, now);
		return true;
	}
	/*
	 * Same order and reasoning as account_packet: flags, then bytes, then packets. A socket transmits only
	 * under its lock (process context owning it, or softirq and timers holding its spinlock while it is not
	 * owned), so egress needs no atomic adds; ingress runs before the receive path takes that lock.
	 */
	if ((c->v.tcp_flags | flags) != c->v.tcp_flags)
		c->v.tcp_flags |= flags;
	if (direction == FL_DIR_EGRESS) {
		c->v.bytes += skb->len;
		/*
		 * Keeps the compiler from storing packets first. x86 keeps the store order; on a weakly ordered
		 * CPU a flush may read the packet before its bytes, and the next flush has both.
		 */
		asm volatile("" ::: "memory");
		c->v.packets += 1;
	} else {
		__sync_fetch_and_add(&c->v.bytes, skb->len);
		__sync_fetch_and_add(&c->v.packets, 1);
	}
	if (!(flags & FL_TCP_REPORTED)) {
		c->v.last_seen_ns = bpf_ktime_get_coarse_ns() + fl_coarse_to_boot_ns;
		return true;
	}
	now = precise_now();
	c->v.last_seen_ns = now;
	report_sock_packet(FL_REC_TCP_FLAGS, st, &c->v, direction, flags, now);
	return true;
}

/* A packet not counted on its socket: parsed in full and counted in fl_flows. */
static __always_inline void count_in_flow_table(struct __sk_buff *skb, __u8 direction)
{
	struct fl_pkt p = {};

	if (parse_packet(skb, 0, skb->protocol, &p))
		return;
	p.len = skb->len;
	p.key.direction = direction;
	p.key.cgroup_id = bpf_skb_cgroup_id(skb);
	account_packet(&fl_flows, skb, &p, FL_HOOK_CGROUP_SKB);
}

static __always_inline void handle_cgroup_skb(struct __sk_buff *skb, __u8 direction)
{
	if (count_on_socket(skb, direction))
		return;
	count_in_flow_table(skb, direction);
}

/* Observe only: always let the packet through. */
SEC("cgroup_skb/ingress")
int fl_cgroup_ingress(struct __sk_buff *skb)
{
	handle_cgroup_skb(skb, FL_DIR_INGRESS);
	return 1;
}

SEC("cgroup_skb/egress")
int fl_cgroup_egress(struct __sk_buff *skb)
{
	handle_cgroup_skb(skb, FL_DIR_EGRESS);
	return 1;
}

static __always_inline void handle_tc(struct __sk_buff *skb, __u8 direction)
{
	struct fl_pkt p = {};

	if (parse_packet(skb, ETH_HLEN, skb->protocol, &p))
		return;
	p.len = skb->len > ETH_HLEN ? skb->len - ETH_HLEN : 0;
	p.key.direction = direction;
	p.key.cgroup_id = direction == FL_DIR_EGRESS ? bpf_skb_cgroup_id(skb) : 0;
	account_packet(&fl_tc_flows, skb, &p, FL_HOOK_TC);
}

/* TC_ACT_UNSPEC lets the next program (or the default action) decide. */
SEC("tc")
int fl_tc_ingress(struct __sk_buff *skb)
{
	handle_tc(skb, FL_DIR_INGRESS);
	return TC_ACT_UNSPEC;
}

SEC("tc")
int fl_tc_egress(struct __sk_buff *skb)
{
	handle_tc(skb, FL_DIR_EGRESS);
	return TC_ACT_UNSPEC;
}

/* ---------- socket-level programs ---------- */

/* True when `cg` lies in the observed subtree; sets *cgid to its id. */
static __always_inline bool cgroup_in_scope(struct cgroup *cg, __u64 *cgid)
{
	__u32 zero = 0;
	struct fl_config *cfg = bpf_map_lookup_elem(&fl_config, &zero);
	struct cgroup *anc = NULL;
	__u32 level;

	if (!cfg || !cg || !cfg->root_cgroup_id)
		return false;
	*cgid = BPF_CORE_READ(cg, kn, id);
	level = BPF_CORE_READ(cg, level);
	if (level < cfg->root_level)
		return false;
	bpf_probe_read_kernel(&anc, sizeof(anc),
			      (void *)cg + bpf_core_field_offset(struct cgroup, ancestors) +
				      (__u64)(cfg->root_level & 0xff) * sizeof(anc));
	return anc && BPF_CORE_READ(anc, kn, id) == cfg->root_cgroup_id;
}

static __always_inline bool sock_in_scope(const struct sock *sk, __u64 *cgid)
{
	struct cgroup *cg = BPF_CORE_READ(sk, sk_cgrp_data.cgroup);

	return cgroup_in_scope(cg, cgid);
}

/* Socket records: source = local end, destination = remote end. */
static __always_inline void fill_from_sock(struct fl_record *r, const struct sock *sk, __u64 cgid)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET) {
		set_v4(r->key.saddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		set_v4(r->key.daddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
		r->key.family = 4;
	} else {
		BPF_CORE_READ_INTO(&r->key.saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&r->key.daddr, sk, __sk_common.skc_v6_daddr);
		r->key.family = 6;
	}
	/* skc_num is cleared when a closing socket releases its port; inet_sport keeps it. */
	r->key.sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	if (!r->key.sport)
		r->key.sport = bpf_ntohs(BPF_CORE_READ((struct inet_sock *)sk, inet_sport));
	r->key.dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	r->key.protocol = IPPROTO_TCP;
	r->key.cgroup_id = cgid;
	r->netns_ino = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	r->sock_cookie = bpf_get_socket_cookie((void *)sk);
}

static __always_inline void fill_tcp_counters(struct fl_record *r, const struct sock *sk)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;

	r->bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	r->bytes_received = BPF_CORE_READ(tp, bytes_received);
	r->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	r->total_retrans = BPF_CORE_READ(tp, total_retrans);
	r->packets = BPF_CORE_READ(tp, segs_out);
}

/* A connected socket's egress flow key (local -> remote), as its packets' headers give it. */
static __always_inline void sock_egress_key(struct fl_flow_key *key, const struct sock *sk, __u64 cgid)
{
	__builtin_memset(key, 0, sizeof(*key));
	if (BPF_CORE_READ(sk, __sk_common.skc_family) == AF_INET) {
		set_v4(key->saddr, BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr));
		set_v4(key->daddr, BPF_CORE_READ(sk, __sk_common.skc_daddr));
		key->family = 4;
	} else {
		BPF_CORE_READ_INTO(&key->saddr, sk, __sk_common.skc_v6_rcv_saddr);
		BPF_CORE_READ_INTO(&key->daddr, sk, __sk_common.skc_v6_daddr);
		/* An IPv6 socket talking to an IPv4 peer sends IPv4 packets: ::ffff:a.b.c.d is how keys hold those. */
		key->family = 6;
		if (!*(__u64 *)key->daddr && *(__u32 *)(key->daddr + 8) == bpf_htonl(0xffff))
			key->family = 4;
	}
	key->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	key->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	key->protocol = IPPROTO_TCP;
	key->direction = FL_DIR_EGRESS;
	key->cgroup_id = cgid;
}

/*
 * Once established, a connection's packets are counted by TCP's own counters (struct fl_tcp_base). An
 * accepted socket has seen no packet of its own yet: its key comes from the socket, and it takes over the
 * handshake that its listener's packets counted in fl_flows. A packet counted per packet on another CPU
 * while this runs (only a peer sending before the handshake completes could) is counted twice.
 */
static __always_inline void start_counting(struct fl_sock_state *st, const struct sock *sk, __u64 cgid)
{
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;

	if (!st->has_key) {
		sock_egress_key(&st->key, sk, cgid);
		st->sock_cookie = bpf_get_socket_cookie((void *)sk);
		st->has_key = 1;
		take_over_flows(st);
	}
	st->hdr_len = (st->key.family == 4 ? sizeof(struct iphdr) : sizeof(struct ipv6hdr)) + BPF_CORE_READ(tp, tcp_header_len);
	st->base.segs_in = BPF_CORE_READ(tp, segs_in);
	st->base.segs_out = BPF_CORE_READ(tp, segs_out);
	st->base.bytes_received = BPF_CORE_READ(tp, bytes_received);
	st->base.bytes_sent = BPF_CORE_READ(tp, bytes_sent);
	st->base.bytes_acked = BPF_CORE_READ(tp, bytes_acked);
	/* The per-packet programs read `counting` without the socket lock: the base must be in place first. */
	asm volatile("" ::: "memory");
	st->counting = 1;
}

/*
 * One direction of a socket's flow: what was counted per packet, plus what TCP's counters added since the
 * connection was established, last seen at `active_ns` if they moved. False when it has no packet yet.
 */
static __always_inline bool sock_flow_value(const struct fl_sock_state *st, const struct sock *sk, int i,
					    struct fl_flow_value *out, __u64 active_ns)
{
	const struct fl_sock_counts *c = &st->counts[i];
	const struct tcp_sock *tp = (const struct tcp_sock *)sk;
	__u64 payload;
	__u32 segs;

	if (!st->counting) {
		*out = c->v;
		return c->started;
	}
	if (i) {
		segs = BPF_CORE_READ(tp, segs_out) - st->base.segs_out;
		payload = BPF_CORE_READ(tp, bytes_sent) - st->base.bytes_sent;
	} else {
		segs = BPF_CORE_READ(tp, segs_in) - st->base.segs_in;
		payload = BPF_CORE_READ(tp, bytes_received) - st->base.bytes_received;
		/* A FIN takes a sequence number, which bytes_received counts once TCP has processed it. */
		if (st->fin_in && payload)
			payload -= 1;
	}
	if (!segs) {
		*out = c->v;
		return c->started;
	}
	add_tcp_counts(out, st, c, segs, payload, active_ns);
	return true;
}

/*
 * At close, a socket's counters move to fl_flows, which outlives the socket, dated `now` so that the
 * flush after the close reports them: the flush reads fl_flows before the sockets, so a fold between the
 * two reads is reported once, by the next flush, and never twice.
 */
static __always_inline void fold_sock_counts(struct fl_sock_state *st, const struct sock *sk, __u64 now)
{
	struct fl_flow_value sv;
	struct fl_flow_key key;

	st->folded = 1;
	if (!st->has_key)
		return;
	for (int i = 0; i < 2; i++) {
		struct fl_flow_value *v;

		if (!sock_flow_value(st, sk, i, &sv, now))
			continue;
		sock_flow_key(&key, st, i ? FL_DIR_EGRESS : FL_DIR_INGRESS);
		v = bpf_map_lookup_elem(&fl_flows, &key);
		if (!v) {
			struct fl_flow_value nv = sv;

			nv.last_seen_ns = now;
			if (bpf_map_update_elem(&fl_flows, &key, &nv, BPF_NOEXIST) == 0)
				continue;
			v = bpf_map_lookup_elem(&fl_flows, &key);
			if (!v) {
				count_stat(FL_STAT_FLOW_TABLE_FULL);
				continue;
			}
		}
		/* A packet after the fold (a reset sent on close) was counted in fl_flows already. */
		v->tcp_flags |= sv.tcp_flags;
		if (sv.first_seen_ns < v->first_seen_ns)
			v->first_seen_ns = sv.first_seen_ns;
		__sync_fetch_and_add(&v->bytes, sv.bytes);
		__sync_fetch_and_add(&v->packets, sv.packets);
		v->last_seen_ns = now;
	}
}

/* One flow of a socket as the fl_sock_flows iterator writes it: the same layout as an fl_flows entry. */
struct fl_sock_flow {
	struct fl_flow_key key;
	struct fl_flow_value value;
};

/* Writes a socket's flows, two per connection at most, for the daemon's periodic report. */
static __always_inline void write_sock_flows(struct seq_file *seq, const struct fl_sock_state *st, const struct sock *sk)
{
	struct fl_sock_flow out;
	__u64 active_ns = 0;

	if (st->folded || !st->has_key)
		return;
	/* When the connection last sent or received (TCP's microsecond clock is monotonic; records use boot time). */
	if (st->counting)
		active_ns = BPF_CORE_READ((struct tcp_sock *)sk, tcp_mstamp) * 1000 + bpf_ktime_get_boot_ns() - bpf_ktime_get_ns();
	for (int i = 0; i < 2; i++) {
		__builtin_memset(&out, 0, sizeof(out));
		if (!sock_flow_value(st, sk, i, &out.value, active_ns))
			continue;
		sock_flow_key(&out.key, st, i ? FL_DIR_EGRESS : FL_DIR_INGRESS);
		bpf_seq_write(seq, &out, sizeof(out));
	}
}

/*
 * Writes the flows of every socket still counting on itself (userspace cannot walk socket storage itself).
 * Some kernels refuse iterators over map elements; fl_sock_flows_tcp below then does the same from each
 * observed network namespace's TCP sockets.
 */
SEC("iter/bpf_sk_storage_map")
int fl_sock_flows(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct fl_sock_state *st = ctx->value;
	struct sock *sk = ctx->sk;

	if (!sk || !st)
		return 0;
	write_sock_flows(ctx->meta->seq, st, sk);
	return 0;
}

SEC("iter/tcp")
int fl_sock_flows_tcp(struct bpf_iter__tcp *ctx)
{
	struct sock_common *skc = ctx->sk_common;
	struct fl_sock_state *st;
	struct tcp_sock *tp;

	if (!skc)
		return 0;
	tp = bpf_skc_to_tcp_sock(skc);
	if (!tp)
		return 0;
	st = bpf_sk_storage_get(&fl_socks, tp, 0, 0);
	if (!st)
		return 0;
	write_sock_flows(ctx->meta->seq, st, (const struct sock *)tp);
	return 0;
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(fl_sock_state, const struct sock *sk, int oldstate, int newstate)
{
	struct fl_sock_state *st;
	struct fl_record *r;
	__u64 cgid = 0, now;
	__u8 kind;

	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_SYN_SENT || newstate == TCP_SYN_RECV)
		kind = FL_REC_SOCK_OPEN;
	else if (newstate == TCP_ESTABLISHED)
		kind = FL_REC_SOCK_ESTABLISHED;
	else if (newstate == TCP_CLOSE && oldstate != TCP_LISTEN)
		kind = FL_REC_SOCK_CLOSE;
	else
		return 0;
	if (!sock_in_scope(sk, &cgid))
		return 0;

	now = bpf_ktime_get_boot_ns();
	st = bpf_sk_storage_get(&fl_socks, (void *)sk, 0,
				kind == FL_REC_SOCK_OPEN ? BPF_SK_STORAGE_GET_F_CREATE : 0);
	if (st && kind == FL_REC_SOCK_OPEN) {
		st->open_ns = now;
		st->direction = newstate == TCP_SYN_SENT ? FL_DIR_EGRESS : FL_DIR_INGRESS;
	}

	if (kind == FL_REC_SOCK_ESTABLISHED && st && !st->folded && !st->counting)
		start_counting(st, sk, cgid);
	if (kind == FL_REC_SOCK_CLOSE && st && !st->folded)
		fold_sock_counts(st, sk, now);

	r = reserve_record(kind, FL_HOOK_SOCK);
	if (!r)
		return 0;
	fill_from_sock(r, sk, cgid);
	r->sk_state = newstate;
	if (st) {
		r->key.direction = st->direction;
		r->first_seen_ns = st->open_ns;
		if (kind == FL_REC_SOCK_ESTABLISHED && st->open_ns)
			r->connect_latency_ns = now - st->open_ns;
	}
	r->last_seen_ns = now;
	if (kind != FL_REC_SOCK_OPEN)
		fill_tcp_counters(r, sk);
	submit_record(r);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(fl_tcp_retransmit, const struct sock *sk, const struct sk_buff *skb)
{
	struct fl_sock_state *st;
	struct fl_record *r;
	__u64 cgid = 0;

	if (!sock_in_scope(sk, &cgid))
		return 0;
	r = reserve_record(FL_REC_RETRANSMIT, FL_HOOK_RETRANSMIT);
	if (!r)
		return 0;
	fill_from_sock(r, sk, cgid);
	st = bpf_sk_storage_get(&fl_socks, (void *)sk, 0, 0);
	if (st)
		r->key.direction = st->direction;
	r->sk_state = BPF_CORE_READ(sk, __sk_common.skc_state);
	fill_tcp_counters(r, sk);
	submit_record(r);
	return 0;
}

/* Reads addresses and ports of a dropped skb from its network header. */
static __always_inline void fill_from_dropped_skb(struct fl_record *r, const struct sk_buff *skb)
{
	unsigned char *head = BPF_CORE_READ(skb, head);
	__u16 nh = BPF_CORE_READ(skb, network_header);
	__u16 proto = BPF_CORE_READ(skb, protocol);
	__u8 l4proto, l4[14] = {};
	void *l4p;

	r->bytes = BPF_CORE_READ(skb, len);
	r->packets = 1;
	if (nh == (__u16)~0U)
		return;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh))
			return;
		set_v4(r->key.saddr, ip.saddr);
		set_v4(r->key.daddr, ip.daddr);
		r->key.family = 4;
		l4proto = ip.protocol;
		l4p = head + nh + ip.ihl * 4;
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), head + nh))
			return;
		__builtin_memcpy(r->key.saddr, &ip6.saddr, 16);
		__builtin_memcpy(r->key.daddr, &ip6.daddr, 16);
		r->key.family = 6;
		l4proto = ip6.nexthdr;
		l4p = head + nh + sizeof(ip6);
	} else {
		return;
	}
	r->key.protocol = l4proto;
	if (bpf_probe_read_kernel(l4, sizeof(l4), l4p))
		return;
	if (l4proto == IPPROTO_TCP || l4proto == IPPROTO_UDP) {
		r->key.sport = (l4[0] << 8) | l4[1];
		r->key.dport = (l4[2] << 8) | l4[3];
		if (l4proto == IPPROTO_TCP)
			r->tcp_flags = r->tcp_flags_now = l4[13];
	} else if (l4proto == IPPROTO_ICMP || l4proto == IPPROTO_ICMPV6) {
		r->icmp_type = l4[0];
		r->icmp_code = l4[1];
	}
}

/*
 * An echo reply that a raw socket (ping run as root) already took its copy of: ICMP then finds no ping
 * socket and frees the original with NO_SOCKET. The reply was delivered, so it is no drop.
 */
static __always_inline bool is_taken_echo_reply(const struct sk_buff *skb, enum skb_drop_reason reason)
{
	unsigned char *head;
	__u16 nh, proto;
	__u8 l4proto, type;
	void *l4p;

	if (reason != bpf_core_enum_value(enum skb_drop_reason, SKB_DROP_REASON_NO_SOCKET))
		return false;
	head = BPF_CORE_READ(skb, head);
	nh = BPF_CORE_READ(skb, network_header);
	proto = BPF_CORE_READ(skb, protocol);
	if (nh == (__u16)~0U)
		return false;
	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), head + nh) || ip.protocol != IPPROTO_ICMP)
			return false;
		l4p = head + nh + ip.ihl * 4;
		return !bpf_probe_read_kernel(&type, 1, l4p) && type == 0 /* ICMP_ECHOREPLY */;
	}
	if (proto == bpf_htons(ETH_P_IPV6)) {
		if (bpf_probe_read_kernel(&l4proto, 1, head + nh + offsetof(struct ipv6hdr, nexthdr)) ||
		    l4proto != IPPROTO_ICMPV6)
			return false;
		l4p = head + nh + sizeof(struct ipv6hdr);
		return !bpf_probe_read_kernel(&type, 1, l4p) && type == 129 /* ICMPV6_ECHO_REPLY */;
	}
	return false;
}

SEC("tp_btf/kfree_skb")
int BPF_PROG(fl_kfree_skb, struct sk_buff *skb, void *location, enum skb_drop_reason reason)
{
	struct sock *sk;
	struct net_device *dev;
	struct fl_record *r;
	__u64 cgid = 0;
	__u32 netns = 0;

	if (reason <= SKB_CONSUMED || is_taken_echo_reply(skb, reason))
		return 0;
	sk = BPF_CORE_READ(skb, sk);
	if (sk) {
		if (!sock_in_scope(sk, &cgid))
			return 0;
		netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
	} else {
		dev = BPF_CORE_READ(skb, dev);
		if (!dev)
			return 0;
		netns = BPF_CORE_READ(dev, nd_net.net, ns.inum);
		if (!bpf_map_lookup_elem(&fl_netns, &netns))
			return 0;
	}

	r = reserve_record(FL_REC_DROP, FL_HOOK_KFREE_SKB);
	if (!r)
		return 0;
	fill_from_dropped_skb(r, skb);
	r->drop_reason = reason;
	r->netns_ino = netns;
	r->key.cgroup_id = cgid;
	r->ifindex = BPF_CORE_READ(skb, dev, ifindex);
	if (sk) {
		/* The cookie as already assigned (e.g. by the flow's cgroup_skb start); 0 if never asked for. */
		r->sock_cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
		r->key.direction = r->key.sport == BPF_CORE_READ(sk, __sk_common.skc_num) ? FL_DIR_EGRESS
											 : FL_DIR_INGRESS;
	} else {
		r->key.direction = FL_DIR_INGRESS;
	}
	r->first_seen_ns = r->last_seen_ns = r->ts_ns;
	submit_record(r);
	return 0;
}

/* ---------- egress NAT ---------- */

/*
 * Netfilter binds a connection's source NAT on its first packet, wherever that NAT runs (a node namespace,
 * the host); the packet then leaves through a device with the conntrack attached, which holds the original
 * tuple and the reply tuple, whose destination is the translated source. This reads them from the
 * net_dev_queue tracepoint, where a packet shows its conntrack, and reports each translated connection once,
 * on its first packet out. The daemon applies a translation only to flows it observes, matching them by
 * the original tuple. (A tracepoint, since kprobes and fentry on nf_nat_setup_info are not available
 * on every kernel; every other packet costs one load and a compare.)
 */
#define FL_NFCT_INFO_MASK 7UL

/* Connections already reported: keyed by conntrack and original ports, as a freed conntrack's memory is reused. */
struct fl_nat_seen_key {
	__u64 ct;
	__u16 sport;
	__u16 dport;
	__u32 saddr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct fl_nat_seen_key);
	__type(value, __u8);
} fl_nat_seen SEC(".maps");

static __always_inline void report_nat(struct nf_conn *ct)
{
	struct nf_conntrack_tuple orig, reply;
	struct fl_nat_seen_key seen = { .ct = (__u64)ct };
	struct fl_record *r;
	__u8 one = 1;

	if (!(BPF_CORE_READ(ct, status) & IPS_SRC_NAT))
		return;
	BPF_CORE_READ_INTO(&orig, ct, tuplehash[IP_CT_DIR_ORIGINAL].tuple);
	BPF_CORE_READ_INTO(&reply, ct, tuplehash[IP_CT_DIR_REPLY].tuple);
	if (orig.src.l3num != AF_INET && orig.src.l3num != AF_INET6)
		return;
	seen.sport = orig.src.u.all;
	seen.dport = orig.dst.u.all;
	seen.saddr = orig.src.u3.all[3];
	if (bpf_map_update_elem(&fl_nat_seen, &seen, &one, BPF_NOEXIST))
		return;

	r = reserve_record(FL_REC_NAT, FL_HOOK_NAT);
	if (!r)
		return;
	r->key.protocol = orig.dst.protonum;
	r->key.direction = FL_DIR_EGRESS;
	if (orig.src.l3num == AF_INET) {
		r->key.family = 4;
		set_v4(r->key.saddr, orig.src.u3.ip);
		set_v4(r->key.daddr, orig.dst.u3.ip);
		set_v4(r->xlated_saddr, reply.dst.u3.ip);
	} else {
		r->key.family = 6;
		__builtin_memcpy(r->key.saddr, &orig.src.u3, 16);
		__builtin_memcpy(r->key.daddr, &orig.dst.u3, 16);
		__builtin_memcpy(r->xlated_saddr, &reply.dst.u3, 16);
	}
	/* Packet records of ICMP carry no ports; TCP, UDP and SCTP keep theirs in the same place. */
	if (r->key.protocol != IPPROTO_ICMP && r->key.protocol != IPPROTO_ICMPV6) {
		r->key.sport = bpf_ntohs(orig.src.u.all);
		r->key.dport = bpf_ntohs(orig.dst.u.all);
		r->xlated_sport = bpf_ntohs(reply.dst.u.all);
	}
	r->netns_ino = BPF_CORE_READ(ct, ct_net.net, ns.inum);
	r->first_seen_ns = r->last_seen_ns = r->ts_ns;
	submit_record(r);
}

/*
 * The same report from a netfilter hook (Linux 6.4+), attached after source NAT at POSTROUTING in the
 * namespaces where NAT happens: only packets routed or sent there run it, not every packet queued on the
 * node (a pod's packets to a pod on its bridge never do). The agent attaches it where the kernel has
 * netfilter programs and falls back to the tracepoint elsewhere.
 */
#define FL_NF_ACCEPT 1

/* struct bpf_nf_ctx, declared here so that a vmlinux.h from a kernel before 6.4 still builds the object. */
struct fl_nf_ctx {
	const void *state;
	struct sk_buff *skb;
};

SEC("netfilter")
int fl_nat_post(struct fl_nf_ctx *ctx)
{
	unsigned long nfct = ctx->skb->_nfct;

	if ((nfct & FL_NFCT_INFO_MASK) == IP_CT_NEW)
		report_nat((struct nf_conn *)(nfct & ~FL_NFCT_INFO_MASK));
	return FL_NF_ACCEPT;
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(fl_nat_xmit, struct sk_buff *skb)
{
	/* A direct load (BTF-typed context), no helper call: this runs for every packet queued. */
	unsigned long nfct = skb->_nfct;

	/* A connection's packets in the original direction are NEW only until the first reply. */
	if ((nfct & FL_NFCT_INFO_MASK) != IP_CT_NEW)
		return 0;
	report_nat((struct nf_conn *)(nfct & ~FL_NFCT_INFO_MASK));
	return 0;
}
