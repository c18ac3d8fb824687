/* udpflood ADDR SECONDS: a bounded UDP flood for the benches (antispoof, vifback).
 * sendmmsg bursts of 64 datagrams of 18 bytes to ADDR:9 (a 60-byte Ethernet frame,
 * 64 on the wire with the FCS) for SECONDS or 10^8 datagrams; prints how many were
 * sent. The receiver counts what arrives (an nft counter), so drops anywhere on
 * the way show as the difference. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(9) };
	struct mmsghdr m[64];
	struct iovec iov = { .iov_base = "0123456789abcdefgh", .iov_len = 18 };
	struct timespec t0, t;
	unsigned long long n = 0;
	int s = socket(AF_INET, SOCK_DGRAM, 0), i;

	if (argc != 3 || s < 0 || inet_pton(AF_INET, argv[1], &to.sin_addr) != 1)
		return 2;
	memset(m, 0, sizeof(m));
	for (i = 0; i < 64; i++) {
		m[i].msg_hdr.msg_name = &to;
		m[i].msg_hdr.msg_namelen = sizeof(to);
		m[i].msg_hdr.msg_iov = &iov;
		m[i].msg_hdr.msg_iovlen = 1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		int r = sendmmsg(s, m, 64, 0);

		if (r > 0)
			n += r;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < atof(argv[2]) && n < 100000000ULL);
	printf("%llu\n", n);
	return 0;
}
