/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Records the Flowlens BPF programs send to userspace through the ring
 * buffer. Included by the BPF C (with vmlinux.h) and by the native addon
 * (with <linux/types.h>), so the layout cannot drift. The agent's TypeScript
 * decoder (agent/kernel/record.ts) mirrors these offsets; a test checks
 * FL_RECORD_SIZE and FL_FLOW_VALUE_SIZE against it.
 *
 * All fields are naturally aligned and the struct has no implicit padding.
 * Addresses are 16 bytes: IPv4 is stored IPv4-mapped (::ffff:a.b.c.d).
 * Ports are in host byte order.
 */
#ifndef FLOWLENS_EVENTS_H
#define FLOWLENS_EVENTS_H

#define FL_RECORD_VERSION 1

enum fl_record_kind {
	FL_REC_FLOW_START = 1,   /* first packet of a new flow (cgroup_skb / tc) */
	FL_REC_TCP_FLAGS = 2,    /* a SYN, FIN or RST seen on an existing flow */
	FL_REC_FLUSH = 3,        /* periodic report of an active flow's counters */
	FL_REC_SOCK_OPEN = 4,    /* inet_sock_set_state -> SYN_SENT / SYN_RECV */
	FL_REC_SOCK_ESTABLISHED = 5, /* -> ESTABLISHED, with connect latency */
	FL_REC_SOCK_CLOSE = 6,   /* -> CLOSE, with bytes, srtt, retransmits */
	FL_REC_RETRANSMIT = 7,   /* tcp:tcp_retransmit_skb */
	FL_REC_DROP = 8,         /* skb:kfree_skb with a drop reason */
	FL_REC_NAT = 9,          /* a connection's source was translated (egress NAT), once per connection */
};

enum fl_direction {
	FL_DIR_UNKNOWN = 0,
	FL_DIR_INGRESS = 1,
	FL_DIR_EGRESS = 2,
};

/* TCP flag bits as in the TCP header's 8-bit flags byte. */
#define FL_TCP_FIN 0x01
#define FL_TCP_SYN 0x02
#define FL_TCP_RST 0x04
#define FL_TCP_PSH 0x08
#define FL_TCP_ACK 0x10
#define FL_TCP_URG 0x20
#define FL_TCP_ECE 0x40
#define FL_TCP_CWR 0x80

/* Which hook saw the packet. */
enum fl_hook {
	FL_HOOK_CGROUP_SKB = 1,
	FL_HOOK_TC = 2,
	FL_HOOK_SOCK = 3,
	FL_HOOK_KFREE_SKB = 4,
	FL_HOOK_RETRANSMIT = 5,
	FL_HOOK_NAT = 6,
};

struct fl_flow_key {
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 sport;
	__u16 dport;
	__u8 protocol;     /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6 */
	__u8 family;       /* 4 or 6 */
	__u8 direction;    /* enum fl_direction, relative to cgroup_id's workload */
	__u8 pad0;
	__u64 cgroup_id;   /* cgroup v2 id of the socket's cgroup (0 when unknown) */
};                     /* 48 bytes */

struct fl_record {
	__u8 kind;         /* enum fl_record_kind */
	__u8 version;      /* FL_RECORD_VERSION */
	__u8 hook;         /* enum fl_hook */
	__u8 tcp_flags;    /* flags seen on the flow so far (OR of all packets) */
	__u8 tcp_flags_now;/* flags of the packet that produced this record */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 sk_state;     /* new TCP state for SOCK_* records */
	__u32 drop_reason; /* enum skb_drop_reason for FL_REC_DROP */
	__u32 ifindex;
	__u64 ts_ns;       /* bpf_ktime_get_boot_ns() when the record was made */
	struct fl_flow_key key;
	__u64 packets;     /* since flow start, this direction */
	__u64 bytes;       /* since flow start, this direction (L3 length) */
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u64 sock_cookie;
	union {
		struct {
			__u64 bytes_acked;     /* tcp_sock.bytes_acked at close */
			__u64 bytes_received;  /* tcp_sock.bytes_received at close */
		};
		/* FL_REC_NAT: the source address after translation; key holds the original tuple */
		__u8 xlated_saddr[16];
	};
	__u64 connect_latency_ns;
	__u32 srtt_us;         /* tcp_sock.srtt_us >> 3 */
	__u32 total_retrans;   /* tcp_sock.total_retrans */
	__u32 netns_ino;       /* network namespace inode, 0 when unknown (FL_REC_NAT: the NAT's) */
	__u16 xlated_sport;    /* FL_REC_NAT: the source port after translation (0 for ICMP) */
	__u16 pad1;
};                         /* 152 bytes */

#define FL_RECORD_SIZE 152

/*
 * Value of the per-flow LRU hash maps ("fl_flows", "fl_tc_flows"), keyed by
 * struct fl_flow_key. Userspace iterates these maps for the periodic flush.
 */
struct fl_flow_value {
	__u64 packets;
	__u64 bytes;
	__u64 first_seen_ns;
	__u64 last_seen_ns;
	__u64 sock_cookie;
	__u32 ifindex;
	__u8 tcp_flags;    /* OR of the flags of every packet */
	__u8 pad[3];
};                     /* 48 bytes */

#define FL_FLOW_VALUE_SIZE 48

/* Single entry (index 0) of the array map "fl_config", written before attach. */
struct fl_config {
	__u64 root_cgroup_id; /* cgroup v2 id (inode) of the observed subtree's root */
	__u32 root_level;     /* its depth below the cgroup v2 root (root = 0) */
	__u32 pad;
};

/* Index of the per-CPU loss counters (array map "fl_stats"). */
enum fl_stat {
	FL_STAT_RINGBUF_LOST = 0,   /* bpf_ringbuf_output failed */
	FL_STAT_FLOW_TABLE_FULL = 1,/* flow map update failed */
	FL_STAT_EVENTS = 2,         /* records successfully submitted */
	FL_STAT_MAX = 3,
};

#endif /* FLOWLENS_EVENTS_H */
