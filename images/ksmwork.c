// SPDX-License-Identifier: GPL-2.0
/*
 * ksmwork: the guest workload of ksm-hotremove-harness.
 *
 * Maps N MiB of anonymous memory, mostly identical pages (KSM merges them)
 * plus every Nth page distinct (KSM must leave them alone), marks it
 * MADV_MERGEABLE, and then answers requests on stdin, one word a line:
 *
 *   blocks WHEN   print which memory blocks hold our pages (and how many
 *                 of them are KSM pages), from /proc/self/pagemap and
 *                 /proc/kpageflags, and write the block ids to BLOCKS_FILE
 *   verify        check every byte against the pattern it was filled with
 *   runwriter     fork a child that watches /sys/kernel/mm/ksm/run and, each
 *                 time the KSM_RUN_OFFLINE bit shows (memory is going
 *                 offline), writes "1" to it at once: the kernel must hold
 *                 that write until the offline ends (the lockout); the
 *                 host judges it from kernel trace events, not from here
 *   quit          exit (status 0 if every verify passed)
 *
 * Everything it reports is a "@@KSMH" marker line on stdout: the host reads
 * them from the console, so they are one line each, key=value, versioned by
 * the init's hello marker.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define KPF_KSM 21
#define PM_PRESENT (1ULL << 63)
#define PM_PFN_MASK ((1ULL << 55) - 1)
#define MAX_BLOCKS 4096

#define KSM_RUN_PATH "/sys/kernel/mm/ksm/run"
#define KSM_RUN_OFFLINE 4
/* Bounds for the run writer: it must never outlive the run or write forever. */
#define RUN_WRITER_POLL_US 2000
#define RUN_WRITER_SECONDS 600
#define RUN_WRITER_MAX_WRITES 8

static size_t page_size;
static pid_t run_writer_pid;
static size_t npages;
static unsigned distinct_every;
static unsigned char *area;

/* Distinct pages carry their own index so that a misplaced page is caught too. */
static unsigned char expected_byte(size_t page, size_t off)
{
	if (page % distinct_every == 0)
		return (unsigned char)((page * 131 + off * 7 + 1) & 0xff);
	return (unsigned char)(0x5a ^ (off & 0x0f));
}

static void fill(void)
{
	for (size_t p = 0; p < npages; p++)
		for (size_t o = 0; o < page_size; o++)
			area[p * page_size + o] = expected_byte(p, o);
}

