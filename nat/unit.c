/* unit: start, stop, signal a systemd unit and read its pid (see unit.h). */
#include "nat/unit.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-bus.h>
#include <time.h>

#include "lib/err.h"

#define DEST "org.freedesktop.systemd1"
#define PATH "/org/freedesktop/systemd1"
#define MANAGER DEST ".Manager"
#define CALL_TIMEOUT_USEC (5ull * 1000000)

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The private socket first: only root may use it, and it works before
 * (and without) the D-Bus daemon, as early as netd starts. */
static int bus_open(sd_bus **out)
{
	sd_bus *bus = NULL;
	int rc;

	rc = sd_bus_new(&bus);
	if (rc >= 0)
		rc = sd_bus_set_address(bus, "unix:path=/run/systemd/private");
	if (rc >= 0)
		rc = sd_bus_start(bus);
	if (rc < 0) {
		sd_bus_unref(bus);
		bus = NULL;
		rc = sd_bus_open_system(&bus);
		if (rc < 0)
			return err_set(rc, "cannot reach systemd over D-Bus: %s", strerror(-rc));
	}
	sd_bus_set_method_call_timeout(bus, CALL_TIMEOUT_USEC);
	*out = bus;
	return 0;
}

static int bus_fail(sd_bus_error *e, int rc, const char *what, const char *unit)
{
	int ret = err_set(rc < 0 ? rc : -EIO, "%s %s: %s", what, unit,
			  e->message ? e->message : strerror(rc < 0 ? -rc : EIO));

	sd_bus_error_free(e);
	return ret;
}

int nat_unit_instance(char *buf, size_t len, const char *tmpl, const char *instance)
{
	const char *at = strchr(tmpl, '@');
	size_t o = 0;

	if (!at || strcmp(at, "@.service") || at == tmpl)
		return err_set(-EINVAL, "'%s' is not a template service unit (name@.service)", tmpl);
	if (!instance[0])
		return err_set(-EINVAL, "%s: empty instance name", tmpl);
	if ((size_t)(at - tmpl) + 1 >= len)
		return err_set(-ENAMETOOLONG, "%s: unit name too long", tmpl);
	memcpy(buf, tmpl, (size_t)(at - tmpl) + 1);
	o = (size_t)(at - tmpl) + 1;
	/* systemd's own escaping, which %I undoes: '-' stands for '/'. */
	for (const char *s = instance; *s; s++) {
		unsigned char c = (unsigned char)*s;
		bool keep = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
			    (c >= 'A' && c <= 'Z') || c == ':' || c == '_' ||
			    (c == '.' && s != instance);
		int n = keep ? snprintf(buf + o, len - o, "%c", c)
			     : snprintf(buf + o, len - o, "\\x%02x", c);

		if (n < 0 || (size_t)n >= len - o)
			return err_set(-ENAMETOOLONG, "%s: unit name too long", instance);
		o += (size_t)n;
	}
	if (snprintf(buf + o, len - o, ".service") >= (int)(len - o))
		return err_set(-ENAMETOOLONG, "%s: unit name too long", instance);
	return 0;
}

/* A job object disappears from the bus once the job is over. */
static int wait_job(sd_bus *bus, const char *job, int timeout_ms)
{
	uint64_t end = now_ms() + (uint64_t)timeout_ms;

	for (;;) {
		sd_bus_error e = SD_BUS_ERROR_NULL;
		char *state = NULL;
		int rc = sd_bus_get_property_string(bus, DEST, job, DEST ".Job", "State", &e, &state);

		sd_bus_error_free(&e);
		free(state);
		if (rc < 0)
			return 0;
		if (now_ms() >= end)
			return err_set(-ETIMEDOUT, "systemd's job %s did not finish within %d ms", job,
				       timeout_ms);
		poll(NULL, 0, 5);
	}
}

/* The unit's object path; 0 and path[0] = '\0' if systemd has not loaded
 * it (load: have it loaded, to read what its file says). */
static int unit_path(sd_bus *bus, const char *unit, bool load, char *path, size_t len)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	const char *p;
	int rc;

	path[0] = '\0';
	rc = sd_bus_call_method(bus, DEST, PATH, MANAGER, load ? "LoadUnit" : "GetUnit", &e, &m,
				"s", unit);
	if (rc < 0) {
		if (sd_bus_error_has_name(&e, DEST ".NoSuchUnit")) {
			sd_bus_error_free(&e);
			return 0;
		}
		return bus_fail(&e, rc, "cannot look up", unit);
	}
	rc = sd_bus_message_read(m, "o", &p);
	if (rc >= 0)
		snprintf(path, len, "%s", p);
	sd_bus_message_unref(m);
	return rc < 0 ? err_set(rc, "%s: bad reply from systemd", unit) : 0;
}

