/*
 * Request/response and bulk TCP load for the datapath overhead benchmark.
 *   rr server <ip> <port>                          echo each request back; or sink a stream
 *   rr latency <ip> <port> <bytes> <seconds>      one connection, closed loop; prints a latency histogram
 *   rr stream <ip> <port> <seconds>               one connection, 64 KiB writes; prints bits/s
 *   rr pair <bytes> <seconds> <netns> <cgroup-a> <ip-a> <port-a> <cgroup-b> <ip-b> <port-b>
 *                                                 two connections from network namespace <netns> (a path
 *                                                 such as /run/netns/x), each made while this process is in its
 *                                                 cgroup (a socket keeps the cgroup it was created in, which
 *                                                 is what cgroup_skb programs see); round trips alternate
 *                                                 between them (a b, b a, a b, ...), each connection's timed
 *                                                 into its own histogram; prints two lines, a's then b's
 *   rr pair ... <port-b> <slot-ms> <guard-ms>     the same, with histograms per time slot: slot k covers
 *                                                 CLOCK_MONOTONIC [k, k+1) x slot-ms; round trips that start
 *                                                 in a slot's first guard-ms are left out (whoever switches
 *                                                 something at slot boundaries has that long); per slot two
 *                                                 lines "<k> <histogram>", a's then b's
 * The first byte a client sends selects the server's mode ('L' echo, 'S' sink).
 *
 * The histogram has HDR-like buckets over nanoseconds: values below 2^HIST_BITS are exact, larger ones keep
 * HIST_BITS significant bits (at most 0.2% wide), so percentiles of blocks can be pooled by adding counts.
 * Output: "<count> <bucket>:<n> <bucket>:<n> ..." with the non-empty buckets in ascending order
 * (bench/agent/latency-histogram.ts reads it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int full_io(int fd, char *buf, size_t n, int do_write)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = do_write ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
		if (r <= 0)
			return -1;
		done += r;
	}
	return 0;
}

static struct sockaddr_in addr_of(const char *ip, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(port) };
	if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
		fprintf(stderr, "bad address %s\n", ip);
		exit(1);
	}
	return a;
}

static void serve(int c)
{
	static char buf[1 << 16];
	char mode;
	int one = 1;
	setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (read(c, &mode, 1) != 1)
		return;
	if (mode == 'S') {
		while (read(c, buf, sizeof(buf)) > 0)
			;
		return;
	}
	unsigned int size;
	if (full_io(c, (char *)&size, 4, 0) || size > sizeof(buf))
		return;
	while (full_io(c, buf, size, 0) == 0 && full_io(c, buf, size, 1) == 0)
		;
}

#define HIST_BITS 10
#define HIST_HALF (1u << (HIST_BITS - 1))
#define HIST_BUCKETS ((64 - HIST_BITS + 2) * HIST_HALF)

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + ts.tv_nsec;
}

static unsigned int bucket_of(uint64_t ns)
{
	if (ns < (1u << HIST_BITS))
		return ns;
	unsigned int shift = 63 - __builtin_clzll(ns) - (HIST_BITS - 1);
	return shift * HIST_HALF + (unsigned int)(ns >> shift);
}

static void print_hist(const uint64_t *hist, uint64_t n)
{
	printf("%llu", (unsigned long long)n);
	for (unsigned int i = 0; i < HIST_BUCKETS; i++)
		if (hist[i])
			printf(" %u:%llu", i, (unsigned long long)hist[i]);
	printf("\n");
}

/* Moves this process into a cgroup-v2 group (writing 0 to cgroup.procs means the writer). */
static int join_cgroup(const char *dir)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "w");
	if (!f || fputs("0", f) < 0 || fclose(f)) {
		perror(path);
		return -1;
	}
	return 0;
}

/* A request/response connection to an rr server, made from `cgroup`, with the request size sent. */
static int latency_connection(const char *cgroup, const char *ip, const char *port, unsigned int size)
{
	struct sockaddr_in a = addr_of(ip, atoi(port));
	int one = 1;
	char m = 'L';
	if (join_cgroup(cgroup))
		return -1;
	int s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) || write(s, &m, 1) != 1 || full_io(s, (char *)&size, 4, 1)) {
		perror(ip);
		return -1;
	}
	return s;
}