static unsigned long long read_hex_file(const char *path)
{
	char buf[64] = { 0 };
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return 0;
	if (read(fd, buf, sizeof(buf) - 1) < 0)
		buf[0] = 0;
	close(fd);
	return strtoull(buf, NULL, 16);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * The whole pagemap range in one read, and /proc/kpageflags once per run of distinct
 * frames (a merged area maps to a few dozen KSM pages): a syscall per page cost seconds
 * under s390x emulation.
 */
static int report_blocks(const char *when, const char *blocks_file)
{
	static unsigned long pages_in[MAX_BLOCKS], ksm_in[MAX_BLOCKS];
	unsigned long long block_bytes =
		read_hex_file("/sys/devices/system/memory/block_size_bytes");
	int pm = open("/proc/self/pagemap", O_RDONLY);
	int kf = open("/proc/kpageflags", O_RDONLY);
	unsigned long absent = 0, ksm_total = 0;
	uint64_t *ents = calloc(npages, 8), *pfns = calloc(npages, 8), *flags = calloc(npages, 8);
	size_t nuniq = 0;
	off_t first = (off_t)((uintptr_t)area / page_size) * 8;
	FILE *out;

	if (!block_bytes || pm < 0 || kf < 0 || !ents || !pfns || !flags) {
		printf("@@KSMH error what=blocks reason=%s\n",
		       !block_bytes ? "no-block_size_bytes" : strerror(errno));
		return -1;
	}
	if (pread(pm, ents, npages * 8, first) != (ssize_t)(npages * 8))
		memset(ents, 0, npages * 8);
	for (size_t p = 0; p < npages; p++)
		if ((ents[p] & PM_PRESENT) && (ents[p] & PM_PFN_MASK))
			pfns[nuniq++] = ents[p] & PM_PFN_MASK;
	qsort(pfns, nuniq, 8, cmp_u64);
	{
		size_t u = 0;

		for (size_t i = 0; i < nuniq; i++)
			if (!u || pfns[i] != pfns[u - 1])
				pfns[u++] = pfns[i];
		nuniq = u;
	}
	for (size_t i = 0; i < nuniq;) {
		size_t j = i + 1;

		while (j < nuniq && pfns[j] == pfns[j - 1] + 1)
			j++;
		if (pread(kf, flags + i, (j - i) * 8, (off_t)pfns[i] * 8) != (ssize_t)((j - i) * 8))
			memset(flags + i, 0, (j - i) * 8);
		i = j;
	}
	memset(pages_in, 0, sizeof(pages_in));
	memset(ksm_in, 0, sizeof(ksm_in));
	for (size_t p = 0; p < npages; p++) {
		uint64_t ent = ents[p];

		if (!(ent & PM_PRESENT) || !(ent & PM_PFN_MASK)) {
			absent++;
			continue;
		}
		uint64_t pfn = ent & PM_PFN_MASK;
		uint64_t block = pfn * page_size / block_bytes;
		uint64_t *at = bsearch(&pfn, pfns, nuniq, 8, cmp_u64);

		if (block >= MAX_BLOCKS) {
			absent++;
			continue;
		}
		pages_in[block]++;
		if (at && (flags[at - pfns] >> KPF_KSM) & 1) {
			ksm_in[block]++;
			ksm_total++;
		}
	}
	close(pm);
	close(kf);
	free(ents);
	free(pfns);
	free(flags);

	out = blocks_file ? fopen(blocks_file, "w") : NULL;
	for (unsigned b = 0; b < MAX_BLOCKS; b++) {
		if (!pages_in[b])
			continue;
		printf("@@KSMH block-usage when=%s block=%u pages=%lu ksm=%lu\n",
		       when, b, pages_in[b], ksm_in[b]);
		if (out)
			fprintf(out, "%u\n", b);
	}
	if (out)
		fclose(out);
	printf("@@KSMH workload-pages when=%s pages=%zu ksm=%lu absent=%lu\n",
	       when, npages, ksm_total, absent);
	return 0;
}

static int verify(void)
{
	size_t bad_bytes = 0, bad_pages = 0, first_bad = (size_t)-1;

	for (size_t p = 0; p < npages; p++) {
		size_t bad_here = 0;

		for (size_t o = 0; o < page_size; o++)
			if (area[p * page_size + o] != expected_byte(p, o))
				bad_here++;
		if (bad_here) {
			bad_pages++;
			bad_bytes += bad_here;
			if (first_bad == (size_t)-1)
				first_bad = p;
		}
	}
	printf("@@KSMH verify result=%s bytes=%zu bad_bytes=%zu bad_pages=%zu",
	       bad_bytes ? "fail" : "ok", npages * page_size, bad_bytes,
	       bad_pages);
	if (bad_pages)
		printf(" first_bad_page=%zu", first_bad);
	printf("\n");
	return bad_bytes ? -1 : 0;
}

static long read_run(void)
{
	char buf[32] = { 0 };
	int fd = open(KSM_RUN_PATH, O_RDONLY);
	long n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	return n > 0 ? strtol(buf, NULL, 10) : -1;
}

static int offlining(void)
{
	long run = read_run();

	return run >= 0 && (run & KSM_RUN_OFFLINE);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Polls the run word (sysfs shows the raw ksm_run, OFFLINE bit included) and
 * writes into the first moment of every offline window it sees. A write
 * stuck forever (a lockout that never ends) keeps this child asleep in the
 * kernel; the init's own lockout-ended check reports that.
 */
static void run_writer(void)
{
	double t0 = now_s();
	int writes = 0;
	int con = open("/dev/console", O_WRONLY);

	/*
	 * Speak to the console directly and let go of the workload's pipe and
	 * control fifo: a write the kernel never lets return must not keep the
	 * init's tee (and with it the whole guest) waiting for end of file.
	 */
	if (con >= 0) {
		dup2(con, STDOUT_FILENO);
		dup2(con, STDERR_FILENO);
		close(con);
	}
	close(STDIN_FILENO);

	while (writes < RUN_WRITER_MAX_WRITES && now_s() - t0 < RUN_WRITER_SECONDS) {
		long run = read_run();

		if (run >= 0 && (run & KSM_RUN_OFFLINE)) {
			int fd = open(KSM_RUN_PATH, O_WRONLY);
			double t = now_s();
			ssize_t n;

			printf("@@KSMH run-writer event=write seen_run=%ld\n", run);
			n = fd < 0 ? -1 : write(fd, "1\n", 2);
			printf("@@KSMH run-writer event=returned result=%s waited_ms=%.0f\n",
			       n == 2 ? "ok" : strerror(errno), (now_s() - t) * 1000);
			if (fd >= 0)
				close(fd);
			writes++;
			while (offlining() && now_s() - t0 < RUN_WRITER_SECONDS)
				usleep(RUN_WRITER_POLL_US);
		}
		usleep(RUN_WRITER_POLL_US);
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	unsigned long mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 32;
	const char *blocks_file = argc > 2 ? argv[2] : NULL;
	char line[128], when[64];
	int status = 0;

	distinct_every = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 8;
	if (!mib || !distinct_every) {
		fprintf(stderr, "usage: ksmwork MIB [BLOCKS_FILE] [DISTINCT_EVERY]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	page_size = (size_t)sysconf(_SC_PAGESIZE);
	npages = mib * 1024 * 1024 / page_size;
	area = mmap(NULL, npages * page_size, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED) {
		printf("@@KSMH error what=mmap reason=%s\n", strerror(errno));
		return 1;
	}
	fill();
	if (madvise(area, npages * page_size, MADV_MERGEABLE)) {
		printf("@@KSMH error what=madvise reason=%s\n", strerror(errno));
		return 1;
	}
	printf("@@KSMH workload-ready mib=%lu pages=%zu page_size=%zu distinct=%zu\n",
	       mib, npages, page_size, (npages + distinct_every - 1) / distinct_every);

	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "blocks %63s", when) == 1) {
			if (report_blocks(when, blocks_file))
				status = 1;
		} else if (!strncmp(line, "verify", 6)) {
			if (verify())
				status = 1;
		} else if (!strncmp(line, "runwriter", 9)) {
			fflush(stdout);
			run_writer_pid = fork();
			if (run_writer_pid == 0)
				run_writer();
			if (run_writer_pid < 0) {
				printf("@@KSMH error what=run-writer reason=%s\n", strerror(errno));
				status = 1;
			}
		} else if (!strncmp(line, "quit", 4)) {
			break;
		}
		printf("@@KSMH workload-ack cmd=%.*s\n", (int)strcspn(line, "\n"), line);
	}
	if (run_writer_pid > 0)
		kill(run_writer_pid, SIGKILL);
	printf("@@KSMH workload-exit status=%d\n", status);
	return status;
}