static int main_pid(sd_bus *bus, const char *unit, pid_t *pid)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char path[512];
	uint32_t v = 0;
	int rc;

	*pid = 0;
	rc = unit_path(bus, unit, false, path, sizeof(path));
	if (rc || !path[0])
		return rc;
	rc = sd_bus_get_property_trivial(bus, DEST, path, DEST ".Service", "MainPID", &e, 'u', &v);
	if (rc < 0)
		return bus_fail(&e, rc, "cannot read the main pid of", unit);
	*pid = (pid_t)v;
	return 0;
}

/* method: StartUnit or StopUnit, then wait for the job. */
static int run_job(const char *method, const char *unit, int timeout_ms, pid_t *pid)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	const char *job;
	sd_bus *bus;
	int rc;

	rc = bus_open(&bus);
	if (rc)
		return rc;
	rc = sd_bus_call_method(bus, DEST, PATH, MANAGER, method, &e, &m, "ss", unit, "replace");
	if (rc < 0) {
		/* Stopping what systemd does not know: nothing runs. */
		if (!strcmp(method, "StopUnit") && sd_bus_error_has_name(&e, DEST ".NoSuchUnit")) {
			sd_bus_error_free(&e);
			rc = 0;
		} else {
			rc = bus_fail(&e, rc, !strcmp(method, "StopUnit") ? "cannot stop" : "cannot start",
				      unit);
		}
		goto out;
	}
	rc = sd_bus_message_read(m, "o", &job);
	if (rc < 0)
		rc = err_set(rc, "%s: bad reply from systemd", unit);
	else
		rc = wait_job(bus, job, timeout_ms);
	if (rc == 0 && pid)
		rc = main_pid(bus, unit, pid);
out:
	sd_bus_message_unref(m);
	sd_bus_flush_close_unref(bus);
	return rc;
}

int nat_unit_start(const char *unit, int timeout_ms, pid_t *pid)
{
	return run_job("StartUnit", unit, timeout_ms, pid);
}

int nat_unit_stop(const char *unit, int timeout_ms)
{
	return run_job("StopUnit", unit, timeout_ms, NULL);
}

int nat_unit_kill(const char *unit, int sig)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	sd_bus *bus;
	int rc = bus_open(&bus);

	if (rc)
		return rc;
	rc = sd_bus_call_method(bus, DEST, PATH, MANAGER, "KillUnit", &e, NULL, "ssi", unit, "main",
				(int32_t)sig);
	rc = rc < 0 ? bus_fail(&e, rc, "cannot signal", unit) : 0;
	sd_bus_flush_close_unref(bus);
	return rc;
}

int nat_unit_main_pid(const char *unit, pid_t *pid)
{
	sd_bus *bus;
	int rc = bus_open(&bus);

	if (rc)
		return rc;
	rc = main_pid(bus, unit, pid);
	sd_bus_flush_close_unref(bus);
	return rc;
}

int nat_unit_gid(const char *unit, gid_t *gid)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char path[512], *user = NULL, *group = NULL, *state = NULL;
	sd_bus *bus;
	int rc = bus_open(&bus);

	if (rc)
		return rc;
	rc = unit_path(bus, unit, true, path, sizeof(path));
	if (rc)
		goto out;
	rc = sd_bus_get_property_string(bus, DEST, path, DEST ".Unit", "LoadState", &e, &state);
	if (rc < 0) {
		rc = bus_fail(&e, rc, "cannot read the state of", unit);
		goto out;
	}
	if (strcmp(state, "loaded")) {
		rc = err_set(-ENOENT, "%s is %s (is its template installed?)", unit, state);
		goto out;
	}
	rc = sd_bus_get_property_string(bus, DEST, path, DEST ".Service", "Group", &e, &group);
	if (rc >= 0)
		rc = sd_bus_get_property_string(bus, DEST, path, DEST ".Service", "User", &e, &user);
	if (rc < 0) {
		rc = bus_fail(&e, rc, "cannot read the user of", unit);
		goto out;
	}
	if (group[0]) {
		struct group *g = getgrnam(group);

		rc = g ? (*gid = g->gr_gid, 0)
		       : err_set(-ENOENT, "%s: no group '%s' on this host", unit, group);
	} else if (user[0]) {
		struct passwd *pw = getpwnam(user);

		rc = pw ? (*gid = pw->pw_gid, 0)
			: err_set(-ENOENT, "%s: no user '%s' on this host", unit, user);
	} else {
		rc = err_set(-ENOENT, "%s runs as root: it needs User=", unit);
	}
out:
	free(state);
	free(user);
	free(group);
	sd_bus_flush_close_unref(bus);
	return rc;
}

bool nat_unit_system_stopping(void)
{
	sd_bus_error e = SD_BUS_ERROR_NULL;
	char *state = NULL;
	sd_bus *bus;
	bool stopping;

	if (bus_open(&bus))
		return false;
	stopping = sd_bus_get_property_string(bus, DEST, PATH, MANAGER, "SystemState", &e,
					      &state) >= 0 &&
		   !strcmp(state, "stopping");
	sd_bus_error_free(&e);
	free(state);
	sd_bus_flush_close_unref(bus);
	return stopping;
}
