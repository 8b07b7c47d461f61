/*
 * Many new UDP flows at a fixed rate, for the ingestion benchmark: every datagram has a 5-tuple not seen
 * recently (1,024 source sockets x 256 destination ports, a cycle four times the kernel's 65,536-flow table),
 * sent with sendmmsg in batches. Few destination ports keep the agent's port metric small, as on a real node.
 *   udpflood <dst-ip> <packets-per-second> <seconds> [max-packets]
 * prints the number of datagrams sent and the seconds it took.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SOCKETS 1024
#define PORTS 256
#define BATCH 32

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: udpflood <dst-ip> <pps> <seconds> [max-packets]\n");
		return 1;
	}
	struct in_addr dst;
	if (inet_pton(AF_INET, argv[1], &dst) != 1)
		return 1;
	double pps = atof(argv[2]), secs = atof(argv[3]);
	unsigned long max = argc == 5 ? strtoul(argv[4], NULL, 10) : (unsigned long)-1;
	int socks[SOCKETS];
	for (int i = 0; i < SOCKETS; i++)
		socks[i] = socket(AF_INET, SOCK_DGRAM, 0);

	static struct sockaddr_in addrs[BATCH];
	static struct mmsghdr msgs[BATCH];
	static struct iovec iov;
	static char payload[16];
	iov.iov_base = payload;
	iov.iov_len = sizeof(payload);
	for (int i = 0; i < BATCH; i++) {
		addrs[i].sin_family = AF_INET;
		addrs[i].sin_addr = dst;
		msgs[i].msg_hdr.msg_name = &addrs[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(addrs[i]);
		msgs[i].msg_hdr.msg_iov = &iov;
		msgs[i].msg_hdr.msg_iovlen = 1;
	}

	unsigned long sent = 0, port_round = 0;
	int sock = 0, port = 0;
	double start = now_s(), end = start + secs;
	for (;;) {
		double t = now_s();
		if (t >= end || sent >= max)
			break;
		double due = (t - start) * pps;
		if (sent >= due) {
			struct timespec pause = { 0, 50000 };
			nanosleep(&pause, NULL);
			continue;
		}
		for (int i = 0; i < BATCH; i++) {
			addrs[i].sin_port = htons(1024 + port);
			if (++port == PORTS) {
				port = 0;
				port_round++;
			}
		}
		int n = sendmmsg(socks[sock], msgs, max - sent < BATCH ? max - sent : BATCH, 0);
		if (n > 0)
			sent += n;
		/* Each socket walks all ports once before the next socket takes over. */
		sock = port_round % SOCKETS;
	}
	printf("%lu %.3f\n", sent, now_s() - start);
	return 0;
}