static int pair(int argc, char **argv)
{
	static char buf[1 << 16];
	unsigned int size = argc == 11 || argc == 13 ? atoi(argv[2]) : 0;
	if (size == 0 || size > sizeof(buf)) {
		fprintf(stderr, "usage: rr pair <bytes> <seconds> <netns> <cgroup-a> <ip-a> <port-a> <cgroup-b> <ip-b> <port-b> [<slot-ms> <guard-ms>]\n");
		return 1;
	}
	/* setns, not `ip netns exec`: that remounts /sys, where the cgroup files are. */
	int ns = open(argv[4], O_RDONLY);
	if (ns < 0 || setns(ns, CLONE_NEWNET)) {
		perror(argv[4]);
		return 1;
	}
	int fd[2] = { latency_connection(argv[5], argv[6], argv[7], size), latency_connection(argv[8], argv[9], argv[10], size) };
	uint64_t *hist[2] = { calloc(HIST_BUCKETS, sizeof(uint64_t)), calloc(HIST_BUCKETS, sizeof(uint64_t)) };
	uint64_t n[2] = { 0, 0 }, end = now_ns() + (uint64_t)(atof(argv[3]) * 1e9);
	uint64_t slot_ns = argc == 13 ? (uint64_t)(atof(argv[11]) * 1e6) : 0, guard_ns = argc == 13 ? (uint64_t)(atof(argv[12]) * 1e6) : 0;
	uint64_t slot = slot_ns ? now_ns() / slot_ns : 0;
	if (fd[0] < 0 || fd[1] < 0 || !hist[0] || !hist[1])
		return 1;
	/* Which connection goes first alternates, so neither gains from the other warming the path. */
	for (unsigned int i = 0; now_ns() < end; i++) {
		for (unsigned int k = 0; k < 2; k++) {
			unsigned int c = (i + k) & 1;
			uint64_t t0 = now_ns();
			if (full_io(fd[c], buf, size, 1) || full_io(fd[c], buf, size, 0))
				return 1;
			if (slot_ns) {
				if (t0 / slot_ns != slot) {
					/* A slot ended: print it (inside the next slot's guard) and start the next. */
					if (n[0] && n[1]) {
						for (unsigned int h = 0; h < 2; h++) {
							printf("%llu ", (unsigned long long)slot);
							print_hist(hist[h], n[h]);
						}
					}
					memset(hist[0], 0, HIST_BUCKETS * sizeof(uint64_t));
					memset(hist[1], 0, HIST_BUCKETS * sizeof(uint64_t));
					n[0] = n[1] = 0;
					slot = t0 / slot_ns;
				}
				if (t0 % slot_ns < guard_ns)
					continue;
			}
			hist[c][bucket_of(now_ns() - t0)]++;
			n[c]++;
		}
	}
	if (!slot_ns) {
		print_hist(hist[0], n[0]);
		print_hist(hist[1], n[1]);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 2 && !strcmp(argv[1], "pair"))
		return pair(argc, argv);
	if (argc < 4) {
		fprintf(stderr, "usage: rr server|latency|stream <ip> <port> ...\n");
		return 1;
	}
	struct sockaddr_in a = addr_of(argv[2], atoi(argv[3]));
	int one = 1;
	signal(SIGCHLD, SIG_IGN);
	if (!strcmp(argv[1], "server")) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 64)) {
			perror("bind/listen");
			return 1;
		}
		printf("ready\n");
		fflush(stdout);
		for (;;) {
			int c = accept(s, NULL, NULL);
			if (c < 0)
				continue;
			if (fork() == 0) {
				serve(c);
				_exit(0);
			}
			close(c);
		}
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(s, (struct sockaddr *)&a, sizeof(a))) {
		perror("connect");
		return 1;
	}
	static char buf[1 << 16];
	if (!strcmp(argv[1], "latency") && argc == 6) {
		unsigned int size = atoi(argv[4]);
		uint64_t n = 0, end = now_ns() + (uint64_t)(atof(argv[5]) * 1e9);
		uint64_t *hist = calloc(HIST_BUCKETS, sizeof(uint64_t));
		char m = 'L';
		if (!hist || size > sizeof(buf) || write(s, &m, 1) != 1 || full_io(s, (char *)&size, 4, 1))
			return 1;
		for (uint64_t t0 = now_ns(), t1; t0 < end; t0 = t1) {
			if (full_io(s, buf, size, 1) || full_io(s, buf, size, 0))
				return 1;
			t1 = now_ns();
			hist[bucket_of(t1 - t0)]++;
			n++;
		}
		print_hist(hist, n);
		return 0;
	}
	if (!strcmp(argv[1], "stream") && argc == 5) {
		double secs = atof(argv[4]);
		char m = 'S';
		size_t total = 0;
		if (write(s, &m, 1) != 1)
			return 1;
		double start = now_s(), end = start + secs;
		while (now_s() < end) {
			ssize_t w = write(s, buf, sizeof(buf));
			if (w <= 0)
				return 1;
			total += w;
		}
		printf("%.0f\n", total * 8 / (now_s() - start));
		return 0;
	}
	fprintf(stderr, "bad arguments\n");
	return 1;
}
