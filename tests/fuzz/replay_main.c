/* Replays every file of a corpus directory through LLVMFuzzerTestOneInput,
 * so fuzz harnesses run as ordinary (sanitized) unit tests without clang. */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (!f)
		return -errno;
	if (fseek(f, 0, SEEK_END) != 0 || (len = ftell(f)) < 0) {
		fclose(f);
		return -EIO;
	}
	rewind(f);
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (!buf || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		free(buf);
		return buf ? -EIO : -ENOMEM;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	return 0;
}

/* A corpus that is missing, empty or unreadable fails: a replay of 0 inputs
 * would pass while testing nothing (a renamed folder, a typo in CMake). */
int main(int argc, char **argv)
{
	char path[4096];
	struct dirent *de;
	int n = 0, bad = 0, r;
	DIR *d;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
		return 2;
	}
	d = opendir(argv[1]);
	if (!d) {
		fprintf(stderr, "%s: cannot open corpus: %s\n", argv[1], strerror(errno));
		return 1;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", argv[1], de->d_name) >= sizeof(path)) {
			fprintf(stderr, "%s/%s: path too long\n", argv[1], de->d_name);
			bad++;
			continue;
		}
		r = replay_file(path);
		if (r < 0) {
			fprintf(stderr, "%s: cannot read: %s\n", path, strerror(-r));
			bad++;
			continue;
		}
		n++;
	}
	closedir(d);
	printf("replayed %d inputs\n", n);
	if (n == 0) {
		fprintf(stderr, "%s: empty corpus, nothing replayed\n", argv[1]);
		return 1;
	}
	return bad ? 1 : 0;
}
